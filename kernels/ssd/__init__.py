"""SSD scan (Mamba-2 state-space duality) with optional time-modulated step size.

``ssd`` is the public op (``kernels.ssd(...)`` works too: the package is callable); the references are
``ssd_chunked_ref`` (what ``backend="torch"`` runs), ``ssd_quadratic_ref``,
``ssd_step_ref`` and ``ssd_step_size_ref`` (see ``kernels.ssd.ref``).
"""

from __future__ import annotations

import sys
import types

import torch

from kernels.dispatch import resolve_backend
from kernels.ssd.ref import (
    check_ssd_shapes,
    ssd_chunked_ref,
    ssd_quadratic_ref,
    ssd_step_ref,
    ssd_step_size_ref,
)


def ssd(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
        D: torch.Tensor | None = None, dt_bias: torch.Tensor | None = None, time_dt: torch.Tensor | None = None,
        dt_softplus: bool = True, chunk_size: int = 32, backend: str = "auto") -> torch.Tensor:
    """y (B, L, H, P) of the SSD scan over x (B, L, H, P) with step softplus(dt * time_dt + dt_bias).

    dt, time_dt (B, L, H); A, D, dt_bias (H,); B, C (B, L, G, N). ``chunk_size`` is used by the torch
    and mamba_ssm backends (the Triton kernel picks its own tile). Under ``torch.compile`` our kernels are the
    custom ops of ``kernels.ssd.op`` (one graph); the other backends stay opaque to it.
    """
    check_ssd_shapes(x, dt, A, B, C, D, dt_bias, time_dt)
    impl = resolve_backend(backend, x, op="ssd", implemented=("torch", "triton", "mamba_ssm"))
    if impl == "triton" and backend == "auto" and x.dtype == torch.float64:
        impl = "torch"  # the kernel computes in fp32: float64 (gradient checks) stays on the reference
    if impl == "triton" and torch.compiler.is_compiling():
        if x.dtype == torch.float64:
            raise TypeError("ssd: float64 is not supported by the Triton kernel; use backend='torch'")
        from kernels.ssd.op import ssd_fwd

        return ssd_fwd(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    return _ssd_opaque(impl, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, chunk_size)


@torch.compiler.disable  # opaque to torch.compile: it fuses the ops around these, not into them
def _ssd_opaque(impl, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, chunk_size):
    if impl == "triton":
        from kernels.ssd.fused import ssd_fused

        return ssd_fused(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    if impl == "mamba_ssm":
        from kernels.ssd.mamba_ssm import ssd_mamba_ssm

        return ssd_mamba_ssm(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, chunk_size)
    return ssd_chunked_ref(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, chunk_size)


class _CallableModule(types.ModuleType):
    """``kernels.ssd`` names both this package and the op (the package shadows the lazy attribute of
    ``kernels`` once imported), so calling the package calls the op."""

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return ssd(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["ssd", "ssd_chunked_ref", "ssd_quadratic_ref", "ssd_step_ref", "ssd_step_size_ref"]
