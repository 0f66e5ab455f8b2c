"""Causal depthwise conv1d: ``causal_conv1d`` (public op) and ``causal_conv1d_ref`` (reference).

Backends: ``"torch"`` the reference (``F.conv1d`` with groups=C: PyTorch runs its slow ``conv_depthwise2d``
kernels for these shapes, the weight gradient worst); ``"triton"`` our fused forward and backward kernels
(``kernels.conv.fused``: bias and SiLU fused, x read through its strides); ``"auto"`` Triton on CUDA tensors
(float64 stays on the reference), the reference elsewhere. ``"mamba_ssm"`` raises ``BackendUnavailable``.
"""

from __future__ import annotations

import torch

from kernels.conv.ref import _check, causal_conv1d_ref
from kernels.dispatch import resolve_backend


@torch.compiler.disable  # opaque to torch.compile: it fuses the ops around our kernels, not into them
def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  activation: str | None = None, backend: str = "auto") -> torch.Tensor:
    """x (B, L, C), weight (C, K), bias (C,) | None, activation None | "silu" -> (B, L, C)."""
    _check(x, weight, bias, activation)
    impl = resolve_backend(backend, x, op="causal_conv1d", implemented=("torch", "triton"))
    if impl == "triton" and backend == "auto" and x.dtype == torch.float64:
        impl = "torch"  # the kernel computes in fp32: float64 (gradient checks) stays on the reference
    if impl == "triton":
        from kernels.conv.fused import causal_conv1d_fused

        return causal_conv1d_fused(x, weight, bias, activation)
    return causal_conv1d_ref(x, weight, bias, activation)


__all__ = ["causal_conv1d", "causal_conv1d_ref"]
