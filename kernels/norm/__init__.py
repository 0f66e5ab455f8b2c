"""Layer norm over the last dimension: ``layer_norm`` (public op) and ``layer_norm_ref`` (reference).

Backends: ``"torch"`` the reference (``F.layer_norm``: PyTorch's CUDA kernel reaches a tenth of the card's
bandwidth at the models' widths, one row of 64 per block); ``"triton"`` our forward and backward kernels
(``kernels.norm.fused``); ``"auto"`` Triton on CUDA tensors (float64 stays on the reference), the
reference elsewhere. Under ``torch.compile`` the reference always runs, so that inductor fuses the norm with
the ops around it. Under ``torch.autocast`` the output has the dtype autocast gives PyTorch's layer norm
(fp32 on CUDA).
"""

from __future__ import annotations

import torch

from kernels.dispatch import resolve_backend
from kernels.norm.ref import check_layer_norm, layer_norm_ref


def layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float,
               backend: str = "auto") -> torch.Tensor:
    """x (..., C), weight, bias (C,) | None -> (..., C), normalised over the last dimension."""
    if torch.compiler.is_compiling():
        return layer_norm_ref(x, weight, bias, eps)
    return _layer_norm_eager(x, weight, bias, eps, backend)


@torch.compiler.disable
def _layer_norm_eager(x, weight, bias, eps, backend):
    check_layer_norm(x, weight, bias)
    impl = resolve_backend(backend, x, op="layer_norm", implemented=("torch", "triton"))
    if impl == "triton" and backend == "auto" and x.dtype == torch.float64:
        impl = "torch"  # the kernel computes in fp32: float64 (gradient checks) stays on the reference
    if impl == "triton":
        from kernels.norm.fused import layer_norm_fused

        # CUDA's autocast runs layer_norm in fp32 and returns fp32 (its fp32 list); CPU's returns x's dtype
        fp32_out = x.device.type == "cuda" and torch.is_autocast_enabled("cuda")
        return layer_norm_fused(x, weight, bias, eps, out_dtype=torch.float32 if fp32_out else None)
    return layer_norm_ref(x, weight, bias, eps)


__all__ = ["layer_norm", "layer_norm_ref"]
