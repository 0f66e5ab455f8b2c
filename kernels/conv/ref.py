"""Pure-PyTorch causal depthwise 1-D convolution (the reference for every fast version)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv1d_ref(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                      activation: str | None = None) -> torch.Tensor:
    """Depthwise causal conv: ``out[b, t, c] = bias[c] + sum_k weight[c, k] * x[b, t - K + 1 + k, c]``.

    x (B, L, C), weight (C, K), bias (C,) | None -> (B, L, C); inputs before t=0 are zero
    (so ``weight[:, K-1]`` multiplies the current step). ``activation``: None or "silu". weight and bias are
    used in x's dtype, as autocast runs PyTorch's conv (a bf16 x with fp32 parameters).
    """
    _check(x, weight, bias, activation)
    weight = weight.to(x.dtype)
    bias = bias.to(x.dtype) if bias is not None else None
    K = weight.shape[1]
    L = x.shape[1]
    out = F.conv1d(x.transpose(1, 2), weight.unsqueeze(1), bias, padding=K - 1, groups=weight.shape[0])
    out = out[..., :L].transpose(1, 2)
    if activation == "silu":
        out = F.silu(out)
    return out


def _check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str | None) -> None:
    if x.dim() != 3:
        raise ValueError(f"causal_conv1d: x must be (B, L, C), got shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[2]:
        raise ValueError(f"causal_conv1d: weight must be (C={x.shape[2]}, K), got shape {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (x.shape[2],):
        raise ValueError(f"causal_conv1d: bias must be (C={x.shape[2]},), got shape {tuple(bias.shape)}")
    if activation not in (None, "silu"):
        raise ValueError(f"causal_conv1d: activation must be None or 'silu', got {activation!r}")
