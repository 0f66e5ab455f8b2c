"""The official mamba-ssm CUDA selective scan (``selective_scan_fn``), used only when it was compiled."""

from __future__ import annotations

import torch

from kernels.dispatch import BackendUnavailable, mamba_ssm_status, selective_scan_cuda_built


def selective_scan_mamba_ssm(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                             delta_softplus=True) -> torch.Tensor:
    """out (B, D, L) from mamba_ssm.ops.selective_scan_interface.selective_scan_fn (same arguments)."""
    reason = mamba_ssm_status()
    if reason:
        raise BackendUnavailable(f"selective_scan: backend 'mamba_ssm' unavailable: {reason}")
    if not selective_scan_cuda_built():
        raise BackendUnavailable("selective_scan: backend 'mamba_ssm' needs mamba-ssm's compiled "
                                 "selective_scan_cuda extension, which is not built here")
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    return selective_scan_fn(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus)
