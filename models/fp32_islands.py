"""``SEQREC_FP32_MODULES``: submodules computed in fp32 under autocast, to find where bf16 loses accuracy.

bf16 training (TiM4Rec, amazon-beauty h64, 10 paired seeds) scores about 1% lower test NDCG@10 than fp32, and the
loss's scores in fp32 do not change that (part 20). This switch keeps chosen parts of the model in fp32 while the rest
runs under bf16 autocast, so paired seeds tell which part costs the accuracy. Patterns are ``fnmatch`` patterns over
the model's qualified module names (``model.named_modules()``), comma-separated, e.g. ``layers.*.mixer`` (the SSD
mixers: in_proj, conv, SSD, gated norm, out_proj), ``layers.*.ffn``, ``time_layers.*``, ``layers.*.mixer.in_proj``.
Without autocast (fp32 training, evaluation) a kept module runs as it always does.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any

import torch
from torch import nn

from kernels.dispatch import autocast_on

FP32_MODULES_ENV = "SEQREC_FP32_MODULES"


def fp32_module_patterns() -> tuple[str, ...]:
    """``SEQREC_FP32_MODULES``: its comma-separated patterns (unset or empty: none)."""
    return tuple(p.strip() for p in os.environ.get(FP32_MODULES_ENV, "").split(",") if p.strip())


def _fp32(value: Any) -> Any:
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def _forward_in_fp32(forward):
    """``forward`` with autocast off and its floating tensor arguments cast to fp32, where autocast is on."""

    def run(*args, **kwargs):
        tensor = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        if tensor is None or not autocast_on(tensor):
            return forward(*args, **kwargs)
        with torch.autocast(tensor.device.type, enabled=False):
            return forward(*(_fp32(a) for a in args), **{k: _fp32(v) for k, v in kwargs.items()})

    return run


def keep_fp32(model: nn.Module, patterns: tuple[str, ...]) -> list[str]:
    """Run every submodule of ``model`` whose qualified name matches one of ``patterns`` in fp32 under autocast
    (its ``forward`` wrapped once; parameters and state dict unchanged). Returns the names kept, in module order. A
    pattern that matches no submodule is a ValueError naming it and the variable."""
    names = [name for name, _ in model.named_modules() if name]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            raise ValueError(f"{FP32_MODULES_ENV}: pattern {pattern!r} matches no module of "
                             f"{type(model).__name__} (e.g. {', '.join(names[:6])})")
    kept = []
    for name, module in model.named_modules():
        if name and any(fnmatch.fnmatchcase(name, p) for p in patterns):
            if not getattr(module, "_seqrec_fp32", False):
                module.forward = _forward_in_fp32(module.forward)
                module._seqrec_fp32 = True
            kept.append(name)
    return kept


__all__ = ["FP32_MODULES_ENV", "fp32_module_patterns", "keep_fp32"]
