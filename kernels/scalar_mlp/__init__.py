"""TiM4Rec's pointwise time MLP, 1 -> W -> 1 with SiLU on every element: ``time_mlp`` (public op) and
``time_mlp_ref`` (reference).

Backends: ``"torch"`` the reference (``nn.Linear``'s GEMMs of inner or outer size 1); ``"triton"`` our fused
forward and backward (``kernels.scalar_mlp.fused``, as custom ops: ``kernels.scalar_mlp.op``); ``"auto"`` Triton on CUDA
tensors, the reference elsewhere. TiM4Rec takes the kernel for CUDA features unless ``SEQREC_TIME_MLP_KERNEL=0``
(``models.tim4rec.time_mlp_kernel``; part 19 on an H200: 0.263 s an epoch against nn.Linear's 0.283 s).
"""

from __future__ import annotations

import torch

from kernels.dispatch import resolve_backend
from kernels.scalar_mlp.ref import _check, time_mlp_ref


def time_mlp(g: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
             backend: str = "auto") -> torch.Tensor:
    """g (...) -> (...), weights (W, 1), (W,), (1, W), (1,) as nn.Linear keeps them; the Triton kernel computes in
    fp32 and returns g's dtype (float64 stays on the reference)."""
    _check(g, w1, b1, w2, b2)
    impl = resolve_backend(backend, g, op="time_mlp", implemented=("torch", "triton"))
    if impl == "triton" and g.dtype == torch.float64:
        if backend != "auto":
            raise TypeError("time_mlp: float64 is not supported by the Triton kernel; use backend='torch'")
        impl = "torch"
    if impl == "torch":
        return time_mlp_ref(g, w1, b1, w2, b2)
    from kernels.scalar_mlp.op import time_mlp_fwd

    return time_mlp_fwd(g, w1, b1, w2, b2)


__all__ = ["time_mlp", "time_mlp_ref"]
