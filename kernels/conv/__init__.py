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


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  activation: str | None = None, backend: str = "auto") -> torch.Tensor:
    """x (B, L, C), weight (C, K), bias (C,) | None, activation None | "silu" -> (B, L, C). Under
    ``torch.compile`` our kernels are the custom ops of ``kernels.conv.op`` (one graph); the reference stays opaque."""
    _check(x, weight, bias, activation)
    impl = resolve_backend(backend, x, op="causal_conv1d", implemented=("torch", "triton"))
    if impl == "triton" and backend == "auto" and x.dtype == torch.float64:
        impl = "torch"  # the kernel computes in fp32: float64 (gradient checks) stays on the reference
    if impl == "triton" and torch.compiler.is_compiling():
        if x.dtype == torch.float64:
            raise TypeError("causal_conv1d: float64 is not supported by the Triton kernel; use backend='torch'")
        from kernels.conv.fused import sequential_bwd
        from kernels.conv.op import causal_conv1d_fwd

        # the backward's launch, fixed in the traced graph (kernels.conv.op says why)
        return causal_conv1d_fwd(x, weight, bias, activation == "silu", sequential_bwd(weight.shape[1], x.shape[2]))
    return _causal_conv1d_opaque(impl, x, weight, bias, activation)


@torch.compiler.disable  # opaque to torch.compile: it fuses the ops around these, not into them
def _causal_conv1d_opaque(impl, x, weight, bias, activation):
    if impl == "triton":
        from kernels.conv.fused import causal_conv1d_fused

        return causal_conv1d_fused(x, weight, bias, activation)
    return causal_conv1d_ref(x, weight, bias, activation)


__all__ = ["causal_conv1d", "causal_conv1d_ref"]
