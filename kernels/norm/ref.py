"""Layer norm over the last dimension, the PyTorch reference (``F.layer_norm``) and the input checks."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def layer_norm_ref(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                   eps: float) -> torch.Tensor:
    """x (..., C), weight, bias (C,) | None -> (..., C): ``(x - mean) / sqrt(var + eps) * weight + bias`` per row."""
    check_layer_norm(x, weight, bias)
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def check_layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> None:
    """Raise ValueError naming the argument whose shape does not fit x (..., C)."""
    if x.dim() < 1 or x.shape[-1] < 1:
        raise ValueError(f"layer_norm: x must be (..., C) with C >= 1, got shape {tuple(x.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (x.shape[-1],):
            raise ValueError(f"layer_norm: {name} must be (C={x.shape[-1]},), got shape {tuple(t.shape)}")
