"""Mamba1 selective scan in Triton as a *sequential* scan with the state in registers
(``selective_scan_sequential``; same signature, shapes, dtypes and semantics as ``selective_scan_ref``). It is
what the backend ``triton`` runs: on an H200 it beat our earlier chunked associative-scan kernel 3.5x and
mamba-ssm's CUDA scan 2.8x (B=2048, L=50) and 1.1x (B=256, L=200) in fp32 (``results/full/kernels/``).

Design
------
Grid: one program per (batch row, block of BLOCK_D channels), flattened to one axis, batch-major (the channel
blocks of one row run side by side and share its B, C lines in L2). The state h (BLOCK_D, N) lives in fp32
registers and advances one step at a time: no log-depth scan, no (BLOCK_D, T, N) tile. With BLOCK_D * N = 512
and 4 warps each thread holds 4 state elements (Triton lays (16, 32) out as 1 channel x 4 states a thread,
4 x 8 lanes, warps along channels).

The sequence is walked in chunks of CHUNK (<= 8) steps that split L evenly; a chunk's steps are unrolled
(``tl.static_range``), so its loads, which do not depend on the state, are in flight together and only the FMA
chain h <- a h + b is serial.

* Forward, per step t: dt = softplus(delta + bias) (BLOCK_D,); h = exp2(dt A log2(e)) h + (dt u) B_t;
  y_t = sum_n h C_t + D u, put into a (BLOCK_D, CHUNK) register tile. At the chunk's end the tile is gated
  (y z sigmoid(z), computed once per element there rather than once per thread holding a copy of a channel's
  value) and stored in one go, and the state is stored to a checkpoint buffer (B, n_chunks - 1, D, N) fp32
  (one contiguous (BLOCK_D, N) tile a program; skipped when no gradient is needed).
* Backward: chunks in reverse. Sweep 1 recomputes the chunk's CHUNK states from its checkpoint and keeps them
  in registers (a tuple of CHUNK (BLOCK_D, N) tensors; no scratch memory). Sweep 2 walks the chunk backwards
  with the adjoint g = dL/dh_t: g_t = a_{t+1} g_{t+1} + C_t dy_t, a_{t+1} = exp(dt_{t+1} A) carried from the
  later step. With ah_t = a_t h_{t-1} = h_t - dt_t u_t B_t (no h_{t-1} needed):
  du = dt sum_n g B + D dy;  ddt = u sum_n g B + sum_n g ah A;  dA += g ah dt;  dD += dy u;
  dB_t = sum_d g dt u;  dC_t = sum_d h_t dy  (one joint reduction over channels);
  du, ddt (times sigmoid(x) through softplus, applied on the tile), dz (from y = sum_n h C + D u) are
  gathered in (BLOCK_D, CHUNK) tiles and dB, dC in a (CHUNK, N, 2) tile, written once per chunk.
  Reductions across programs use relaxed fp32 atomics: dB, dC into an interleaved (B, L_pad, BLOCK_N, 2)
  buffer (one vector atomic per chunk and program; D / BLOCK_D programs add to each element), dA (D, N), dD,
  d(delta_bias) once per program. So the low bits of those gradients depend on the order of the adds.

Memory access. u, delta, z, dout are (B, D, L) with L contiguous, so one step of BLOCK_D channels is a strided
gather of BLOCK_D words: each 32-byte sector holds 8 (fp32) or 16 (bf16) consecutive steps of one channel, the
chunk's loads are issued together, so a sector comes from L2/DRAM once and its other steps hit L1; DRAM
traffic stays the bytes floor. (A coalesced (BLOCK_D, CHUNK) tile load would need a select-and-reduce across
lanes per step to extract each column, more than the gather costs.) Outputs go out as (BLOCK_D, CHUNK) tiles;
per-step stores would need a shared-memory layout change and barrier each. B and C are copied once to a
zero-padded (B, L_pad, BLOCK_N) layout (1/4 of u's bytes at N=32, D=128): each step reads N contiguous words
at a constant stride, without masks.

All arithmetic is fp32; u, delta, B, C, z may be fp32/fp16/bf16 (fp64 is computed in fp32); gradients come
back in each input's dtype. Offsets are int64 (B * D * L passes 2**31 at B=2048, D=1280, L=3200). Block
sizes are fixed by ``_config`` (no autotuning: it breaks CUDA-graph capture); ``_CONFIG_OVERRIDE`` changes
them for benchmarks. softplus uses ``lg2.approx`` through inline PTX on the GPU (libdevice's logf branches
once per step, which splits the unrolled chunk); the interpreter takes ``tl.log2``.

Cost model, from sm_90 builds of these kernels (ptxas, N=32, BLOCK_D=16, 4 warps, CHUNK=8), written before
the first timing (measured since, H200: forward 0.47 ms, forward+backward 3.3 ms at B=2048, L=50):
forward 63 registers, no spills, ~66 SASS instructions a warp-step (128 state elements: 4 MUFU ex2 for the
decays + ~1 for softplus, ~3 shuffles for y, one barrier per chunk); backward 255 registers, no spills,
~230 instructions a warp-step (ptxas keeps sweep 1's decays for sweep 2, so ~6 MUFU; ~32 shuffles and 4
barriers for the five reductions, of which the channel reduction of dB, dC is the dearest). Issue-bound at
B=2048, D=128, N=32, L=50 (3.7M warp-steps over 528 schedulers at ~1.9 GHz): forward ~0.25 ms, backward
~0.85 ms. Bytes: inputs read once in each pass, outputs written once, checkpoints 4 * N / CHUNK bytes per
(batch, channel, step) written and read (201 MB at that size), far under the time above; held between
forward and backward that is 4x u's fp32 size at N=32 (a coarser interval plus one more recompute sweep in
the backward would cut it). The backward's
255 registers allow 2 programs (8 warps) per SM, so latency hiding rests on the unrolled chunk's ILP.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.selective_scan.ref import check_selective_scan_shapes


@triton.jit
def _log2(x, FAST: tl.constexpr):
    """log2 as one MUFU instruction on the GPU (tl.log2/tl.log go through libdevice, whose range check branches
    once per step and splits the unrolled chunk); the interpreter, which runs no PTX, takes tl.log2."""
    if FAST:
        return tl.inline_asm_elementwise("lg2.approx.f32 $0, $1;", "=r,r", [x], dtype=tl.float32, is_pure=True,
                                         pack=1)
    else:
        return tl.log2(x)


@triton.jit
def _dt_step(delta_ptr, row, t, m, bias, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, FAST: tl.constexpr):
    """dt (BLOCK_D,) fp32 at step t (0 where masked) and its pre-softplus value x."""
    x = tl.load(delta_ptr + row + t, mask=m, other=0.0).to(tl.float32)
    if HAS_BIAS:
        x = x + bias
    if SOFTPLUS:
        e = tl.exp2(tl.minimum(x, 20.0) * 1.4426950408889634)
        dt = tl.where(x > 20.0, x, _log2(1.0 + e, FAST) * 0.6931471805599453)
    else:
        dt = x
    return tl.where(m, dt, 0.0), x


@triton.jit
def _advance(h, delta_ptr, u_ptr, bt_ptr, row, bn_base, t, mask_d, seqlen, bias, A2, HAS_BIAS: tl.constexpr,
             SOFTPLUS: tl.constexpr, FAST: tl.constexpr, BLOCK_N: tl.constexpr):
    """One step of the recurrence: h (BLOCK_D, BLOCK_N) -> exp(dt A) h + dt u B_t; also dt, u (BLOCK_D,) and the
    step's mask (every load is masked past the sequence, so h stays put there)."""
    m = mask_d & (t < seqlen)
    dt, _ = _dt_step(delta_ptr, row, t, m, bias, HAS_BIAS, SOFTPLUS, FAST)
    u = tl.load(u_ptr + row + t, mask=m, other=0.0).to(tl.float32)
    Bt = tl.load(bt_ptr + bn_base + t * BLOCK_N).to(tl.float32)
    return tl.exp2(dt[:, None] * A2) * h + (dt * u)[:, None] * Bt[None, :], dt, u, m


@triton.jit
def _program(a_ptr, bias_ptr, d_ptr, dim, nstate, n_dblk, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr,
             BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's batch row (int64), channels, masks, A * log2(e) (BLOCK_D, BLOCK_N), bias and D (fp32)."""
    pid = tl.program_id(0)
    pid_b = (pid // n_dblk).to(tl.int64)
    offs_d = (pid % n_dblk) * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_d < dim
    mask_n = offs_n < nstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    A2 = tl.load(a_ptr + offs_d[:, None] * nstate + offs_n[None, :], mask=mask_dn, other=0.0).to(tl.float32)
    A2 = A2 * 1.4426950408889634                                             # exp(dt A) = exp2(dt A2)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(d_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    return pid_b, offs_d, offs_n, mask_d, mask_n, mask_dn, A2, bias, Dv


@triton.jit
def _seq_fwd_kernel(
    u_ptr, delta_ptr, a_ptr, bt_ptr, ct_ptr, d_ptr, z_ptr, bias_ptr, out_ptr, ckpt_ptr,
    seqlen, dim, nstate, n_dblk,
    N_CHUNKS: tl.constexpr, STORE_CKPT: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, CHUNK_P: tl.constexpr,
    FAST: tl.constexpr,
):
    pid_b, offs_d, offs_n, mask_d, mask_n, mask_dn, A2, bias, Dv = _program(
        a_ptr, bias_ptr, d_ptr, dim, nstate, n_dblk, HAS_BIAS, HAS_D, BLOCK_D, BLOCK_N)
    row = (pid_b * dim + offs_d) * seqlen                                   # (BLOCK_D,) int64
    bn_base = pid_b * (N_CHUNKS * CHUNK * BLOCK_N) + offs_n                  # (B, L_pad, BLOCK_N), zero padded
    ck_tile = offs_d[:, None] * nstate + offs_n[None, :]
    cols = tl.arange(0, CHUNK_P)
    h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    for c in range(0, N_CHUNKS):
        y_tile = tl.zeros([BLOCK_D, CHUNK_P], dtype=tl.float32)
        for j in tl.static_range(CHUNK):
            t = c * CHUNK + j
            h, dt, u, m = _advance(h, delta_ptr, u_ptr, bt_ptr, row, bn_base, t, mask_d, seqlen, bias, A2, HAS_BIAS,
                                   SOFTPLUS, FAST, BLOCK_N)
            Ct = tl.load(ct_ptr + bn_base + t * BLOCK_N).to(tl.float32)
            y = tl.sum(h * Ct[None, :], axis=1)
            if HAS_D:
                y += Dv * u
            y_tile = tl.where(cols[None, :] == j, y[:, None], y_tile)
        # the chunk's outputs leave as one (BLOCK_D, CHUNK) tile: one layout change per chunk, the gate computed
        # once per element (not once per thread holding a copy of the channel's value)
        t_tile = c * CHUNK + cols
        m_tile = mask_d[:, None] & ((cols < CHUNK) & (t_tile < seqlen))[None, :]
        offs_tile = row[:, None] + t_tile[None, :]
        if HAS_Z:
            zz = tl.load(z_ptr + offs_tile, mask=m_tile, other=0.0).to(tl.float32)
            y_tile = y_tile * zz * tl.sigmoid(zz)
        tl.store(out_ptr + offs_tile, y_tile, mask=m_tile)
        if STORE_CKPT and c < N_CHUNKS - 1:
            ck = ckpt_ptr + ((pid_b * (N_CHUNKS - 1) + c) * dim) * nstate
            tl.store(ck + ck_tile, h, mask=mask_dn)


@triton.jit
def _seq_bwd_kernel(
    u_ptr, delta_ptr, a_ptr, bt_ptr, ct_ptr, d_ptr, z_ptr, bias_ptr, ckpt_ptr, dout_ptr,
    du_ptr, ddelta_ptr, dz_ptr, da_ptr, dbc_ptr, dd_ptr, dbias_ptr,
    seqlen, dim, nstate, n_dblk,
    N_CHUNKS: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, CHUNK_P: tl.constexpr,
    FAST: tl.constexpr,
):
    pid_b, offs_d, offs_n, mask_d, mask_n, mask_dn, A2, bias, Dv = _program(
        a_ptr, bias_ptr, d_ptr, dim, nstate, n_dblk, HAS_BIAS, HAS_D, BLOCK_D, BLOCK_N)
    row = (pid_b * dim + offs_d) * seqlen
    batch_bn = pid_b * (N_CHUNKS * CHUNK * BLOCK_N)                          # (B, L_pad, BLOCK_N), zero padded
    bn_base = batch_bn + offs_n
    ck_tile = offs_d[:, None] * nstate + offs_n[None, :]
    cols = tl.arange(0, CHUNK_P)
    g = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)          # adjoint dL/dh_t
    a_next = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)     # exp(dt_{t+1} A) of the step after t
    dA = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dD = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias = tl.zeros([BLOCK_D], dtype=tl.float32)
    for cc in range(0, N_CHUNKS):
        c = N_CHUNKS - 1 - cc
        # sweep 1: the chunk's states from its checkpoint (the state before chunk 0 is zero), kept in registers
        ck = ckpt_ptr + ((pid_b * (N_CHUNKS - 1) + tl.maximum(c - 1, 0)) * dim) * nstate
        h = tl.load(ck + ck_tile, mask=mask_dn & (c > 0), other=0.0)
        hs = ()
        for j in tl.static_range(CHUNK):
            h, _, _, _ = _advance(h, delta_ptr, u_ptr, bt_ptr, row, bn_base, c * CHUNK + j, mask_d, seqlen, bias,
                                  A2, HAS_BIAS, SOFTPLUS, FAST, BLOCK_N)
            hs = hs + (h,)
        # sweep 2: the adjoint, backwards through the chunk. Per-channel results go into (BLOCK_D, CHUNK) tiles,
        # dB, dC into a (CHUNK, BLOCK_N, 2) tile, stored once per chunk.
        t_tile = c * CHUNK + cols
        m_tile = mask_d[:, None] & ((cols < CHUNK) & (t_tile < seqlen))[None, :]
        offs_tile = row[:, None] + t_tile[None, :]
        du_tile = tl.zeros([BLOCK_D, CHUNK_P], dtype=tl.float32)
        ddt_tile = tl.zeros([BLOCK_D, CHUNK_P], dtype=tl.float32)
        y_tile = tl.zeros([BLOCK_D, CHUNK_P], dtype=tl.float32)
        dbc_tile = tl.zeros([CHUNK_P, BLOCK_N, 2], dtype=tl.float32)
        if HAS_Z:
            z_tile = tl.load(z_ptr + offs_tile, mask=m_tile, other=0.0).to(tl.float32)
            dout_tile = tl.load(dout_ptr + offs_tile, mask=m_tile, other=0.0).to(tl.float32)
            dy_tile = dout_tile * z_tile * tl.sigmoid(z_tile)
        for j in tl.static_range(CHUNK - 1, -1, -1):
            t = c * CHUNK + j
            in_seq = t < seqlen
            m = mask_d & in_seq
            dt, _ = _dt_step(delta_ptr, row, t, m, bias, HAS_BIAS, SOFTPLUS, FAST)
            u = tl.load(u_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            Bt = tl.load(bt_ptr + bn_base + t * BLOCK_N).to(tl.float32)
            Ct = tl.load(ct_ptr + bn_base + t * BLOCK_N).to(tl.float32)
            h = hs[j]
            if HAS_Z:
                y_tile = tl.where(cols[None, :] == j, tl.sum(h * Ct[None, :], axis=1)[:, None], y_tile)
                dy = tl.sum(tl.where(cols[None, :] == j, dy_tile, 0.0), axis=1)
            else:
                dy = tl.load(dout_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            g = g * a_next + dy[:, None] * Ct[None, :]
            a_next = tl.exp2(dt[:, None] * A2)
            bu = dt * u
            ah = h - bu[:, None] * Bt[None, :]                        # a_t h_{t-1}
            gB = tl.sum(g * Bt[None, :], axis=1)
            gah = g * ah
            ddt = gB * u + tl.sum(gah * A2, axis=1) * 0.6931471805599453
            du = gB * dt
            if HAS_D:
                du += Dv * dy
                dD += dy * u
            dA += gah * dt[:, None]
            dbc = tl.sum(tl.join(g * bu[:, None], h * dy[:, None]), axis=0)      # (BLOCK_N, 2): dB_t, dC_t
            dbc_tile = tl.where(cols[:, None, None] == j, dbc[None, :, :], dbc_tile)
            du_tile = tl.where(cols[None, :] == j, du[:, None], du_tile)
            ddt_tile = tl.where(cols[None, :] == j, ddt[:, None], ddt_tile)
        tl.store(du_ptr + offs_tile, du_tile, mask=m_tile)
        if SOFTPLUS:
            x = tl.load(delta_ptr + offs_tile, mask=m_tile, other=0.0).to(tl.float32)
            if HAS_BIAS:
                x += bias[:, None]
            ddt_tile = ddt_tile * tl.where(x > 20.0, 1.0, tl.sigmoid(x))
        ddt_tile = tl.where(m_tile, ddt_tile, 0.0)
        dbias += tl.sum(ddt_tile, axis=1)
        tl.store(ddelta_ptr + offs_tile, ddt_tile, mask=m_tile)
        if HAS_Z:
            if HAS_D:
                y_tile += Dv[:, None] * tl.load(u_ptr + offs_tile, mask=m_tile, other=0.0).to(tl.float32)
            sz = tl.sigmoid(z_tile)
            tl.store(dz_ptr + offs_tile, dout_tile * y_tile * sz * (1.0 + z_tile * (1.0 - sz)), mask=m_tile)
        offs_bc = (bn_base[None, :, None] + t_tile[:, None, None] * BLOCK_N) * 2 + tl.arange(0, 2)[None, None, :]
        # rows t < (c + 1) CHUNK, as a comparison on the full offsets (the interpreter's atomics misread a mask that
        # is a broadcast view)
        m_bc = offs_bc < (batch_bn + (c + 1) * CHUNK * BLOCK_N) * 2
        tl.atomic_add(dbc_ptr + offs_bc, dbc_tile, mask=m_bc, sem="relaxed")
    tl.atomic_add(da_ptr + ck_tile, dA, mask=mask_dn, sem="relaxed")
    if HAS_D:
        tl.atomic_add(dd_ptr + offs_d, dD, mask=mask_d, sem="relaxed")
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + offs_d, dbias, mask=mask_d, sem="relaxed")


# inline PTX where the kernels are compiled; the interpreter (TRITON_INTERPRET=1 when Triton was imported) runs none
_FAST_MATH = isinstance(_seq_fwd_kernel, triton.runtime.jit.JITFunction)

# Overrides of ``_config``'s values (keys as it returns them), for benchmarking; None: the heuristic alone
_CONFIG_OVERRIDE: dict | None = None


def _config(dim: int, nstate: int, seqlen: int) -> dict:
    """Fixed block sizes (no autotuning). BLOCK_D * BLOCK_N = 512 with 4 warps: 4 state elements a thread.
    CHUNK is at most ``max_chunk`` and splits L evenly (L=50 -> 7 chunks of 8, the last 2 steps wasted;
    L=200 -> 25 of 8; L=33 -> 5 of 7). The backward holds CHUNK states of its state elements a thread, plus what
    ptxas keeps from sweep 1 for sweep 2: on 2 warps (4 elements a thread) at CHUNK=8 it used 255 registers without
    spilling (sm_90, N=32), at CHUNK=10 it spilled a little. ``block_d_*``/``warps_*``: the two kernels' channel
    blocks and warps. The backward takes half the channels (twice the programs) on 1 warp, 8 state elements a
    thread (its registers and spills not measured; its time is what counts here). On an H200 at
    N=32, d 128, fwd+bwd replayed as a CUDA graph (``results/full/logs/part14-scan-configs.txt``): 2.71 / 1.31 /
    9.94 ms at B=2048 L=50 / B=256 L=200 / B=2048 L=200, against 3.27 / 1.55 / 11.94 on 2 warps (part 4's choice,
    ranked by eager medians: ``part4-sequential-scan-blocks.txt``), 3.57 / 1.76 / 13.23 with a quarter of the
    channels on 1 warp, 3.50 / 1.69 / 12.80 with the forward's blocks on 4 warps, and 3.51 / 1.73 / 13.08 with
    CHUNK at most 4."""
    block_n = triton.next_power_of_2(max(nstate, 1))
    block_d = max(1, min(triton.next_power_of_2(dim), 512 // block_n))
    block_d_bwd = max(1, min(triton.next_power_of_2(dim), 256 // block_n))
    cfg = dict(block_n=block_n, max_chunk=8, block_d_fwd=block_d, warps_fwd=4, block_d_bwd=block_d_bwd, warps_bwd=1)
    if _CONFIG_OVERRIDE:
        cfg.update(_CONFIG_OVERRIDE)
    n_chunks = triton.cdiv(max(seqlen, 1), cfg["max_chunk"])
    cfg["chunk"] = triton.cdiv(max(seqlen, 1), n_chunks)
    cfg["n_chunks"] = n_chunks
    return cfg


def _padded_lt(x: torch.Tensor, seqlen_pad: int, block_n: int) -> torch.Tensor:
    """(B, N, L) -> (B, L_pad, BLOCK_N) contiguous, zero past L and past N: per-step rows at a constant stride."""
    bsz, nstate, seqlen = x.shape
    if seqlen_pad == seqlen and block_n == nstate:
        return x.transpose(1, 2).contiguous()
    out = x.new_zeros(bsz, seqlen_pad, block_n)
    out[:, :seqlen, :nstate] = x.transpose(1, 2)
    return out


def contiguous_inputs(*tensors):
    """The kernels index u, delta, A, D, z, delta_bias densely: each contiguous (a copy only where it is not)."""
    return tuple(t.contiguous() if t is not None else None for t in tensors)


def sequential_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, store_ckpt):
    """(out (B, D, L), Bt, Ct (B, L_pad, BLOCK_N) B and C laid out per step, ckpt): the forward kernel; ckpt holds
    the state at the end of every chunk but the last, (B, n_chunks - 1, D, N) flat fp32, when ``store_ckpt``."""
    u, delta, A, D, z, delta_bias = contiguous_inputs(u, delta, A, D, z, delta_bias)
    bsz, dim, seqlen = u.shape
    nstate = A.shape[1]
    cfg = _config(dim, nstate, seqlen)
    chunk, n_chunks, block_n = cfg["chunk"], cfg["n_chunks"], cfg["block_n"]
    Bt, Ct = _padded_lt(B, n_chunks * chunk, block_n), _padded_lt(C, n_chunks * chunk, block_n)
    n_dblk = triton.cdiv(dim, cfg["block_d_fwd"])
    out = torch.empty_like(u)
    ckpt = torch.empty(ckpt_numel(bsz, dim, nstate, n_chunks, store_ckpt), device=u.device, dtype=torch.float32)
    dummy = u
    if bsz * dim * seqlen > 0:
        _seq_fwd_kernel[(bsz * n_dblk,)](
            u, delta, A, Bt, Ct, D if D is not None else dummy, z if z is not None else dummy,
            delta_bias if delta_bias is not None else dummy, out, ckpt,
            seqlen, dim, nstate, n_dblk, N_CHUNKS=n_chunks, STORE_CKPT=store_ckpt and n_chunks > 1,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=delta_softplus, BLOCK_D=cfg["block_d_fwd"], BLOCK_N=block_n, CHUNK=chunk,
            CHUNK_P=triton.next_power_of_2(chunk), FAST=_FAST_MATH, num_warps=cfg["warps_fwd"])
    return out, Bt, Ct, ckpt


def ckpt_numel(bsz: int, dim: int, nstate: int, n_chunks: int, store_ckpt: bool) -> int:
    """Elements of the forward's chunk-state buffer (never 0: no empty buffer reaches a kernel)."""
    return max(bsz * (n_chunks - 1) * dim * nstate if store_ckpt else 0, 1)


def sequential_bwd(dout, u, delta, A, Bt, Ct, D, z, delta_bias, ckpt, delta_softplus, b_dtype, c_dtype):
    """(du, ddelta, dA, dB, dC, dD, dz, ddelta_bias), None where the input is None; dB and dC (B, N, L) are
    strided views of one interleaved buffer."""
    u, delta, A, D, z, delta_bias = contiguous_inputs(u, delta, A, D, z, delta_bias)
    bsz, dim, seqlen = u.shape
    nstate = A.shape[1]
    cfg = _config(dim, nstate, seqlen)
    chunk, n_chunks, block_n = cfg["chunk"], cfg["n_chunks"], cfg["block_n"]
    n_dblk = triton.cdiv(dim, cfg["block_d_bwd"])
    dout = dout.contiguous()
    f32 = dict(device=u.device, dtype=torch.float32)
    du, ddelta = torch.empty_like(u), torch.empty_like(delta)
    dz = torch.empty_like(z) if z is not None else None
    dA = torch.zeros(dim, nstate, **f32)
    dbc = torch.zeros(bsz, n_chunks * chunk, block_n, 2, **f32)         # dB, dC interleaved, (B, L_pad, BLOCK_N)
    dD = torch.zeros(dim, **f32)
    dbias = torch.zeros(dim, **f32)
    dummy = u
    if bsz * dim * seqlen > 0:
        _seq_bwd_kernel[(bsz * n_dblk,)](
            u, delta, A, Bt, Ct, D if D is not None else dummy, z if z is not None else dummy,
            delta_bias if delta_bias is not None else dummy, ckpt, dout,
            du, ddelta, dz if dz is not None else dummy, dA, dbc, dD, dbias,
            seqlen, dim, nstate, n_dblk, N_CHUNKS=n_chunks,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=delta_softplus, BLOCK_D=cfg["block_d_bwd"], BLOCK_N=block_n, CHUNK=chunk,
            CHUNK_P=triton.next_power_of_2(chunk), FAST=_FAST_MATH, num_warps=cfg["warps_bwd"])
    dbc = dbc[:, :seqlen, :nstate].transpose(1, 2)                        # (B, N, L, 2) views
    return (du, ddelta, dA.to(A.dtype), dbc[..., 0].to(b_dtype), dbc[..., 1].to(c_dtype),
            dD.to(D.dtype) if D is not None else None, dz,
            dbias.to(delta_bias.dtype) if delta_bias is not None else None)


class _SelectiveScanSequentialFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, store_ckpt):
        u, delta, A, D, z, delta_bias = contiguous_inputs(u, delta, A, D, z, delta_bias)  # saved as the kernels read
        out, Bt, Ct, ckpt = sequential_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, store_ckpt)
        ctx.save_for_backward(u, delta, A, Bt, Ct, D, z, delta_bias, ckpt)
        ctx.delta_softplus = delta_softplus
        ctx.dtypes = (B.dtype, C.dtype)
        return out

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, Bt, Ct, D, z, delta_bias, ckpt = ctx.saved_tensors
        grads = sequential_bwd(dout, u, delta, A, Bt, Ct, D, z, delta_bias, ckpt, ctx.delta_softplus, *ctx.dtypes)
        return (*grads, None, None)


def selective_scan_sequential(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                              delta_softplus=True) -> torch.Tensor:
    """out (B, D, L) like ``selective_scan_ref``; differentiable in every tensor argument."""
    check_selective_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    store_ckpt = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return _SelectiveScanSequentialFn.apply(*tensors, delta_softplus, store_ckpt)



def _bench_one(fn, leaves: dict, dout: torch.Tensor) -> tuple[list[torch.Tensor], float, float, float]:
    """(output and gradients, forward ms, forward+backward ms, forward+backward ms replayed as a CUDA graph, NaN
    where the capture fails) of ``fn`` on CUDA (do_bench medians; the graph's is the kernels' own time,
    ``suites/bench_common.fwd_bwd_graph_ms``)."""
    import sys
    from pathlib import Path

    from triton.testing import do_bench

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "suites"))
    from bench_common import fwd_bwd_graph_ms, graph_record

    for v in leaves.values():
        v.grad = None
    out = fn(**leaves)
    out.backward(dout)
    res = [out.detach()] + [v.grad.clone() for v in leaves.values()]
    with torch.no_grad():
        fwd = do_bench(lambda: fn(**leaves), return_mode="median")
    both = do_bench(lambda: fn(**leaves).backward(dout), grad_to_none=list(leaves.values()), return_mode="median")
    graph = graph_record("ms", lambda: fwd_bwd_graph_ms(fn, leaves, dout)).get("ms", float("nan"))  # nan: failed
    return res, fwd, both, graph


def _bench(argv: list[str]) -> None:
    """``python -m kernels.selective_scan.sequential [OVERRIDE_JSON ...]`` on CUDA: median ms of forward and
    forward+backward (eager, and replayed as a CUDA graph), fp32, d_inner 128, d_state 32, at the benchmark's two
    sizes and ml-1m's training batch (B=2048, L=200: Mamba4Rec's scan backward is 42% of that step, part 13), for
    the PyTorch reference and for this kernel under each ``_CONFIG_OVERRIDE`` given (none: the default), with the
    largest relative error of the output and the gradients against the reference."""
    import json

    from kernels.selective_scan.ref import selective_scan_ref

    global _CONFIG_OVERRIDE
    overrides = [json.loads(a) for a in argv] or [None]
    print(torch.cuda.get_device_name())
    for bsz, seqlen in ((2048, 50), (256, 200), (2048, 200)):
        gen = torch.Generator(device="cuda").manual_seed(0)
        shapes = dict(u=(bsz, 128, seqlen), delta=(bsz, 128, seqlen), A=(128, 32), B=(bsz, 32, seqlen),
                      C=(bsz, 32, seqlen), D=(128,), z=(bsz, 128, seqlen), delta_bias=(128,))
        leaves = {k: torch.randn(*shape, generator=gen, device="cuda") for k, shape in shapes.items()}
        leaves["delta"] = leaves["delta"] * 0.5 - 1.0
        leaves["A"] = -torch.exp(leaves["A"] * 0.5)
        leaves = {k: v.requires_grad_(True) for k, v in leaves.items()}
        dout = torch.randn_like(leaves["u"])
        ref, fwd, both, graph = _bench_one(selective_scan_ref, leaves, dout)
        print(f"B={bsz} L={seqlen} reference: fwd {fwd:.3f} ms, fwd+bwd {both:.3f} ms, graph {graph:.3f} ms",
              flush=True)
        for override in overrides:
            _CONFIG_OVERRIDE = override
            res, fwd, both, graph = _bench_one(selective_scan_sequential, leaves, dout)
            err = max(((a - b).norm() / b.norm().clamp_min(1e-30)).item() for a, b in zip(res, ref, strict=True))
            print(f"B={bsz} L={seqlen} sequential {override}: fwd {fwd:.3f} ms, fwd+bwd {both:.3f} ms, "
                  f"graph {graph:.3f} ms, max rel err vs reference {err:.1e}", flush=True)
        _CONFIG_OVERRIDE = None


if __name__ == "__main__":
    import sys

    _bench(sys.argv[1:])
