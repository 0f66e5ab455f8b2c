"""The official mamba-ssm Triton SSD (``mamba_chunk_scan_combined``) behind our ``ssd`` signature.

Its layout is ours ((B, L, H, P), (B, L, H), (B, L, G, N)); the time modulation ``dt * time_dt`` is
computed here in PyTorch first (one extra elementwise launch forward and backward), then mamba-ssm adds
``dt_bias`` and applies softplus in its own kernels.
"""

from __future__ import annotations

import torch

from kernels.dispatch import BackendUnavailable, mamba_ssm_status


def ssd_mamba_ssm(x, dt, A, B, C, D=None, dt_bias=None, time_dt=None, dt_softplus=True,
                  chunk_size: int = 32) -> torch.Tensor:
    """y (B, L, H, P) from mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined."""
    reason = mamba_ssm_status()  # installs the selective_scan_cuda stub when needed
    if reason:
        raise BackendUnavailable(f"ssd: backend 'mamba_ssm' unavailable: {reason}")
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

    step_in = dt * time_dt if time_dt is not None else dt
    return mamba_chunk_scan_combined(x, step_in, A, B, C, chunk_size, D=D, dt_bias=dt_bias,
                                     dt_softplus=dt_softplus)
