"""``SEQREC_DROPOUT_MASKS``: draw a run's dropout masks as CUDA's kernel draws them for a run of another precision.

torch's CUDA dropout (``fused_dropout_kernel_vec``) hands each thread as many consecutive elements as fit in 16 bytes:
4 of a float32 tensor, 8 of a bfloat16 or float16 one. Each thread draws its random numbers from its own Philox
subsequence, so the same generator state gives a 2-byte tensor other masks than a float32 one of the same shape.
Under autocast six of TiM4Rec's ten dropouts take bf16 activations (the mixers' and FFNs' outputs), so an amp run
follows other masks than the fp32 run of the same seed from its first step, whatever its precision: bf16 and fp16
runs of a seed share their masks (and their test NDCG@10 to about 0.2%), fp32 and TF32 ones share theirs.

- ``input`` (the default of a float32 run): torch's own dropout, the mask stream of the activation's dtype.
- ``fp32`` (the default of an amp run, since part 24): every 2-byte activation is dropped as a float32 copy and cast
  back: the fp32 run's masks, with the values and gradients of torch's bf16 dropout for those masks (its kernel
  scales in float32 and rounds once, as here); float32 and float64 inputs keep their own.
- ``amp``: the masks of a bf16 autocast run: each dropout that takes a 2-byte activation under bf16 autocast
  (``autocast_input_dtypes``, one forward in eval mode that draws nothing) takes, in a float32 run, the mask torch
  draws for a bfloat16 copy of its input, its values ``x * mask / (1 - p)`` as torch's kernel computes them (up to
  the rounding of the scale); under autocast nothing changes.

Part 24 (``results/full-amp-compile-cuda-graph-fp32-masks-seeds/``): with the fp32 run's masks #4's bf16 fast path
scored eager fp32's test NDCG@10 seed by seed (0.00006 a seed apart, -0.04% over 10 seeds) for 0.016 s an epoch (0.240
s against 0.224), where with its own masks it scored -1.10%; and eager fp32 with the amp masks scored the fast path's.
So an amp run draws the fp32 run's masks unless ``SEQREC_DROPOUT_MASKS=input`` asks for torch's own.

Only ``nn.Dropout`` modules are changed (not attention dropout inside ``scaled_dot_product_attention``). On the CPU the
masks do not depend on the dtype this way; the switch changes only which kernel draws them there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.switches import env_choice

DROPOUT_MASKS_ENV = "SEQREC_DROPOUT_MASKS"
CHOICES = ("input", "fp32", "amp")


def dropout_masks(amp: str | None = None) -> str:
    """``SEQREC_DROPOUT_MASKS``: "input", "fp32" or "amp"; unset, "fp32" for a run under ``amp`` ("bf16" or "fp16")
    and "input" for a float32 one (``amp`` None). Another value is a ValueError naming it."""
    return env_choice(DROPOUT_MASKS_ENV, CHOICES, "fp32" if amp else "input")


def dropout_as(x: torch.Tensor, p: float, mask_dtype: torch.dtype) -> torch.Tensor:
    """Training dropout of ``x`` (any shape) with the mask drawn for a tensor of ``mask_dtype`` of x's shape; the
    result has x's dtype."""
    if x.dtype == mask_dtype or not x.is_floating_point():
        return F.dropout(x, p, True)
    if mask_dtype.itemsize > x.itemsize:  # a wider mask tensor: drop the widened copy, round once
        return F.dropout(x.to(mask_dtype), p, True).to(x.dtype)
    _, keep = torch.native_dropout(x.detach().to(mask_dtype), p, True)
    return x * keep * (1.0 / (1.0 - p))


def autocast_input_dtypes(model: nn.Module, inputs: Sequence[torch.Tensor],
                          dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.dtype]:
    """{qualified name: dtype of its input} of every ``nn.Dropout`` of ``model`` in one forward of ``inputs`` under
    ``dtype`` autocast on their device. The forward runs in eval mode (no random number drawn) without gradients;
    the model's mode is restored."""
    seen: dict[str, torch.dtype] = {}

    def record(name: str):
        def hook(module: nn.Module, args: tuple) -> None:  # returns None: the input goes on unchanged
            seen.setdefault(name, args[0].dtype)
        return hook

    hooks = [module.register_forward_pre_hook(record(name))
             for name, module in model.named_modules() if isinstance(module, nn.Dropout)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), torch.autocast(inputs[0].device.type, dtype=dtype):
            model(*inputs)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return seen


TWO_BYTE = (torch.bfloat16, torch.float16)


def _forward_with_masks_of(module: nn.Dropout, mask_dtype: torch.dtype, of: tuple[torch.dtype, ...]):
    """``module.forward`` drawing the mask of ``mask_dtype`` for an input of a dtype in ``of`` (others as before)."""
    plain = module.forward

    def run(x: torch.Tensor) -> torch.Tensor:
        if not module.training or module.p == 0.0 or module.p == 1.0 or x.dtype not in of:
            return plain(x)
        return dropout_as(x, module.p, mask_dtype)

    return run


def draw_masks_as(model: nn.Module, choice: str, probe: Sequence[torch.Tensor] | None = None) -> list[str]:
    """Make the dropouts of ``model`` draw their masks as ``choice`` says (``CHOICES``; "input" changes nothing;
    "amp" needs ``probe``, the model's inputs for ``autocast_input_dtypes``). Returns the qualified names of the
    dropouts changed, in module order; wraps each once."""
    if choice == "input":
        return []
    if choice == "fp32":  # every dropout, for a 2-byte input (a float64 one, TiM4Rec's time feature, keeps its own)
        targets = {name: (torch.float32, TWO_BYTE) for name, m in model.named_modules() if isinstance(m, nn.Dropout)}
    elif choice == "amp":  # the dropouts autocast feeds 2-byte activations, for a float32 input
        if probe is None:
            raise ValueError(f"{DROPOUT_MASKS_ENV}=amp needs the model's inputs to find which dropouts autocast feeds")
        targets = {name: (torch.bfloat16, (torch.float32,)) for name, dtype in
                   autocast_input_dtypes(model, probe).items() if dtype in TWO_BYTE}
    else:
        raise ValueError(f"{DROPOUT_MASKS_ENV}={choice!r}: expected one of {', '.join(CHOICES)}")
    changed = []
    for name, module in model.named_modules():
        if name in targets:
            if getattr(module, "_seqrec_mask_dtype", None) is None:
                module.forward = _forward_with_masks_of(module, *targets[name])
                module._seqrec_mask_dtype = targets[name][0]
            changed.append(name)
    return changed


__all__ = ["CHOICES", "DROPOUT_MASKS_ENV", "TWO_BYTE", "autocast_input_dtypes", "draw_masks_as", "dropout_as",
           "dropout_masks"]
