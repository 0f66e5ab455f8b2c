"""``SEQREC_DROPOUT_MASKS``: draw every dropout mask as CUDA's kernel draws it for a tensor of another dtype.

torch's CUDA dropout (``fused_dropout_kernel_vec``) hands each thread as many consecutive elements as fit in 16 bytes:
4 of a float32 tensor, 8 of a bfloat16 or float16 one. Each thread draws its random numbers from its own Philox
subsequence, so the same generator state gives a 2-byte tensor other masks than a float32 one of the same shape.
Under autocast six of TiM4Rec's ten dropouts take bf16 activations (the mixers' and FFNs' outputs), so an amp run
follows other masks than the fp32 run of the same seed from its first step, whatever its precision: bf16 and fp16
runs of a seed share their masks (and their test NDCG@10 to about 0.2%), fp32 and TF32 ones share theirs.

- ``input`` (default): torch's own dropout, the mask stream of the activation's dtype.
- ``fp32``: a 2-byte activation is dropped as a float32 copy and cast back: the fp32 run's masks, and the values and
  gradients of torch's bf16 dropout with those masks (its kernel scales in float32 and rounds once, as here).
- ``bf16``: a float32 activation takes the mask torch draws for its bfloat16 copy: the amp run's masks in an fp32
  run, its values ``x * mask / (1 - p)`` as torch's kernel computes them.

On the CPU the masks do not depend on the dtype this way; the switch changes only which kernel draws them there.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

DROPOUT_MASKS_ENV = "SEQREC_DROPOUT_MASKS"
MASK_DTYPES = {"input": None, "fp32": torch.float32, "bf16": torch.bfloat16}


def dropout_masks() -> str:
    """``SEQREC_DROPOUT_MASKS``: "input" (unset), "fp32" or "bf16"; another value is a ValueError naming it."""
    raw = os.environ.get(DROPOUT_MASKS_ENV, "input")
    if raw not in MASK_DTYPES:
        raise ValueError(f"{DROPOUT_MASKS_ENV}={raw!r}: expected one of {', '.join(MASK_DTYPES)}")
    return raw


def dropout_as(x: torch.Tensor, p: float, mask_dtype: torch.dtype) -> torch.Tensor:
    """Training dropout of ``x`` (any shape) with the mask drawn for a tensor of ``mask_dtype`` of x's shape; the
    result has x's dtype."""
    if x.dtype == mask_dtype or not x.is_floating_point():
        return F.dropout(x, p, True)
    if mask_dtype.itemsize > x.itemsize:  # a wider mask tensor: drop the widened copy, round once
        return F.dropout(x.to(mask_dtype), p, True).to(x.dtype)
    _, keep = torch.native_dropout(x.detach().to(mask_dtype), p, True)
    return x * keep * (1.0 / (1.0 - p))


def _forward_with_masks_of(module: nn.Dropout, mask_dtype: torch.dtype):
    plain = module.forward

    def run(x: torch.Tensor) -> torch.Tensor:
        if not module.training or module.p == 0.0 or module.p == 1.0:
            return plain(x)
        return dropout_as(x, module.p, mask_dtype)

    return run


def draw_masks_as(model: nn.Module, choice: str) -> list[str]:
    """Make every ``nn.Dropout`` of ``model`` draw its masks as ``choice`` says (``MASK_DTYPES``; "input" changes
    nothing). Returns the qualified names of the dropouts changed, in module order; wraps each once."""
    mask_dtype = MASK_DTYPES[choice]
    if mask_dtype is None:
        return []
    changed = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Dropout):
            if getattr(module, "_seqrec_mask_dtype", None) is None:
                module.forward = _forward_with_masks_of(module, mask_dtype)
                module._seqrec_mask_dtype = mask_dtype
            changed.append(name)
    return changed


__all__ = ["DROPOUT_MASKS_ENV", "MASK_DTYPES", "draw_masks_as", "dropout_as", "dropout_masks"]
