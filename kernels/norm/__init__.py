"""Norms over the last dimension: ``layer_norm`` and the SSD mixer's ``gated_rms_norm`` (public ops) beside their
references ``layer_norm_ref`` and ``gated_rms_norm_ref``.

Backends: ``"torch"`` the references (``F.layer_norm``: PyTorch's CUDA kernel reaches a tenth of the card's
bandwidth at the models' widths, one row of 64 per block; the gated norm as a chain of PyTorch ops);
``"triton"`` our forward and backward kernels (``kernels.norm.fused``, ``kernels.norm.gated_rms``); ``"auto"``
Triton on CUDA tensors (float64 stays on the reference), the reference elsewhere. Under ``torch.compile`` the
references always run, so that inductor fuses the norms with the ops around them. Under ``torch.autocast``
``layer_norm``'s output has the dtype autocast gives PyTorch's layer norm (fp32 on CUDA); ``gated_rms_norm``
returns y's dtype, as its reference."""

from __future__ import annotations

import torch

from kernels.dispatch import resolve_backend
from kernels.norm.ref import gated_rms_norm_ref, layer_norm_ref


def _uses_triton(op: str, x: torch.Tensor, backend: str) -> bool:
    """Whether ``backend`` resolves to our kernel for x (auto keeps float64, gradient checks, on the reference:
    the kernels compute in fp32)."""
    impl = resolve_backend(backend, x, op=op, implemented=("torch", "triton"))
    return impl == "triton" and not (backend == "auto" and x.dtype == torch.float64)


def layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float,
               backend: str = "auto") -> torch.Tensor:
    """x (..., C), weight, bias (C,) | None -> (..., C), normalised over the last dimension."""
    if torch.compiler.is_compiling():
        return layer_norm_ref(x, weight, bias, eps)
    return _layer_norm_eager(x, weight, bias, eps, backend)


@torch.compiler.disable
def _layer_norm_eager(x, weight, bias, eps, backend):
    # the shapes are checked by whichever of the two runs (layer_norm_ref, layer_norm_fused)
    if not _uses_triton("layer_norm", x, backend):
        return layer_norm_ref(x, weight, bias, eps)
    from kernels.norm.fused import layer_norm_fused

    # CUDA's autocast runs layer_norm in fp32 and returns fp32 (its fp32 list); CPU's returns x's dtype
    fp32_out = x.device.type == "cuda" and torch.is_autocast_enabled("cuda")
    return layer_norm_fused(x, weight, bias, eps, out_dtype=torch.float32 if fp32_out else None)


def gated_rms_norm(y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float,
                   backend: str = "auto") -> torch.Tensor:
    """y, z (..., C), weight (C,) -> (..., C) in y's dtype: ``y * silu(z)`` normalised by its RMS, times weight."""
    if torch.compiler.is_compiling():
        return gated_rms_norm_ref(y, z, weight, eps)
    return _gated_rms_norm_eager(y, z, weight, eps, backend)


@torch.compiler.disable
def _gated_rms_norm_eager(y, z, weight, eps, backend):
    # the shapes are checked by whichever of the two runs (gated_rms_norm_ref, gated_rms_norm_fused)
    if not _uses_triton("gated_rms_norm", y, backend):
        return gated_rms_norm_ref(y, z, weight, eps)
    from kernels.norm.gated_rms import gated_rms_norm_fused

    return gated_rms_norm_fused(y, z, weight, eps)


__all__ = ["gated_rms_norm", "gated_rms_norm_ref", "layer_norm", "layer_norm_ref"]
