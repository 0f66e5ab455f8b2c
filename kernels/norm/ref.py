"""Norms over the last dimension, the PyTorch references and the input checks: the layer norm (``F.layer_norm``)
and the SSD mixer's gated RMS norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def layer_norm_ref(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                   eps: float) -> torch.Tensor:
    """x (..., C), weight, bias (C,) | None -> (..., C): ``(x - mean) / sqrt(var + eps) * weight + bias`` per row."""
    check_layer_norm(x, weight, bias)
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def check_layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                     op: str = "layer_norm", x_name: str = "x") -> None:
    """Raise ValueError naming the argument whose shape does not fit x (..., C)."""
    if x.dim() < 1 or x.shape[-1] < 1:
        raise ValueError(f"{op}: {x_name} must be (..., C) with C >= 1, got shape {tuple(x.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (x.shape[-1],):
            raise ValueError(f"{op}: {name} must be (C={x.shape[-1]},), got shape {tuple(t.shape)}")


def gated_rms_norm_ref(y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """y, z (..., C), weight (C,) -> (..., C) in y's dtype: ``g = y * silu(z)`` in fp32,
    ``g / sqrt(mean(g^2) + eps) * weight`` (mamba-ssm's gated RMSNorm with ``norm_before_gate=False``)."""
    check_gated_rms_norm(y, z, weight)
    g = (y * F.silu(z)).float()
    g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + eps)
    return (g * weight.float()).to(y.dtype)


def check_gated_rms_norm(y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor) -> None:
    """Raise ValueError naming the argument whose shape does not fit y (..., C)."""
    if tuple(z.shape) != tuple(y.shape):
        raise ValueError(f"gated_rms_norm: z must have y's shape {tuple(y.shape)}, got {tuple(z.shape)}")
    check_layer_norm(y, weight, None, op="gated_rms_norm", x_name="y")
