"""Mamba1 selective scan in Triton, forward and backward (``selective_scan_fused``).

One program per (batch, block of BLOCK_D channels). The sequence is walked in chunks of BLOCK_T steps;
inside a chunk the recurrence h_t = a_t h_{t-1} + b_t over the (BLOCK_D, BLOCK_T, N) tile is one
``tl.associative_scan`` of the affine maps (a, b), with the state carried between chunks in registers.
The forward stores the state at every chunk start (B, D, n_chunks, N) fp32. The backward walks the chunks
in reverse: it recomputes the chunk's states from its checkpoint, runs the adjoint recurrence
g_t = C_t dy_t + a_{t+1} g_{t+1} as a reverse scan, and forms every gradient; dB, dC are summed over channel
blocks with fp32 atomics, dA, dD, d(delta_bias) are per-batch partials summed afterwards. All arithmetic is
fp32; u, delta, B, C, z may be fp32/fp16/bf16.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.selective_scan.ref import check_selective_scan_shapes


@triton.jit
def _affine_combine(a1, b1, a2, b2):
    # apply (a1, b1) then (a2, b2): x -> a2 (a1 x + b1) + b2
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _load_step(delta_ptr, bias, offs_bd, t, mask_dt, SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr):
    """dt (BLOCK_D, BLOCK_T) fp32 (zero outside the sequence) and the pre-softplus value."""
    x = tl.load(delta_ptr + offs_bd + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
    if HAS_BIAS:
        x = x + bias[:, None]
    if SOFTPLUS:
        dt = _softplus(x)
    else:
        dt = x
    return tl.where(mask_dt, dt, 0.0), x


@triton.jit
def _program_channels(a_ptr, bias_ptr, d_ptr, dim, nstate, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr,
                      BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's batch row (int64: B * d_inner * L passes 2**31 at L=3200, B=2048), its channel block and
    their masks, and the channels' A (BLOCK_D, BLOCK_N), dt bias and D in float32 (0 where absent)."""
    pid_b = tl.program_id(0).to(tl.int64)
    offs_d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = tl.arange(0, BLOCK_T)
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_d < dim
    mask_n = offs_n < nstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    A = tl.load(a_ptr + offs_d[:, None] * nstate + offs_n[None, :], mask=mask_dn, other=0.0).to(tl.float32)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(d_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    return pid_b, offs_d, offs_t, offs_n, mask_d, mask_n, mask_dn, A, bias, Dv


@triton.jit
def _selective_scan_fwd_kernel(
    u_ptr, delta_ptr, a_ptr, b_ptr, c_ptr, d_ptr, z_ptr, bias_ptr, out_ptr, ckpt_ptr,
    seqlen, dim, nstate,
    N_CHUNKS: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr,
):
    pid_b, offs_d, offs_t, offs_n, mask_d, mask_n, mask_dn, A, bias, Dv = _program_channels(
        a_ptr, bias_ptr, d_ptr, dim, nstate, HAS_BIAS, HAS_D, BLOCK_D, BLOCK_T, BLOCK_N)
    offs_bd = (pid_b * dim + offs_d[:, None]) * seqlen                      # (BLOCK_D, 1)
    offs_bn = (pid_b * nstate + offs_n[None, :]) * seqlen                   # (1, BLOCK_N)
    ckpt_base = ckpt_ptr + ((pid_b * dim + offs_d[:, None]) * N_CHUNKS) * nstate + offs_n[None, :]
    h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    for c in range(0, N_CHUNKS):
        tl.store(ckpt_base + c * nstate, h, mask=mask_dn)
        t = c * BLOCK_T + offs_t
        mask_t = t < seqlen
        mask_dt = mask_d[:, None] & mask_t[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        dt, _ = _load_step(delta_ptr, bias, offs_bd, t, mask_dt, SOFTPLUS, HAS_BIAS)
        u = tl.load(u_ptr + offs_bd + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
        Bt = tl.load(b_ptr + offs_bn + t[:, None], mask=mask_tn, other=0.0).to(tl.float32)   # (T, N)
        Ct = tl.load(c_ptr + offs_bn + t[:, None], mask=mask_tn, other=0.0).to(tl.float32)
        decay = tl.exp(dt[:, :, None] * A[:, None, :])                      # (BLOCK_D, BLOCK_T, BLOCK_N)
        drive = (dt * u)[:, :, None] * Bt[None, :, :]
        cum_a, cum_b = tl.associative_scan((decay, drive), axis=1, combine_fn=_affine_combine)
        hs = cum_b + cum_a * h[:, None, :]
        y = tl.sum(hs * Ct[None, :, :], axis=2)                             # (BLOCK_D, BLOCK_T)
        # steps past the end keep the state (decay 1, drive 0), so the last column is the carry
        h = tl.sum(tl.where((offs_t == BLOCK_T - 1)[None, :, None], hs, 0.0), axis=1)
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            zz = tl.load(z_ptr + offs_bd + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
            y = y * zz * tl.sigmoid(zz)
        tl.store(out_ptr + offs_bd + t[None, :], y, mask=mask_dt)


@triton.jit
def _selective_scan_bwd_kernel(
    u_ptr, delta_ptr, a_ptr, b_ptr, c_ptr, d_ptr, z_ptr, bias_ptr, ckpt_ptr, dout_ptr,
    du_ptr, ddelta_ptr, dz_ptr, da_part_ptr, db_ptr, dc_ptr, dd_part_ptr, dbias_part_ptr,
    seqlen, dim, nstate,
    N_CHUNKS: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr,
):
    pid_b, offs_d, offs_t, offs_n, mask_d, mask_n, mask_dn, A, bias, Dv = _program_channels(
        a_ptr, bias_ptr, d_ptr, dim, nstate, HAS_BIAS, HAS_D, BLOCK_D, BLOCK_T, BLOCK_N)
    offs_bd = (pid_b * dim + offs_d[:, None]) * seqlen
    offs_bn = (pid_b * nstate + offs_n[None, :]) * seqlen
    ckpt_base = ckpt_ptr + ((pid_b * dim + offs_d[:, None]) * N_CHUNKS) * nstate + offs_n[None, :]
    g_next = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)                  # adjoint at the next chunk's start
    dA = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dD = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias = tl.zeros([BLOCK_D], dtype=tl.float32)
    for cc in range(0, N_CHUNKS):
        c = N_CHUNKS - 1 - cc
        t = c * BLOCK_T + offs_t
        mask_t = t < seqlen
        mask_dt = mask_d[:, None] & mask_t[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        dt, x = _load_step(delta_ptr, bias, offs_bd, t, mask_dt, SOFTPLUS, HAS_BIAS)
        mask_next = mask_d[:, None] & (t + 1 < seqlen)[None, :]
        dt_next, _ = _load_step(delta_ptr, bias, offs_bd, t + 1, mask_next, SOFTPLUS, HAS_BIAS)
        u = tl.load(u_ptr + offs_bd + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
        Bt = tl.load(b_ptr + offs_bn + t[:, None], mask=mask_tn, other=0.0).to(tl.float32)
        Ct = tl.load(c_ptr + offs_bn + t[:, None], mask=mask_tn, other=0.0).to(tl.float32)
        dout = tl.load(dout_ptr + offs_bd + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
        # recompute the chunk's states from its checkpoint
        h0 = tl.load(ckpt_base + c * nstate, mask=mask_dn, other=0.0)
        decay = tl.exp(dt[:, :, None] * A[:, None, :])
        drive = (dt * u)[:, :, None] * Bt[None, :, :]
        cum_a, cum_b = tl.associative_scan((decay, drive), axis=1, combine_fn=_affine_combine)
        hs = cum_b + cum_a * h0[:, None, :]
        dy = dout
        if HAS_Z:
            zz = tl.load(z_ptr + offs_bd + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
            sz = tl.sigmoid(zz)
            y = tl.sum(hs * Ct[None, :, :], axis=2) + Dv[:, None] * u
            dz = dout * y * sz * (1.0 + zz * (1.0 - sz))
            tl.store(dz_ptr + offs_bd + t[None, :], dz, mask=mask_dt)
            dy = dout * zz * sz
        # adjoint: g_t = C_t dy_t + decay_{t+1} g_{t+1}, a reverse scan; g_next enters at the chunk end
        decay_next = tl.exp(dt_next[:, :, None] * A[:, None, :])
        src = dy[:, :, None] * Ct[None, :, :]
        rev_a, rev_b = tl.associative_scan((decay_next, src), axis=1, combine_fn=_affine_combine, reverse=True)
        g = rev_b + rev_a * g_next[:, None, :]
        g_next = tl.sum(tl.where((offs_t == 0)[None, :, None], g, 0.0), axis=1)
        prev = hs - drive                                                   # decay_t h_{t-1}
        gB = tl.sum(g * Bt[None, :, :], axis=2)                             # (BLOCK_D, BLOCK_T)
        ddt = gB * u + tl.sum(g * prev * A[:, None, :], axis=2)
        du = gB * dt
        if HAS_D:
            du += dy * Dv[:, None]
            dD += tl.sum(dy * u, axis=1)
        dA += tl.sum(g * prev * dt[:, :, None], axis=1)
        gdt = g * dt[:, :, None]
        dB = tl.sum(gdt * u[:, :, None], axis=0)                            # (BLOCK_T, BLOCK_N)
        dC = tl.sum(hs * dy[:, :, None], axis=0)
        tl.atomic_add(db_ptr + offs_bn + t[:, None], dB, mask=mask_tn)
        tl.atomic_add(dc_ptr + offs_bn + t[:, None], dC, mask=mask_tn)
        if SOFTPLUS:
            ddt = ddt * tl.where(x > 20.0, 1.0, tl.sigmoid(x))
        ddt = tl.where(mask_dt, ddt, 0.0)
        dbias += tl.sum(ddt, axis=1)
        tl.store(du_ptr + offs_bd + t[None, :], du, mask=mask_dt)
        tl.store(ddelta_ptr + offs_bd + t[None, :], ddt, mask=mask_dt)
    tl.store(da_part_ptr + (pid_b * dim + offs_d[:, None]) * nstate + offs_n[None, :], dA, mask=mask_dn)
    tl.store(dd_part_ptr + pid_b * dim + offs_d, dD, mask=mask_d)
    tl.store(dbias_part_ptr + pid_b * dim + offs_d, dbias, mask=mask_d)


def _tiles(dim: int, nstate: int, seqlen: int) -> tuple[int, int, int]:
    """(BLOCK_D, BLOCK_T, BLOCK_N): the (BLOCK_D, BLOCK_T, BLOCK_N) tile holds at most 4096 fp32 values."""
    block_n = triton.next_power_of_2(max(nstate, 1))
    block_t = min(triton.next_power_of_2(max(seqlen, 1)), 16)
    block_d = max(1, min(triton.next_power_of_2(dim), 4096 // (block_n * block_t)))
    while block_d < 4 and block_t > 4:  # keep some channels per program when N is large
        block_t //= 2
        block_d *= 2
    return block_d, block_t, block_n


class _SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        u, delta, A, B, C = (t.contiguous() for t in (u, delta, A, B, C))
        D = D.contiguous() if D is not None else None
        z = z.contiguous() if z is not None else None
        delta_bias = delta_bias.contiguous() if delta_bias is not None else None
        bsz, dim, seqlen = u.shape
        nstate = A.shape[1]
        block_d, block_t, block_n = _tiles(dim, nstate, seqlen)
        n_chunks = triton.cdiv(seqlen, block_t)
        out = torch.empty_like(u)
        ckpt = torch.empty(bsz, dim, n_chunks, nstate, device=u.device, dtype=torch.float32)
        grid = (bsz, triton.cdiv(dim, block_d))
        dummy = u
        _selective_scan_fwd_kernel[grid](
            u, delta, A, B, C, D if D is not None else dummy, z if z is not None else dummy,
            delta_bias if delta_bias is not None else dummy, out, ckpt,
            seqlen, dim, nstate, N_CHUNKS=n_chunks,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
            BLOCK_D=block_d, BLOCK_T=block_t, BLOCK_N=block_n, num_warps=4)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        ctx.delta_softplus = delta_softplus
        ctx.tiles = (block_d, block_t, block_n, n_chunks)
        return out

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        block_d, block_t, block_n, n_chunks = ctx.tiles
        bsz, dim, seqlen = u.shape
        nstate = A.shape[1]
        dout = dout.contiguous()
        f32 = dict(device=u.device, dtype=torch.float32)
        du, ddelta = torch.empty_like(u), torch.empty_like(delta)
        dz = torch.empty_like(z) if z is not None else None
        dA_part = torch.empty(bsz, dim, nstate, **f32)
        dB, dC = torch.zeros(bsz, nstate, seqlen, **f32), torch.zeros(bsz, nstate, seqlen, **f32)
        dD_part, dbias_part = torch.empty(bsz, dim, **f32), torch.empty(bsz, dim, **f32)
        grid = (bsz, triton.cdiv(dim, block_d))
        dummy = u
        _selective_scan_bwd_kernel[grid](
            u, delta, A, B, C, D if D is not None else dummy, z if z is not None else dummy,
            delta_bias if delta_bias is not None else dummy, ckpt, dout,
            du, ddelta, dz if dz is not None else dummy, dA_part, dB, dC, dD_part, dbias_part,
            seqlen, dim, nstate, N_CHUNKS=n_chunks,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=ctx.delta_softplus, BLOCK_D=block_d, BLOCK_T=block_t, BLOCK_N=block_n, num_warps=4)
        dA = dA_part.sum(0).to(A.dtype)
        dD = dD_part.sum(0).to(D.dtype) if D is not None else None
        dbias = dbias_part.sum(0).to(delta_bias.dtype) if delta_bias is not None else None
        return du, ddelta, dA, dB.to(B.dtype), dC.to(C.dtype), dD, dz, dbias, None


def selective_scan_fused(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True) -> torch.Tensor:
    """out (B, D, L) like ``selective_scan_ref``; differentiable in every tensor argument."""
    check_selective_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
    return _SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
