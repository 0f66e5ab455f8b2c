"""Causal depthwise conv1d in Triton, forward and backward (``causal_conv1d_fused``).

Semantics are those of ``kernels.conv.ref.causal_conv1d_ref``:
``out[b, t, c] = act(bias[c] + sum_k weight[c, k] * x[b, t - K + 1 + k, c])``, zero input before t=0.

Layout: the (B, L) rows are flattened to R = B * L rows, so a tile never wastes lanes on padding past a short
sequence (L=50 in a 32-row tile) and L=1 costs nothing extra; each row's time index t = r % L decides which
shifted rows exist (0 <= t + d < L: a shift never crosses into the neighbouring sequence). x and dy are read
through their own strides (x may be a slice of a wider projection: nothing is copied); pointer offsets are int64
(B * L * C passes 2**31 at B=2048, L=3200, C=640), row indices int32 (R < 2**31 is checked).

Forward: grid (R / FWD_BLOCK_R, C / BLOCK_C); a program loads its (BLOCK_R, BLOCK_C) tile of x at the K shifts
t-K+1..t (the K-1 older rows are L1/L2 hits: the tile above loaded them), accumulates in fp32, adds the bias,
applies SiLU and writes y (contiguous, x's dtype). Saved for backward: x, weight, bias only.

Backward: one kernel, grid (row programs, C / BLOCK_C); each row program walks tiles_per_prog consecutive
BWD_BLOCK_R-row tiles. With dz = dy * silu'(z) (or dz = dy):
    dx[t] = sum_j weight[:, K-1-j] * dz[t+j]          (j = 0..K-1, rows of the same sequence)
    dweight[:, k] = sum_{b,t} dz[t] * x[t-K+1+k],   dbias = sum_{b,t} dz[t]
For SiLU the pre-activation z is recomputed, not saved: z at rows t..t+K-1 needs x at 2K-1 shifts of the tile,
all L1/L2 hits, and a few FMAs; saving z would add one B*L*C write in forward and one read in backward (at
B=2048, L=50, C=192 fp32: 2 x 79 MB, ~40 us at 4 TB/s, about the DRAM floor of the whole backward).
dweight / dbias: for K <= 4 each program sums dz * x[t-K+1+k] and dz elementwise over its tiles in fp32
registers and reduces over rows once at the end (K > 4: a row reduction per tile); it writes its partial sums
to an fp32 buffer (row programs, C, K + 1) (column K: dbias), reduced by one ``.sum(0)`` (deterministic, no
atomics). All arithmetic is fp32; x may be fp32/fp16/bf16 (y, dx in x's dtype; dweight, dbias in the
parameters' dtypes). Block sizes are fixed heuristics (no autotune: CUDA-graph capture and compile time stay
cheap). The row count R and tiles_per_prog are runtime arguments Triton does not specialize
(``do_not_specialize``): one compilation serves every batch size, the epoch's last, partial batch included
(part 12b, results/full/README.md: recompiling for it took 4.5 s of a cold first epoch on an H200).
``BWD_SEQUENTIAL`` (K = 4, on by default) replaces the tiles by whole sequences walked backwards in time a
row at a time: each x and dy row loaded once, z and dz computed once, the windows in registers.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.conv.ref import _check


@triton.jit
def _rows(tile, R, L, s_b, s_l, BLOCK_R: tl.constexpr):
    """Rows of one tile (int32), their mask, time index and int64 offset (batch * s_b + time * s_l)."""
    offs_r = tile * BLOCK_R + tl.arange(0, BLOCK_R)
    mask_r = offs_r < R
    t = offs_r % L
    base = (offs_r // L).to(tl.int64) * s_b + t.to(tl.int64) * s_l
    return offs_r, mask_r, t, base


@triton.jit
def _bwd_rows(tile, R, L, s_xb, s_xl, s_db, s_dl, BLOCK_R: tl.constexpr):
    """``_rows`` of one backward tile, with the int64 offsets of its rows in dy too."""
    offs_r, mask_r, t, x_base = _rows(tile, R, L, s_xb, s_xl, BLOCK_R)
    return offs_r, mask_r, t, x_base, (offs_r // L).to(tl.int64) * s_db + t.to(tl.int64) * s_dl


@triton.jit
def _load_shift(ptr, base, col, t, mask_r, mask_c, L, s_l, d: tl.constexpr):
    """fp32 (BLOCK_R, BLOCK_C) tile at rows t + d of the same sequences; zero where t + d is outside [0, L)."""
    td = t + d
    mask = (mask_r & (td >= 0) & (td < L))[:, None] & mask_c[None, :]
    return tl.load(ptr + (base + d * s_l)[:, None] + col[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _col(W, offs_k, k: tl.constexpr):
    """Column k of the (BLOCK_C, BLOCK_K) weight tile, (BLOCK_C,)."""
    return tl.sum(tl.where(offs_k[None, :] == k, W, 0.0), axis=1)


@triton.jit
def _channels(w_ptr, bias_ptr, C, s_wc, s_wk, K: tl.constexpr, HAS_BIAS: tl.constexpr,
              BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr):
    """This program's channels, their mask, the fp32 weight tile (BLOCK_C, BLOCK_K) and bias (0 if absent)."""
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    offs_k = tl.arange(0, BLOCK_K)
    mask_w = mask_c[:, None] & (offs_k < K)[None, :]
    W = tl.load(w_ptr + offs_c[:, None] * s_wc + offs_k[None, :] * s_wk, mask=mask_w, other=0.0).to(tl.float32)
    bias = tl.zeros([BLOCK_C], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    return offs_c, mask_c, offs_k, W, bias


@triton.jit
def _preact(x_ptr, base, col, t, mask_r, mask_c, L, s_l, W, offs_k, bias, K: tl.constexpr, j: tl.constexpr):
    """Pre-activation z at rows t + j: bias + sum_k W[:, k] x[t + j - K + 1 + k]."""
    z = tl.zeros([base.shape[0], col.shape[0]], dtype=tl.float32) + bias[None, :]
    for k in tl.static_range(K):
        xk = _load_shift(x_ptr, base, col, t, mask_r, mask_c, L, s_l, j - (K - 1) + k)
        z += _col(W, offs_k, k)[None, :] * xk
    return z


@triton.jit(do_not_specialize=["R"])  # rows (B*L): a partial batch reuses it
def _conv_fwd_kernel(
    x_ptr, w_ptr, bias_ptr, y_ptr,
    R, L, C, s_xb, s_xl, s_xc, s_wc, s_wk,
    K: tl.constexpr, HAS_BIAS: tl.constexpr, SILU: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr,
):
    offs_c, mask_c, offs_k, W, bias = _channels(w_ptr, bias_ptr, C, s_wc, s_wk, K, HAS_BIAS, BLOCK_C, BLOCK_K)
    offs_r, mask_r, t, base = _rows(tl.program_id(0), R, L, s_xb, s_xl, BLOCK_R)
    z = _preact(x_ptr, base, offs_c.to(tl.int64) * s_xc, t, mask_r, mask_c, L, s_xl, W, offs_k, bias, K, 0)
    if SILU:
        z = z * tl.sigmoid(z)
    y_off = offs_r.to(tl.int64)[:, None] * C + offs_c[None, :]  # y is contiguous (B, L, C)
    tl.store(y_ptr + y_off, z.to(y_ptr.dtype.element_ty), mask=mask_r[:, None] & mask_c[None, :])


@triton.jit
def _store_partials(part_ptr, pid_r, C, offs_c, mask_c, offs_k, dw, a0, a1, a2, a3, adb, K: tl.constexpr):
    """This program's partial sums: part[pid_r, c, :K] = dweight (``dw``, plus for K <= 4 the row sums of the
    elementwise accumulators a0..a3), part[pid_r, c, K] = dbias (row sum of ``adb``)."""
    if K <= 4:
        dw += tl.where(offs_k[None, :] == 0, tl.sum(a0, axis=0)[:, None], 0.0)
        dw += tl.where(offs_k[None, :] == 1, tl.sum(a1, axis=0)[:, None], 0.0)
        dw += tl.where(offs_k[None, :] == 2, tl.sum(a2, axis=0)[:, None], 0.0)
        dw += tl.where(offs_k[None, :] == 3, tl.sum(a3, axis=0)[:, None], 0.0)
    part_ptr += (pid_r.to(tl.int64) * C + offs_c) * (K + 1)
    tl.store(part_ptr[:, None] + offs_k[None, :], dw, mask=mask_c[:, None] & (offs_k < K)[None, :])
    tl.store(part_ptr + K, tl.sum(adb, axis=0), mask=mask_c)


@triton.jit
def _silu_grad(dy, z):
    """dy * d silu(z) / dz."""
    sz = tl.sigmoid(z)
    return dy * sz * (1.0 + z * (1.0 - sz))


@triton.jit
def _conv_bwd_k4_silu(
    x_ptr, w_ptr, bias_ptr, dy_ptr, dx_ptr, part_ptr, R, L, C,
    s_xb, s_xl, s_xc, s_db, s_dl, s_dc, s_wc, s_wk,
    HAS_BIAS: tl.constexpr, tiles_per_prog, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """The backward for K = 4 with SiLU: per tile the 7 x shifts t-3..t+3 and the 4 dy shifts t..t+3 are loaded
    once each (the general path loads x 20 times: K shifts for each of the K pre-activations, K for dweight),
    z at t..t+3 is formed from them, then dz, dx and the dweight / dbias sums as in ``_conv_bwd_kernel``."""
    pid_r = tl.program_id(0)
    offs_c, mask_c, offs_k, W, bias = _channels(w_ptr, bias_ptr, C, s_wc, s_wk, 4, HAS_BIAS, BLOCK_C, BLOCK_K)
    w0, w1, w2, w3 = _col(W, offs_k, 0)[None, :], _col(W, offs_k, 1)[None, :], _col(W, offs_k, 2)[None, :], \
        _col(W, offs_k, 3)[None, :]
    b0 = bias[None, :]
    x_col = offs_c.to(tl.int64) * s_xc
    dy_col = offs_c.to(tl.int64) * s_dc
    zero = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    a0, a1, a2, a3, adb = zero, zero, zero, zero, zero
    for i in range(0, tiles_per_prog):
        tile = pid_r * tiles_per_prog + i
        offs_r, mask_r, t, xb, db = _bwd_rows(tile, R, L, s_xb, s_xl, s_db, s_dl, BLOCK_R)
        xm3 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, -3)
        xm2 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, -2)
        xm1 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, -1)
        x0 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, 0)
        xp1 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, 1)
        xp2 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, 2)
        xp3 = _load_shift(x_ptr, xb, x_col, t, mask_r, mask_c, L, s_xl, 3)
        # dz[t+j] (zero where t+j is outside the sequence: dy is loaded as zero there)
        dz0 = _silu_grad(_load_shift(dy_ptr, db, dy_col, t, mask_r, mask_c, L, s_dl, 0),
                         b0 + w0 * xm3 + w1 * xm2 + w2 * xm1 + w3 * x0)
        dz1 = _silu_grad(_load_shift(dy_ptr, db, dy_col, t, mask_r, mask_c, L, s_dl, 1),
                         b0 + w0 * xm2 + w1 * xm1 + w2 * x0 + w3 * xp1)
        dz2 = _silu_grad(_load_shift(dy_ptr, db, dy_col, t, mask_r, mask_c, L, s_dl, 2),
                         b0 + w0 * xm1 + w1 * x0 + w2 * xp1 + w3 * xp2)
        dz3 = _silu_grad(_load_shift(dy_ptr, db, dy_col, t, mask_r, mask_c, L, s_dl, 3),
                         b0 + w0 * x0 + w1 * xp1 + w2 * xp2 + w3 * xp3)
        dx = w3 * dz0 + w2 * dz1 + w1 * dz2 + w0 * dz3  # dx[t] = sum_j W[:, 3 - j] dz[t + j]
        a0 += dz0 * xm3
        a1 += dz0 * xm2
        a2 += dz0 * xm1
        a3 += dz0 * x0
        adb += dz0
        dx_off = offs_r.to(tl.int64)[:, None] * C + offs_c[None, :]  # dx is contiguous (B, L, C)
        tl.store(dx_ptr + dx_off, dx.to(dx_ptr.dtype.element_ty), mask=mask_r[:, None] & mask_c[None, :])
    _store_partials(part_ptr, pid_r, C, offs_c, mask_c, offs_k, tl.zeros([BLOCK_C, BLOCK_K], dtype=tl.float32),
                    a0, a1, a2, a3, adb, 4)


@triton.jit(do_not_specialize=["Bn", "L", "tiles_per_prog"])  # a partial batch reuses it
def _conv_bwd_seq_k4_kernel(
    x_ptr, w_ptr, bias_ptr, dy_ptr, dx_ptr, part_ptr,
    Bn, L, C,
    s_xb, s_xl, s_xc, s_db, s_dl, s_dc, s_wc, s_wk,
    HAS_BIAS: tl.constexpr, SILU: tl.constexpr, tiles_per_prog,
    BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """The backward for K = 4 walking each sequence backwards in time, one row of BLOCK_C channels a step
    (``BWD_SEQUENTIAL``): x and dy are loaded once per row (the tiled kernels load x 7 or 20 times and dy 4 times
    a row, as shifted tiles), z and dz are computed once per row, and the windows x[t-3..t], dz[t..t+3] stay in
    registers. A program walks ``tiles_per_prog`` consecutive sequences (its tiles are sequences here); the partial
    sums are those of ``_conv_bwd_kernel``, one row a program."""
    pid = tl.program_id(0)
    offs_c, mask_c, offs_k, W, bias = _channels(w_ptr, bias_ptr, C, s_wc, s_wk, 4, HAS_BIAS, BLOCK_C, BLOCK_K)
    w0, w1, w2, w3 = _col(W, offs_k, 0)[None, :], _col(W, offs_k, 1)[None, :], _col(W, offs_k, 2)[None, :], \
        _col(W, offs_k, 3)[None, :]
    b0 = bias[None, :]
    x_col = (offs_c.to(tl.int64) * s_xc)[None, :]
    dy_col = (offs_c.to(tl.int64) * s_dc)[None, :]
    zero = tl.zeros([1, BLOCK_C], dtype=tl.float32)
    a0, a1, a2, a3, adb = zero, zero, zero, zero, zero
    for i in range(0, tiles_per_prog):
        b = pid * tiles_per_prog + i
        ok = (b < Bn) & mask_c[None, :]
        xb = b.to(tl.int64) * s_xb
        dyb = b.to(tl.int64) * s_db
        dxb = b.to(tl.int64) * L * C  # dx is contiguous (B, L, C)
        # the window at t = L - 1: x[t-3..t]; dz[t+1..t+3] are past the end (zero)
        t = L - 1
        xm3 = tl.load(x_ptr + xb + (t - 3) * s_xl + x_col, mask=ok & (t >= 3), other=0.0).to(tl.float32)
        xm2 = tl.load(x_ptr + xb + (t - 2) * s_xl + x_col, mask=ok & (t >= 2), other=0.0).to(tl.float32)
        xm1 = tl.load(x_ptr + xb + (t - 1) * s_xl + x_col, mask=ok & (t >= 1), other=0.0).to(tl.float32)
        x0 = tl.load(x_ptr + xb + t * s_xl + x_col, mask=ok, other=0.0).to(tl.float32)
        # three distinct zeros: Triton takes a name as loop-carried only where the body's dry run leaves it a value
        # other than the one it entered with, so dz3 = dz2 = zero (one value) would stay zero on a GPU (the
        # interpreter, plain Python, does not care)
        dz1 = tl.zeros([1, BLOCK_C], dtype=tl.float32)
        dz2 = tl.zeros([1, BLOCK_C], dtype=tl.float32)
        dz3 = tl.zeros([1, BLOCK_C], dtype=tl.float32)
        for j in range(0, L):
            t = L - 1 - j
            dy = tl.load(dy_ptr + dyb + t * s_dl + dy_col, mask=ok, other=0.0).to(tl.float32)
            x_next = tl.load(x_ptr + xb + (t - 4) * s_xl + x_col, mask=ok & (t >= 4), other=0.0).to(tl.float32)
            dz0 = dy
            if SILU:
                dz0 = _silu_grad(dy, b0 + w0 * xm3 + w1 * xm2 + w2 * xm1 + w3 * x0)
            dx = w3 * dz0 + w2 * dz1 + w1 * dz2 + w0 * dz3  # dx[t] = sum_j W[:, 3 - j] dz[t + j]
            tl.store(dx_ptr + dxb + t * C + offs_c[None, :], dx.to(dx_ptr.dtype.element_ty), mask=ok)
            a0 += dz0 * xm3
            a1 += dz0 * xm2
            a2 += dz0 * xm1
            a3 += dz0 * x0
            adb += dz0
            dz3, dz2, dz1 = dz2, dz1, dz0
            x0, xm1, xm2, xm3 = xm1, xm2, xm3, x_next
    _store_partials(part_ptr, pid, C, offs_c, mask_c, offs_k, tl.zeros([BLOCK_C, BLOCK_K], dtype=tl.float32),
                    a0, a1, a2, a3, adb, 4)


@triton.jit(do_not_specialize=["R", "tiles_per_prog"])  # a partial batch reuses it
def _conv_bwd_kernel(
    x_ptr, w_ptr, bias_ptr, dy_ptr, dx_ptr, part_ptr,
    R, L, C,
    s_xb, s_xl, s_xc, s_db, s_dl, s_dc, s_wc, s_wk,
    K: tl.constexpr, HAS_BIAS: tl.constexpr, SILU: tl.constexpr, tiles_per_prog,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr, SHARED_X: tl.constexpr,
):
    if SHARED_X:  # K = 4 with SiLU, the models' conv: each x shift loaded once per tile
        _conv_bwd_k4_silu(x_ptr, w_ptr, bias_ptr, dy_ptr, dx_ptr, part_ptr, R, L, C, s_xb, s_xl, s_xc, s_db, s_dl,
                          s_dc, s_wc, s_wk, HAS_BIAS, tiles_per_prog, BLOCK_R, BLOCK_C, BLOCK_K)
        return
    pid_r = tl.program_id(0)
    offs_c, mask_c, offs_k, W, bias = _channels(w_ptr, bias_ptr, C, s_wc, s_wk, K, HAS_BIAS, BLOCK_C, BLOCK_K)
    x_col = offs_c.to(tl.int64) * s_xc
    dy_col = offs_c.to(tl.int64) * s_dc
    dw = tl.zeros([BLOCK_C, BLOCK_K], dtype=tl.float32)
    # K <= 4: dz * x[t-K+1+k] and dz summed elementwise over the tiles, reduced over rows once at the end
    # (no cross-warp reduction per tile); larger K reduces per tile into dw
    zero = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    a0, a1, a2, a3, adb = zero, zero, zero, zero, zero
    for i in range(0, tiles_per_prog):
        tile = pid_r * tiles_per_prog + i
        offs_r, mask_r, t, x_base, dy_base = _bwd_rows(tile, R, L, s_xb, s_xl, s_db, s_dl, BLOCK_R)
        # dx[t] = sum_j W[:, K-1-j] dz[t+j]; j runs down to 0 so that dz[t] is what the loop leaves behind
        dx = zero
        dz = zero
        for jj in tl.static_range(K):  # row shift j = K - 1 - jj, dz[t+j] meets W[:, jj]
            dz = _load_shift(dy_ptr, dy_base, dy_col, t, mask_r, mask_c, L, s_dl, K - 1 - jj)
            if SILU:
                dz = _silu_grad(dz, _preact(x_ptr, x_base, x_col, t, mask_r, mask_c, L, s_xl, W, offs_k, bias, K,
                                            K - 1 - jj))
            dx += _col(W, offs_k, jj)[None, :] * dz
        # dz (zero outside the valid rows and channels) is now dz[t]; the x loads below repeat those of z[t]
        adb += dz
        if K <= 4:
            a0 += dz * _load_shift(x_ptr, x_base, x_col, t, mask_r, mask_c, L, s_xl, 1 - K)
            if K > 1:
                a1 += dz * _load_shift(x_ptr, x_base, x_col, t, mask_r, mask_c, L, s_xl, 2 - K)
            if K > 2:
                a2 += dz * _load_shift(x_ptr, x_base, x_col, t, mask_r, mask_c, L, s_xl, 3 - K)
            if K > 3:
                a3 += dz * _load_shift(x_ptr, x_base, x_col, t, mask_r, mask_c, L, s_xl, 4 - K)
        else:
            for k in tl.static_range(K):
                xk = _load_shift(x_ptr, x_base, x_col, t, mask_r, mask_c, L, s_xl, k - (K - 1))
                dw += tl.where(offs_k[None, :] == k, tl.sum(dz * xk, axis=0)[:, None], 0.0)
        dx_off = offs_r.to(tl.int64)[:, None] * C + offs_c[None, :]  # dx is contiguous (B, L, C)
        tl.store(dx_ptr + dx_off, dx.to(dx_ptr.dtype.element_ty), mask=mask_r[:, None] & mask_c[None, :])
    _store_partials(part_ptr, pid_r, C, offs_c, mask_c, offs_k, dw, a0, a1, a2, a3, adb, K)


# Launch settings (fixed heuristics, no autotune: CUDA-graph capture and compile time stay cheap).
FWD_BLOCK_R = 32  # rows (flattened batch x time) per forward program
BWD_BLOCK_R = 16  # rows per backward tile (more live tiles in registers: dx, dz, z, K + 1 accumulators)
MAX_BLOCK_C = 64  # channels per program: 256 B of fp32 per row, C in 64..640 split in 1..10 blocks
NUM_WARPS = 4
PROGRAMS_PER_SM = 16  # backward row programs x channel blocks ~ this many per SM; each walks several tiles
# K = 4 with SiLU (the models' conv): True, the backward loads each x shift once per tile (``_conv_bwd_k4_silu``: 7
# loads, not 20); False, the general path, which recomputes each pre-activation from its own K loads. The general
# path stays the default until a GPU says otherwise: for sm_90 ptxas gives the shared path more registers a thread
# (bf16 h64, B=2048: 255 against 241; Mamba4Rec's 40 bytes of spills against none; results/ptxas/), and the loads
# it saves are L1 hits. suites/bench_conv.py times both (provider triton_shared_x_bwd; --bwd-grid).
BWD_SHARED_X = False
# K = 4 (the models' conv), 16 channels or more: True, the backward walks each sequence backwards in time a row at
# a time (``_conv_bwd_seq_k4_kernel``: x and dy loaded once a row, z and dz computed once); False, the tiled kernels.
# On by default since part 22 (H200, 3f555ac, results/full/logs/part22-bench-conv.txt): fwd+bwd as a CUDA graph, the
# mixer conv (2048 x 50 x 192, SiLU) took 0.145 ms against the tiled 0.250 in bf16 and 0.168 against 0.213 in fp32;
# faster in 13 of 16 cases, slower at 256 x 200 x 192 but for bf16 SiLU (up to 1.25x). TiM4Rec's compiled, graphed
# bf16 epoch (amazon-beauty h64) took 0.225 s against 0.241, at the same test NDCG@10 over seeds 0-9 (-0.03%, paired
# t p = 0.70).
# None: the environment's choice (SEQREC_CONV_BWD_SEQUENTIAL, ``models.switches.conv_bwd_sequential``: 1 unless set);
# True/False: regardless. Under torch.compile the choice is made when the graph is traced and passed to the custom
# ops as an argument (``kernels.conv.op``), so a cached graph never pairs one choice's partial sums with the other's.
BWD_SEQUENTIAL: bool | None = None
SEQ_PROGRAMS_PER_SM = 32  # the sequential backward's programs (small: one row of channels each) per SM
# its channels a program, at most (16..64): fewer give a small batch more programs to walk its sequences (B = 256,
# C = 192: 768 programs of 64 channels, 3,072 of 16); suites/bench_conv.py --seq-grid times the choices
SEQ_MAX_BLOCK_C = 64


# Fewer than 16 channels (TiM4Rec's time convs: one channel a head, 4 at hidden 64): True, a tile is the channels
# rounded up to a power of 2 (at least 4) wide and as many more rows as keeps its elements (C = 4: 128 forward rows,
# 64 backward); False, 16 channels wide, 12 of them masked at C = 4. On an H200 (part 18, 5493f1b,
# results/full/logs/part18-bench-conv.txt) (2048, 50, 4) fwd+bwd as a graph took 0.027 ms narrow against 0.045 wide
# (fp32 and bf16, SiLU; 0.025-0.026 against 0.039-0.040 without). The weight gradient's sums over rows change order,
# so fp32 runs round differently from before it was the default.
NARROW_TILES = True
MIN_BLOCK_C = 16


def _block_c(C: int, block_c: int | None, cap: int | None = None) -> int:
    """Channels a program: ``block_c`` where given, else C rounded up to a power of 2 within MIN_BLOCK_C..``cap``
    (default MAX_BLOCK_C), or as narrow as C below MIN_BLOCK_C (``NARROW_TILES``)."""
    if block_c is not None:
        return block_c
    if NARROW_TILES and C < MIN_BLOCK_C:
        return max(4, triton.next_power_of_2(C))
    return max(MIN_BLOCK_C, min(cap or MAX_BLOCK_C, triton.next_power_of_2(C)))


def _block_r(R: int, cap: int, block_r: int | None, block_c: int = MIN_BLOCK_C) -> int:
    """Rows a tile: ``cap``, at most R rounded up (at least 16), times MIN_BLOCK_C // block_c where NARROW_TILES
    narrows the tile below 16 channels (after the cap: every R of cap rows or more, a small last batch's too, takes
    one specialization)."""
    if block_r is not None:
        return block_r
    rows = max(16, min(cap, triton.next_power_of_2(R)))
    return rows * (MIN_BLOCK_C // block_c) if NARROW_TILES and block_c < MIN_BLOCK_C else rows


def _row_programs(n_tiles: int, n_cblocks: int, device: torch.device, row_programs: int | None,
                  per_sm: int | None = None) -> tuple[int, int]:
    """(row programs, tiles per program) for the backward: about ``per_sm`` (default PROGRAMS_PER_SM) programs per
    SM in all."""
    if row_programs is None:
        sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4
        row_programs = max(1, (per_sm or PROGRAMS_PER_SM) * sms // n_cblocks)
    # a power of 2 (a compile-time constant: few variants over batch sizes), rounded down (more programs)
    tiles_per_prog = 1 << (max(1, n_tiles // max(1, row_programs)).bit_length() - 1)
    return triton.cdiv(n_tiles, tiles_per_prog), tiles_per_prog


def causal_conv1d_fused_fwd(x, weight, bias, silu, block_r=None, block_c=None):
    b, L, C = x.shape
    K = weight.shape[1]
    y = torch.empty((b, L, C), device=x.device, dtype=x.dtype)
    R = b * L
    if R == 0 or C == 0:
        return y
    bc = _block_c(C, block_c)
    br = _block_r(R, FWD_BLOCK_R, block_r, bc)
    _conv_fwd_kernel[(triton.cdiv(R, br), triton.cdiv(C, bc))](
        x, weight, bias if bias is not None else weight, y,
        R, L, C, *x.stride(), *weight.stride(),
        K=K, HAS_BIAS=bias is not None, SILU=silu,
        BLOCK_R=br, BLOCK_C=bc, BLOCK_K=triton.next_power_of_2(K), num_warps=NUM_WARPS,
    )
    return y


def _bwd_launch(x: torch.Tensor, K: int, block_r=None, block_c=None, row_programs=None, sequential=None) -> dict:
    """The backward's grid and blocks for x (B, L, C): row programs (the partial sums' first dimension), tiles per
    program, channel blocks, BLOCK_R, BLOCK_C, and whether it walks sequences in time (``sequential_bwd``)."""
    b, L, C = x.shape
    R = b * L
    seq = sequential_bwd(K, C, sequential)
    bc = _block_c(C, block_c, SEQ_MAX_BLOCK_C if seq else MAX_BLOCK_C)
    n_cblocks = triton.cdiv(C, bc) if C else 0
    if seq:  # a program's tiles are whole sequences
        br = 1
        n_prog, tiles_per_prog = _row_programs(b, max(n_cblocks, 1), x.device, row_programs, SEQ_PROGRAMS_PER_SM)
    else:
        br = _block_r(R, BWD_BLOCK_R, block_r, bc)
        n_prog, tiles_per_prog = _row_programs(triton.cdiv(R, br), max(n_cblocks, 1), x.device, row_programs)
    if R == 0 or C == 0:
        n_prog = 1
    return dict(n_prog=n_prog, tiles_per_prog=tiles_per_prog, n_cblocks=n_cblocks, block_r=br, block_c=bc,
                sequential=seq)


def sequential_bwd(K: int, C: int, choice: bool | None = None) -> bool:
    """Whether the backward walks sequences in time: K = 4 and at least MIN_BLOCK_C channels (a row of TiM4Rec's
    4-channel time convs would leave most of a warp idle for L steps), and ``choice``, or where that is None
    ``BWD_SEQUENTIAL`` (or where that is None the environment's choice)."""
    if K != 4 or C < MIN_BLOCK_C:
        return False
    if choice is not None:
        return choice
    if BWD_SEQUENTIAL is not None:
        return BWD_SEQUENTIAL
    from models.switches import conv_bwd_sequential  # kernels stay importable without models

    return conv_bwd_sequential()


def conv_partials_shape(x: torch.Tensor, weight: torch.Tensor, sequential: bool | None = None) -> tuple[int, int, int]:
    """Shape of ``causal_conv1d_fused_bwd_raw``'s partial sums at the default launch: (row programs, C, K + 1)."""
    K = weight.shape[1]
    return _bwd_launch(x, K, sequential=sequential)["n_prog"], x.shape[2], K + 1


def causal_conv1d_fused_bwd_raw(dy, x, weight, bias, silu, block_r=None, block_c=None, row_programs=None,
                                sequential=None):
    """(dx (B, L, C) in x's dtype, partial sums (row programs, C, K + 1) fp32: each row program's dweight in
    columns :K and dbias in column K), for the output gradient dy (any strides). ``conv_grads`` sums them: in
    PyTorch, so that under torch.compile inductor fuses that sum and the casts (the custom op returns these).
    ``sequential``: ``sequential_bwd``'s choice (None: ``BWD_SEQUENTIAL`` or the environment's)."""
    b, L, C = x.shape
    K = weight.shape[1]
    dx = torch.empty((b, L, C), device=x.device, dtype=x.dtype)
    g = _bwd_launch(x, K, block_r, block_c, row_programs, sequential)
    if b * L == 0 or C == 0:
        return dx, torch.zeros(1, C, K + 1, device=x.device, dtype=torch.float32)
    part = torch.empty(g["n_prog"], C, K + 1, device=x.device, dtype=torch.float32)
    if g["sequential"]:
        _conv_bwd_seq_k4_kernel[(g["n_prog"], g["n_cblocks"])](
            x, weight, bias if bias is not None else weight, dy, dx, part,
            b, L, C, *x.stride(), *dy.stride(), *weight.stride(),
            HAS_BIAS=bias is not None, SILU=silu, tiles_per_prog=g["tiles_per_prog"],
            BLOCK_C=g["block_c"], BLOCK_K=4, num_warps=max(1, min(NUM_WARPS, g["block_c"] // 32)),
        )
        return dx, part
    _conv_bwd_kernel[(g["n_prog"], g["n_cblocks"])](
        x, weight, bias if bias is not None else weight, dy, dx, part,
        b * L, L, C, *x.stride(), *dy.stride(), *weight.stride(),
        K=K, HAS_BIAS=bias is not None, SILU=silu, tiles_per_prog=g["tiles_per_prog"],
        BLOCK_R=g["block_r"], BLOCK_C=g["block_c"], BLOCK_K=triton.next_power_of_2(K), num_warps=NUM_WARPS,
        SHARED_X=BWD_SHARED_X and K == 4 and silu,
    )
    return dx, part


def conv_grads(part: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """(dweight (C, K), dbias (C,) | None) in the parameters' dtypes from the backward's partial sums."""
    total = part.sum(0)  # one reduction for both
    K = weight.shape[1]
    return (total[:, :K].contiguous().to(weight.dtype),
            total[:, K].contiguous().to(bias.dtype) if bias is not None else None)


def causal_conv1d_fused_bwd(dy, x, weight, bias, silu, block_r=None, block_c=None, row_programs=None):
    """(dx, dweight, dbias | None) of the forward above for the output gradient dy (any strides)."""
    dx, part = causal_conv1d_fused_bwd_raw(dy, x, weight, bias, silu, block_r, block_c, row_programs)
    return (dx, *conv_grads(part, weight, bias))


def dense_bias(bias: torch.Tensor | None) -> torch.Tensor | None:
    """The kernels read the bias (C,) at unit stride: a copy only where it is strided."""
    return bias if bias is None or bias.stride(0) == 1 else bias.contiguous()


class _CausalConv1dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, silu, blocks):
        ctx.save_for_backward(x, weight, bias)
        ctx.silu = silu
        ctx.blocks = blocks
        return causal_conv1d_fused_fwd(x, weight, bias, silu, blocks["block_r"], blocks["block_c"])

    @staticmethod
    def backward(ctx, dy):
        x, weight, bias = ctx.saved_tensors
        dx, dweight, dbias = causal_conv1d_fused_bwd(dy, x, weight, bias, ctx.silu, **ctx.blocks)
        return dx, dweight, dbias, None, None


def causal_conv1d_fused(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                        activation: str | None = None, *, block_r: int | None = None, block_c: int | None = None,
                        row_programs: int | None = None) -> torch.Tensor:
    """y (B, L, C) like ``causal_conv1d_ref``; differentiable in x, weight and bias.

    ``block_r`` / ``block_c`` (powers of 2 >= 16) and ``row_programs`` (backward programs along the rows)
    override the launch heuristics (for tests)."""
    _check(x, weight, bias, activation)
    if x.dtype == torch.float64:
        raise TypeError("causal_conv1d_fused: float64 is not supported by the Triton kernel; use backend='torch'")
    for name, blk in (("block_r", block_r), ("block_c", block_c)):
        if blk is not None and (blk < 16 or blk & (blk - 1)):
            raise ValueError(f"causal_conv1d_fused: {name} must be a power of 2 >= 16, got {blk}")
    if x.shape[0] * x.shape[1] + 4096 >= 2**31:
        raise ValueError(f"causal_conv1d_fused: B * L = {x.shape[0] * x.shape[1]} rows must stay under 2**31")
    blocks = dict(block_r=block_r, block_c=block_c, row_programs=row_programs)
    return _CausalConv1dFn.apply(x, weight, dense_bias(bias), activation == "silu", blocks)
