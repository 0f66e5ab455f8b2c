"""Mamba1 selective scan: ``selective_scan`` (public op) beside its references ``selective_scan_ref``
and ``selective_scan_loop_ref`` (see ``kernels.selective_scan.ref``).

Backends: ``"torch"`` the reference; ``"triton"`` our sequential state-in-registers scan, forward and backward
(``kernels.selective_scan.sequential``);
``"mamba_ssm"`` the official CUDA ``selective_scan_fn`` when it has been compiled; ``"auto"`` Triton on CUDA.
"""

from __future__ import annotations

import sys
import types

import torch

from kernels.dispatch import resolve_backend
from kernels.selective_scan.ref import check_selective_scan_shapes, selective_scan_loop_ref, selective_scan_ref


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                   delta_bias: torch.Tensor | None = None, delta_softplus: bool = True,
                   backend: str = "auto") -> torch.Tensor:
    """out (B, D, L) of the selective scan over u, delta (B, D, L) with A (D, N), B, C (B, N, L),
    D, delta_bias (D,) | None, z (B, D, L) | None; see ``kernels.selective_scan.ref`` for the maths. Under
    ``torch.compile`` our kernels are the custom ops of ``kernels.selective_scan.op`` (one graph; they keep the
    backward's chunk states, as for training); the other backends stay opaque to it."""
    check_selective_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
    impl = resolve_backend(backend, u, op="selective_scan", implemented=("torch", "triton", "mamba_ssm"))
    if impl == "triton" and torch.compiler.is_compiling():
        from kernels.selective_scan.op import selective_scan_fwd

        # dense operands: the copies fuse into their producers here, and the backward reads the saved ones as they are
        u, delta, z = u.contiguous(), delta.contiguous(), z.contiguous() if z is not None else None
        return selective_scan_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus)[0]
    return _selective_scan_opaque(impl, u, delta, A, B, C, D, z, delta_bias, delta_softplus)


@torch.compiler.disable  # opaque to torch.compile: it fuses the ops around these, not into them
def _selective_scan_opaque(impl, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    if impl == "triton":
        from kernels.selective_scan.sequential import selective_scan_sequential

        return selective_scan_sequential(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if impl == "mamba_ssm":
        from kernels.selective_scan.mamba_ssm import selective_scan_mamba_ssm

        return selective_scan_mamba_ssm(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


class _CallableModule(types.ModuleType):
    """Importing this package shadows the lazy ``kernels.selective_scan`` attribute with the package, so
    calling the package calls the op."""

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return selective_scan(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["selective_scan", "selective_scan_ref", "selective_scan_loop_ref"]
