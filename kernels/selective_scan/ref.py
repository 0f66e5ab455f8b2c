"""Mamba1 selective scan, pure PyTorch: ``selective_scan_ref`` (precomputed discretisation, a loop over L
of vector ops) and ``selective_scan_loop_ref`` (plain step-by-step, everything recomputed per step).

Semantics (mamba-ssm's ``selective_scan_fn`` with real A, ungrouped B/C)::

    dt_t = softplus(delta_t + delta_bias)          (B, D)   (no softplus when delta_softplus=False)
    h_t  = exp(dt_t A) * h_{t-1} + dt_t B_t u_t    (B, D, N), h_{-1} = 0
    y_t  = C_t . h_t + D u_t                        (B, D)
    out  = y * silu(z)                              (B, D, L)

All arithmetic is fp32 (or fp64 when the inputs are fp64); the output has u's dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_selective_scan_shapes(u, delta, A, B, C, D=None, z=None, delta_bias=None) -> None:
    """Raise ValueError naming the argument whose shape does not fit u (B, D, L), A (D, N)."""
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be (B, D, L), got shape {tuple(u.shape)}")
    bsz, dim, seqlen = u.shape
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"selective_scan: A must be (D={dim}, N), got shape {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("selective_scan: complex A is not supported")
    n = A.shape[1]
    expect = {"delta": (delta, (bsz, dim, seqlen)), "B": (B, (bsz, n, seqlen)), "C": (C, (bsz, n, seqlen)),
              "D": (D, (dim,)), "z": (z, (bsz, dim, seqlen)), "delta_bias": (delta_bias, (dim,))}
    for name, (t, shape) in expect.items():
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"selective_scan: {name} must have shape {shape}, got {tuple(t.shape)}")


def _compute_dtype(u: torch.Tensor) -> torch.dtype:
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True):
    """out (B, D, L): discretise all steps at once ((B, D, L, N) tensors), then a loop over L of
    elementwise state updates; y from the stacked states with one einsum."""
    check_selective_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
    ct = _compute_dtype(u)
    uf, dt, Af, Bf, Cf = u.to(ct), delta.to(ct), A.to(ct), B.to(ct), C.to(ct)
    if delta_bias is not None:
        dt = dt + delta_bias.to(ct)[:, None]
    if delta_softplus:
        dt = F.softplus(dt)
    decay = torch.exp(dt.unsqueeze(-1) * Af[:, None, :])                    # (B, D, L, N)
    drive = (dt * uf).unsqueeze(-1) * Bf.transpose(1, 2).unsqueeze(1)       # (B, D, L, N)
    h = torch.zeros_like(decay[:, :, 0])
    states = []
    # unbind once: indexing decay[:, :, t] per step would make backward build L full-size zero gradients
    for decay_t, drive_t in zip(decay.unbind(2), drive.unbind(2), strict=True):
        h = decay_t * h + drive_t
        states.append(h)
    y = torch.einsum("bdln,bnl->bdl", torch.stack(states, dim=2), Cf)
    if D is not None:
        y = y + D.to(ct)[:, None] * uf
    if z is not None:
        y = y * F.silu(z.to(ct))
    return y.to(u.dtype)


def selective_scan_loop_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True):
    """out (B, D, L) computed one time step at a time, each step from the raw inputs (the oracle)."""
    check_selective_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
    ct = _compute_dtype(u)
    bsz, dim, seqlen = u.shape
    h = u.new_zeros(bsz, dim, A.shape[1], dtype=ct)
    outs = []
    for t in range(seqlen):
        d_t = delta[:, :, t].to(ct)
        if delta_bias is not None:
            d_t = d_t + delta_bias.to(ct)
        if delta_softplus:
            d_t = torch.where(d_t > 20, d_t, torch.log1p(torch.exp(d_t)))
        u_t = u[:, :, t].to(ct)
        h = torch.exp(d_t[:, :, None] * A.to(ct)) * h + d_t[:, :, None] * u_t[:, :, None] * B[:, None, :, t].to(ct)
        y_t = (h * C[:, None, :, t].to(ct)).sum(-1)
        if D is not None:
            y_t = y_t + D.to(ct) * u_t
        if z is not None:
            z_t = z[:, :, t].to(ct)
            y_t = y_t * z_t * torch.sigmoid(z_t)
        outs.append(y_t)
    return torch.stack(outs, dim=-1).to(u.dtype)
