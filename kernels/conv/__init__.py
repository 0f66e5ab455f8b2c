"""Causal depthwise conv1d: ``causal_conv1d`` (public op) and ``causal_conv1d_ref`` (reference).

Only the PyTorch reference exists (cuDNN's grouped conv is already one launch for these sizes), so
``backend="auto"`` and ``"torch"`` both use it; ``"triton"`` / ``"mamba_ssm"`` raise ``BackendUnavailable``.
"""

from __future__ import annotations

import torch

from kernels.conv.ref import causal_conv1d_ref
from kernels.dispatch import resolve_backend


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  activation: str | None = None, backend: str = "auto") -> torch.Tensor:
    """x (B, L, C), weight (C, K), bias (C,) | None, activation None | "silu" -> (B, L, C)."""
    resolve_backend(backend, x, op="causal_conv1d", implemented=("torch",))
    return causal_conv1d_ref(x, weight, bias, activation)


__all__ = ["causal_conv1d", "causal_conv1d_ref"]
