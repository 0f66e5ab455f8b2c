"""Fused time-aware SSD in Triton: one program per (batch, head) walks the whole sequence in chunks.

Per chunk of ``BLOCK_Q`` steps the program computes the step size in registers
(``softplus(dt * time_dt + dt_bias)``), the intra-chunk quadratic form with the segment-sum decay mask
(``tl.dot`` on (Q, Q) tiles) and the contribution of the state entering the chunk, then passes the
(P, N) state on in registers. Nothing but y is written in the forward pass.

The backward pass recomputes everything from the inputs, in one program per (batch, head):
  sweep 1 (left to right, forward state h):  dC_i = h_i^T dy_i,  r_i = dy_i . (y_i - D x_i)
  sweep 2 (right to left, reverse state R_j = sum_{i>=j} exp(cs_i - cs_j) dy_i C_i^T):
      dx_j = step_j R_j B_j + D dy_j,   dB_j = step_j R_j^T x_j,   g_j = x_j . R_j B_j (d step, direct)
      d cumsum_j = r_j - step_j g_j,  d(step*A)_t = sum_{k>=t} d cumsum_k,
      d step = g + A d(step*A),  dA = sum step d(step*A),  then through softplus to dt, time_dt, dt_bias.
Shapes as in ``kernels.ssd.ref``.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from kernels.ssd.ref import check_ssd_shapes


@triton.jit
def _softplus(v):
    return tl.where(v <= 20.0, tl.log(1.0 + tl.exp(v)), v)


@triton.jit
def _split_tf32(a):
    """a = hi + lo with hi exact in TF32 (the low 13 mantissa bits cleared) and lo the rest."""
    hi = (a.to(tl.int32, bitcast=True) & -8192).to(tl.float32, bitcast=True)  # -8192: 0xFFFFE000 as int32
    return hi, a - hi


@triton.jit
def _split_bf16(a):
    """a = a1 + a2 + a3 (fp32 sums, exact to about 2^-27 of a), each a bf16 tile: a1 a rounded, a2 and a3 the
    rounded remainders (each remainder exact in fp32; bf16 has fp32's exponent range)."""
    a1 = a.to(tl.bfloat16)
    r = a - a1.to(tl.float32)
    a2 = r.to(tl.bfloat16)
    a3 = (r - a2.to(tl.float32)).to(tl.bfloat16)
    return a1, a2, a3


@triton.jit
def _dot16(a, b, NATIVE: tl.constexpr, acc):
    """acc + a @ b of two 16-bit tiles (each product exact, fp32 accumulation); NATIVE False widens them to fp32
    first (the same products: Triton's interpreter multiplies bf16's raw bits in a dot)."""
    if NATIVE:
        return tl.dot(a, b, acc=acc, out_dtype=tl.float32)
    return tl.dot(a.to(tl.float32), b.to(tl.float32), acc=acc, input_precision="tf32")


@triton.jit
def _dot(a, b, PREC: tl.constexpr, A_EXACT: tl.constexpr, B_EXACT: tl.constexpr, NATIVE: tl.constexpr,
         BF16_TERMS: tl.constexpr):
    """a @ b at about fp32 accuracy. An EXACT operand is a tile of a 16-bit float input (bf16/fp16) in its own
    dtype, whose values TF32 represents exactly: exact x exact is one 16-bit product with fp32 accumulation
    (``_dot16``); other x exact splits the other operand into hi + lo, two TF32 products instead of 3xTF32's three
    (bf16 inputs only, BF16_TERMS 3: into three bf16 tiles, three bf16 products, no fp32 copy of the exact operand;
    BF16_TERMS 1: the other operand rounded to bf16, one bf16 product: mamba-ssm's precision, not about fp32's);
    else PREC."""
    if A_EXACT and B_EXACT:
        return _dot16(a, b, NATIVE, None)
    elif B_EXACT:
        if BF16_TERMS == 1:
            return _dot16(a.to(tl.bfloat16), b, NATIVE, None)
        if BF16_TERMS == 3:
            a1, a2, a3 = _split_bf16(a)
            return _dot16(a1, b, NATIVE, _dot16(a2, b, NATIVE, _dot16(a3, b, NATIVE, None)))
        b = b.to(tl.float32)
        hi, lo = _split_tf32(a)
        return tl.dot(hi, b, input_precision="tf32") + tl.dot(lo, b, input_precision="tf32")
    elif A_EXACT:
        if BF16_TERMS == 1:
            return _dot16(a, b.to(tl.bfloat16), NATIVE, None)
        if BF16_TERMS == 3:
            b1, b2, b3 = _split_bf16(b)
            return _dot16(a, b1, NATIVE, _dot16(a, b2, NATIVE, _dot16(a, b3, NATIVE, None)))
        a = a.to(tl.float32)
        hi, lo = _split_tf32(b)
        return tl.dot(a, hi, input_precision="tf32") + tl.dot(a, lo, input_precision="tf32")
    else:
        return tl.dot(a, b, input_precision=PREC)


@triton.jit
def _chunk_step(dt_ptr, td_ptr, offs_l, mask_l, sdt_l, std_l, bias,
                HAS_TIME: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Pre-activation and step size of one chunk, (Q,) each; step is 0 past the sequence end."""
    pre = tl.load(dt_ptr + offs_l * sdt_l, mask=mask_l, other=0.0).to(tl.float32)
    td = tl.full(pre.shape, 1.0, tl.float32)
    if HAS_TIME:
        td = tl.load(td_ptr + offs_l * std_l, mask=mask_l, other=0.0).to(tl.float32)
        pre = pre * td
    pre = pre + bias
    if SOFTPLUS:
        step = _softplus(pre)
    else:
        step = pre
    step = tl.where(mask_l, step, 0.0)
    return pre, td, step


@triton.jit
def _load_tile(ptr, offs_l, mask_l, s_l, offs_d, dim):
    """A (Q, BLOCK_D) tile of rows offs_l (stride s_l) and contiguous columns offs_d < dim, in the input's dtype."""
    mask = mask_l[:, None] & (offs_d[None, :] < dim)
    return tl.load(ptr + offs_l[:, None] * s_l + offs_d[None, :], mask=mask, other=0.0)


@triton.jit
def _head_inputs(x_ptr, dt_ptr, td_ptr, B_ptr, C_ptr, H, HPG, sx_b, sx_h, sdt_b, sdt_h, std_b, std_h,
                 sB_b, sB_g, sC_b, sC_g):
    """This program's (batch x head) index (int64 offsets: B * L * H * P passes 2**31 at L=3200, B=2048), its
    batch row b, head h and group g, and the inputs' pointers moved to that head's (and group's) rows."""
    pid = tl.program_id(0).to(tl.int64)
    b = pid // H
    h = pid % H
    g = h // HPG
    return (pid, b, h, g, x_ptr + b * sx_b + h * sx_h, dt_ptr + b * sdt_b + h * sdt_h,
            td_ptr + b * std_b + h * std_h, B_ptr + b * sB_b + g * sB_g, C_ptr + b * sC_b + g * sC_g)


@triton.jit
def _head_params(A_ptr, bias_ptr, D_ptr, h, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr):
    """Head ``h``'s scalars (A, dt bias, D skip) in float32; 0 where the input is absent."""
    A = tl.load(A_ptr + h).to(tl.float32)
    bias = 0.0
    if HAS_BIAS:
        bias = tl.load(bias_ptr + h).to(tl.float32)
    Dh = 0.0
    if HAS_D:
        Dh = tl.load(D_ptr + h).to(tl.float32)
    return A, bias, Dh


@triton.jit
def _ssd_fwd_kernel(
    x_ptr, dt_ptr, td_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, y_ptr,
    L, H, P, N, HPG,
    sx_b, sx_l, sx_h, sdt_b, sdt_l, sdt_h, std_b, std_l, std_h,
    sB_b, sB_l, sB_g, sC_b, sC_l, sC_g, sy_b, sy_l, sy_h,
    HAS_TIME: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr, SOFTPLUS: tl.constexpr,
    N_CHUNKS: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr, PREC: tl.constexpr,
    EXACT: tl.constexpr, NATIVE: tl.constexpr, BF16_TERMS: tl.constexpr,
):
    pid, b, h, g, x_ptr, dt_ptr, td_ptr, B_ptr, C_ptr = _head_inputs(
        x_ptr, dt_ptr, td_ptr, B_ptr, C_ptr, H, HPG, sx_b, sx_h, sdt_b, sdt_h, std_b, std_h, sB_b, sB_g, sC_b, sC_g)
    y_ptr += b * sy_b + h * sy_h
    A, bias, Dh = _head_params(A_ptr, bias_ptr, D_ptr, h, HAS_BIAS, HAS_D)

    offs_q = tl.arange(0, BLOCK_Q)
    offs_p = tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    causal = offs_q[:, None] >= offs_q[None, :]
    S = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)  # state entering the chunk, h[p, n]
    for c in range(0, N_CHUNKS):
        offs_l = c * BLOCK_Q + offs_q
        mask_l = offs_l < L
        _, _, step = _chunk_step(dt_ptr, td_ptr, offs_l, mask_l, sdt_l, std_l, bias, HAS_TIME, SOFTPLUS)
        dA = step * A
        cs = tl.cumsum(dA, axis=0)
        cs_last = tl.sum(dA, axis=0)
        x = _load_tile(x_ptr, offs_l, mask_l, sx_l, offs_p, P)
        Bt = _load_tile(B_ptr, offs_l, mask_l, sB_l, offs_n, N)
        Ct = _load_tile(C_ptr, offs_l, mask_l, sC_l, offs_n, N)

        decay = tl.exp(tl.where(causal, cs[:, None] - cs[None, :], float("-inf")))
        scores = _dot(Ct, tl.trans(Bt), PREC, EXACT, EXACT, NATIVE, BF16_TERMS) * decay * step[None, :]
        y = _dot(scores, x, PREC, False, EXACT, NATIVE, BF16_TERMS)
        y += tl.exp(cs)[:, None] * _dot(Ct, tl.trans(S), PREC, EXACT, False, NATIVE, BF16_TERMS)
        if HAS_D:
            y += Dh * x.to(tl.float32)
        mask_y = mask_l[:, None] & (offs_p[None, :] < P)
        tl.store(y_ptr + offs_l[:, None] * sy_l + offs_p[None, :], y.to(y_ptr.dtype.element_ty), mask=mask_y)

        xw = x.to(tl.float32) * (step * tl.exp(cs_last - cs))[:, None]
        S = tl.exp(cs_last) * S + _dot(tl.trans(xw), Bt, PREC, False, EXACT, NATIVE, BF16_TERMS)


@triton.jit(do_not_specialize=["BH"])  # B*H: a partial batch reuses it
def _ssd_bwd_kernel(
    x_ptr, dt_ptr, td_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, dy_ptr,
    dx_ptr, ddt_ptr, dtd_ptr, dB_ptr, dC_ptr, red_ptr, r_ptr,
    L, H, P, N, HPG, BH,
    sx_b, sx_l, sx_h, sdt_b, sdt_l, sdt_h, std_b, std_l, std_h,
    sB_b, sB_l, sB_g, sC_b, sC_l, sC_g, sdy_b, sdy_l, sdy_h,
    sdx_b, sdx_l, sdx_h, sdB_b, sdB_l, sdB_g,
    HAS_TIME: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr, SOFTPLUS: tl.constexpr,
    ATOMIC_BC: tl.constexpr, BC_PER_HEAD: tl.constexpr,
    N_CHUNKS: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr, PREC: tl.constexpr,
    EXACT: tl.constexpr, NATIVE: tl.constexpr, BF16_TERMS: tl.constexpr,
):
    pid, b, h, g, x_ptr, dt_ptr, td_ptr, B_ptr, C_ptr = _head_inputs(
        x_ptr, dt_ptr, td_ptr, B_ptr, C_ptr, H, HPG, sx_b, sx_h, sdt_b, sdt_h, std_b, std_h, sB_b, sB_g, sC_b, sC_g)
    dy_ptr += b * sdy_b + h * sdy_h
    dx_ptr += b * sdx_b + h * sdx_h
    ddt_ptr += b * sdt_b + h * sdt_h  # ddt, dtd share dt's / time_dt's strides (allocated alike)
    dtd_ptr += b * std_b + h * std_h
    bc = g
    if BC_PER_HEAD:  # dB, dC are (b, L, H, N): this head's own rows, summed over the group's heads afterwards
        bc = h
    dB_ptr += b * sdB_b + bc * sdB_g
    dC_ptr += b * sdB_b + bc * sdB_g
    r_ptr += pid * L
    A, bias, Dh = _head_params(A_ptr, bias_ptr, D_ptr, h, HAS_BIAS, HAS_D)

    offs_q = tl.arange(0, BLOCK_Q)
    offs_p = tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    causal = offs_q[:, None] >= offs_q[None, :]
    anticausal = offs_q[None, :] >= offs_q[:, None]
    diag = offs_q[None, :] == offs_q[:, None]
    mask_pn_p = offs_p[None, :] < P
    mask_pn_n = offs_n[None, :] < N

    # sweep 1, left to right: dC and r = dy . y_ssm (stored to scratch for sweep 2)
    S = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    for c in range(0, N_CHUNKS):
        offs_l = c * BLOCK_Q + offs_q
        mask_l = offs_l < L
        _, _, step = _chunk_step(dt_ptr, td_ptr, offs_l, mask_l, sdt_l, std_l, bias, HAS_TIME, SOFTPLUS)
        dA = step * A
        cs = tl.cumsum(dA, axis=0)
        cs_last = tl.sum(dA, axis=0)
        x = _load_tile(x_ptr, offs_l, mask_l, sx_l, offs_p, P)
        dy = _load_tile(dy_ptr, offs_l, mask_l, sdy_l, offs_p, P)
        Bt = _load_tile(B_ptr, offs_l, mask_l, sB_l, offs_n, N)
        Ct = _load_tile(C_ptr, offs_l, mask_l, sC_l, offs_n, N)

        decay = tl.exp(tl.where(causal, cs[:, None] - cs[None, :], float("-inf")))
        W = _dot(dy, tl.trans(x), PREC, EXACT, EXACT, NATIVE, BF16_TERMS) * decay * step[None, :]  # [i, j]
        G = _dot(Ct, tl.trans(Bt), PREC, EXACT, EXACT, NATIVE, BF16_TERMS)
        dyS = _dot(dy, S, PREC, EXACT, False, NATIVE, BF16_TERMS)  # (Q, N)
        e = tl.exp(cs)
        dC = _dot(W, Bt, PREC, False, EXACT, NATIVE, BF16_TERMS) + e[:, None] * dyS
        r = tl.sum(W * G, axis=1) + e * tl.sum(dyS * Ct.to(tl.float32), axis=1)
        tl.store(r_ptr + offs_l, r, mask=mask_l)
        dC_ptrs = dC_ptr + offs_l[:, None] * sdB_l + offs_n[None, :]
        if ATOMIC_BC:
            tl.atomic_add(dC_ptrs, dC, mask=mask_l[:, None] & mask_pn_n)
        else:
            tl.store(dC_ptrs, dC, mask=mask_l[:, None] & mask_pn_n)
        xw = x.to(tl.float32) * (step * tl.exp(cs_last - cs))[:, None]
        S = tl.exp(cs_last) * S + _dot(tl.trans(xw), Bt, PREC, False, EXACT, NATIVE, BF16_TERMS)

    tl.debug_barrier()  # r written above is read back below by other threads of this program

    # sweep 2, right to left: reverse state R (P, N) entering from the future
    R = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    carry = 0.0  # sum of d cumsum over all later chunks
    dA_acc = 0.0
    dD_acc = 0.0
    dbias_acc = 0.0
    for k in range(0, N_CHUNKS):
        offs_l = (N_CHUNKS - 1 - k) * BLOCK_Q + offs_q
        mask_l = offs_l < L
        pre, td, step = _chunk_step(dt_ptr, td_ptr, offs_l, mask_l, sdt_l, std_l, bias, HAS_TIME, SOFTPLUS)
        dA = step * A
        cs = tl.cumsum(dA, axis=0)
        cs_last = tl.sum(dA, axis=0)
        to_end = tl.exp(cs_last - cs)
        # transposed masks and products ([j, i]) so that no computed tile needs a transpose; each tile is loaded
        # and computed next to its uses (fewer tiles live at once)
        decay_t = tl.exp(tl.where(anticausal, cs[None, :] - cs[:, None], float("-inf")))  # exp(cs_i - cs_j), i >= j
        Bt = _load_tile(B_ptr, offs_l, mask_l, sB_l, offs_n, N)
        Ct = _load_tile(C_ptr, offs_l, mask_l, sC_l, offs_n, N)
        GLt = _dot(Bt, tl.trans(Ct), PREC, EXACT, EXACT, NATIVE, BF16_TERMS) * decay_t  # B_j . C_i
        dy = _load_tile(dy_ptr, offs_l, mask_l, sdy_l, offs_p, P)
        # T_j = R_j B_j (P): in-chunk part + the part entering from later chunks
        T = _dot(GLt, dy, PREC, False, EXACT, NATIVE, BF16_TERMS)
        T += to_end[:, None] * _dot(Bt, tl.trans(R), PREC, EXACT, False, NATIVE, BF16_TERMS)
        x = _load_tile(x_ptr, offs_l, mask_l, sx_l, offs_p, P)
        gdir = tl.sum(x.to(tl.float32) * T, axis=1)  # direct d step
        dx = T * step[:, None]
        if HAS_D:
            dx += Dh * dy.to(tl.float32)
        mask_xp = mask_l[:, None] & mask_pn_p
        tl.store(dx_ptr + offs_l[:, None] * sdx_l + offs_p[None, :], dx.to(dx_ptr.dtype.element_ty), mask=mask_xp)
        VLt = _dot(x, tl.trans(dy), PREC, EXACT, EXACT, NATIVE, BF16_TERMS) * decay_t  # x_j . dy_i
        if HAS_D:
            if EXACT:  # sum_j x_j . dy_j is VLt's diagonal (decay 1 there; exact products): no more copies of x, dy
                dD_acc += tl.sum(tl.sum(tl.where(diag, VLt, 0.0), axis=1), axis=0)
            else:  # fp32 inputs: VLt's products are TF32 ones where torch allows TF32
                dD_acc += tl.sum(tl.sum(dy * x, axis=1), axis=0)
        dB = _dot(VLt, Ct, PREC, False, EXACT, NATIVE, BF16_TERMS)
        dB += to_end[:, None] * _dot(x, R, PREC, EXACT, False, NATIVE, BF16_TERMS)
        dB = dB * step[:, None]
        dB_ptrs = dB_ptr + offs_l[:, None] * sdB_l + offs_n[None, :]
        if ATOMIC_BC:
            tl.atomic_add(dB_ptrs, dB, mask=mask_l[:, None] & mask_pn_n)
        else:
            tl.store(dB_ptrs, dB, mask=mask_l[:, None] & mask_pn_n)
        # R entering the previous chunk
        dye = dy.to(tl.float32) * tl.exp(cs)[:, None]
        R = tl.exp(cs_last) * R + _dot(tl.trans(dye), Ct, PREC, False, EXACT, NATIVE, BF16_TERMS)

        r = tl.load(r_ptr + offs_l, mask=mask_l, other=0.0)
        dcs = r - step * gdir
        # d(step*A)_t = sum_{k >= t} dcs_k : reverse cumsum inside the chunk plus the later chunks
        ddA = tl.sum(dcs, axis=0) - tl.cumsum(dcs, axis=0) + dcs + carry
        carry += tl.sum(dcs, axis=0)
        dstep = gdir + A * ddA
        dA_acc += tl.sum(step * ddA, axis=0)
        if SOFTPLUS:
            dpre = dstep * tl.sigmoid(pre)
        else:
            dpre = dstep
        dpre = tl.where(mask_l, dpre, 0.0)
        dbias_acc += tl.sum(dpre, axis=0)
        if HAS_TIME:
            dt_raw = tl.load(dt_ptr + offs_l * sdt_l, mask=mask_l, other=0.0).to(tl.float32)
            tl.store(dtd_ptr + offs_l * std_l, (dpre * dt_raw).to(dtd_ptr.dtype.element_ty), mask=mask_l)
        tl.store(ddt_ptr + offs_l * sdt_l, (dpre * td).to(ddt_ptr.dtype.element_ty), mask=mask_l)

    tl.store(red_ptr + pid, dA_acc)
    tl.store(red_ptr + BH + pid, dD_acc)
    tl.store(red_ptr + 2 * BH + pid, dbias_acc)


# Launch settings per input precision (x's dtype: fp32, or bf16/fp16), from ``python -m kernels.ssd.tune`` on an
# H200 (B=2048, L=50 and B=256, L=200; H=4, P=N=32), fwd+bwd of the SSD kernels summed over the two cases. Part 14
# (commit efeadba, results/full/logs/part14-ssd-tune-*) ranked CUDA-graph replays: fp32 2 warps, 2 stages 1.377 ms
# (1 stage, part 5's choice, 1.410; Triton's default 1.516); bf16 1 warp, 2 stages 0.548 ms (Triton's default,
# part 5's, 0.582; 1 stage 0.595). Part 5 (164adf2, part5-ssd-tune-*) had ranked eager medians, half of them host
# time. 4 warps were 1.7x (fp32) and 2.3x (bf16) slower; 64-step chunks spill in the backward.
LAUNCH = {"fp32": {"num_warps": 2, "num_stages": 2}, "lowp": {"num_warps": 1, "num_stages": 2}}
# How the backward sums dB, dC over the heads of a group (when a group has several): False, fp32 atomics into
# (b, L, G, N) (zeroed first); True, each head stores its own (b, L, H, N) rows and a sum over the group's heads
# follows (no atomics, no zeroing; 4x the bytes written at H=4, G=1). True was faster in the tune above (fp32
# B=2048, L=50: 1.02 against 1.08 ms; bf16 0.54 against 0.61 ms).
BC_PER_HEAD = True
# With bf16/fp16 inputs (x, B, C and, in the backward, dy), their values are exact in TF32: the dots take one 16-bit
# product of the tiles as loaded where both operands are such values and two TF32 ones (hi and lo of the other) where
# one is (``_dot``), instead of 3xTF32's three, at the same accuracy (each product exact, fp32 accumulation).
# False: every dot at the precision of ``_precision`` (bf16 B=2048, L=50 fwd+bwd 1.44 ms against 0.54 in the tune
# above, when exact x exact was one TF32 product).
EXACT_LOWP_DOTS = True
_LOWP = (torch.bfloat16, torch.float16)
# With bf16 inputs (and EXACT_LOWP_DOTS): True, a dot of a computed fp32 tile and an input tile splits the fp32 one into
# three bf16 tiles (``_split_bf16``: three bf16 products, each half a TF32 one's MMA instructions, at least as
# accurate as the two TF32 ones) and takes the input tile as loaded, so that no fp32 copy of an input tile is kept
# (fewer registers); the split costs more ALU work than TF32's hi/lo. False: the hi/lo TF32 split (``_dot``).
SPLIT_BF16_DOTS = False
# With bf16 inputs (and EXACT_LOWP_DOTS): True, a dot of a computed fp32 tile and an input tile rounds the computed one
# to bf16 and takes one bf16 product, as mamba-ssm's bf16 chunk scan does (suites/bench_ssd.py, variant
# triton_bf16_product; part 18 on an H200, results/full/logs/part18-bench-ssd.txt: fwd+bwd as a graph 264 against
# 365 us at B=2048, L=50, 135 against 184 at B=256, L=200). d(step) sums differences of such products over the
# sequence (``_precision``), and the gradients drift by the rounding; over 10 seeds of TiM4Rec's bf16 training (part
# 19) NDCG@10 moved -0.2% (paired t p = 0.30). None (the default): as $SEQREC_SSD_BF16_PRODUCT says
# (``models.switches.ssd_bf16_product``: 1 unless set); True/False: regardless.
BF16_PRODUCT_DOTS: bool | None = None


def _native_dots() -> bool:
    """Whether dots of two 16-bit tiles take them as they are (``_dot``'s NATIVE): compiled, yes; under Triton's
    interpreter (TRITON_INTERPRET=1), whose bf16 dot multiplies the raw bits, no."""
    return os.environ.get("TRITON_INTERPRET", "0") in ("", "0")


def _block(n: int) -> int:
    return max(16, triton.next_power_of_2(n))


def _precision(dtype: torch.dtype) -> str:
    """tl.dot precision: 3xTF32 (about fp32 accuracy on tensor cores) unless fp32 with tf32 allowed by torch.
    Plain TF32 is too coarse for bf16 too: d(step) sums differences of two dot products over the sequence (with
    bf16/fp16 inputs, ``EXACT_LOWP_DOTS`` gets the same accuracy from fewer TF32 products, see ``_dot``).
    $SEQREC_SSD_DOT_PRECISION ("ieee" | "tf32" | "tf32x3") overrides this (for experiments)."""
    if os.environ.get("SEQREC_SSD_DOT_PRECISION"):
        return os.environ["SEQREC_SSD_DOT_PRECISION"]
    if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "tf32x3"


def _last_dim_contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    return t if t is None or t.stride(-1) == 1 else t.contiguous()


def _launch(dtype: torch.dtype) -> dict:
    """num_warps (and num_stages where set) for inputs of this dtype (``LAUNCH``)."""
    return LAUNCH["lowp" if dtype in _LOWP else "fp32"]


def _meta(L: int, P: int, N: int, block_q: int | None, dtype: torch.dtype, *lowp: torch.Tensor) -> dict:
    """Compile-time parameters: chunk tile (32 steps), padded P and N, dot precision, and whether the dots' raw
    operands (``lowp``: x, B, C, and dy in the backward) are all 16-bit floats (``EXACT_LOWP_DOTS``)."""
    q = block_q if block_q is not None else 32
    exact = EXACT_LOWP_DOTS and all(t.dtype in _LOWP for t in lowp)
    return dict(N_CHUNKS=triton.cdiv(L, q), BLOCK_Q=q, BLOCK_P=_block(P), BLOCK_N=_block(N), PREC=_precision(dtype),
                EXACT=exact, NATIVE=_native_dots(),
                BF16_TERMS=_bf16_terms(exact and all(t.dtype == torch.bfloat16 for t in lowp)))


def _bf16_terms(all_bf16: bool) -> int:
    """``_dot``'s BF16_TERMS: the bf16 tiles a computed operand of a mixed dot becomes (0: TF32 hi/lo instead)."""
    if not all_bf16:
        return 0
    return 1 if bf16_product_dots() else 3 if SPLIT_BF16_DOTS else 0


def bf16_product_dots() -> bool:
    """``BF16_PRODUCT_DOTS``, or where it is None the environment's choice (``models.switches.ssd_bf16_product``)."""
    if BF16_PRODUCT_DOTS is not None:
        return BF16_PRODUCT_DOTS
    from models.switches import ssd_bf16_product

    return ssd_bf16_product()


def ssd_fused_fwd(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, block_q=None):
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    if L == 0 or b == 0:
        return y
    td = time_dt if time_dt is not None else dt
    _ssd_fwd_kernel[(b * H,)](
        x, dt, td, A, B, C, D if D is not None else A, dt_bias if dt_bias is not None else A, y,
        L, H, P, N, H // G,
        *x.stride()[:3], *dt.stride(), *td.stride(), *B.stride()[:3], *C.stride()[:3], *y.stride()[:3],
        HAS_TIME=time_dt is not None, HAS_BIAS=dt_bias is not None, HAS_D=D is not None, SOFTPLUS=dt_softplus,
        **_meta(L, P, N, block_q, x.dtype, x, B, C), **_launch(x.dtype),
    )
    return y


def bc_grad_groups(H: int, G: int) -> int:
    """The third dimension of the backward kernel's raw dB, dC: H (each head's own rows, ``BC_PER_HEAD``) where
    a group has several heads, else G."""
    return H if BC_PER_HEAD and H // G > 1 else G


def ssd_fused_bwd_raw(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, block_q=None):
    """The backward kernel's outputs: (dx, ddt, red, dB_raw, dC_raw, dtime_dt or None). ``red`` (3, B, H) fp32:
    each sequence's dA, dD, ddt_bias per head; dB_raw, dC_raw (B, L, ``bc_grad_groups``, N) fp32. ``ssd_grads``
    sums them into the parameters' gradients: in PyTorch, so that under torch.compile inductor fuses those sums
    and casts with the ops around them (the custom op returns the raw outputs)."""
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    dy = _last_dim_contiguous(dy)
    dx = torch.empty_like(x, memory_format=torch.contiguous_format)
    ddt = torch.empty_like(dt, memory_format=torch.contiguous_format)
    dtd = torch.empty_like(time_dt, memory_format=torch.contiguous_format) if time_dt is not None else None
    per_head = bc_grad_groups(H, G) != G
    atomic = H // G > 1 and not per_head
    alloc = torch.zeros if atomic else torch.empty
    dB = alloc(b, L, H if per_head else G, N, device=x.device, dtype=torch.float32)
    dC = alloc(b, L, H if per_head else G, N, device=x.device, dtype=torch.float32)
    red = torch.empty(3, b * H, device=x.device, dtype=torch.float32)
    r = torch.empty(b * H, max(L, 1), device=x.device, dtype=torch.float32)
    if L > 0 and b > 0:
        td = time_dt if time_dt is not None else dt
        dtd_buf = dtd if dtd is not None else ddt
        # ddt / dtd are indexed with dt's / time_dt's strides: give them the same strides
        if ddt.stride() != dt.stride() or (dtd is not None and dtd.stride() != td.stride()):
            dt, td = dt.contiguous(), td.contiguous()
            if time_dt is None:
                td = dt
        _ssd_bwd_kernel[(b * H,)](
            x, dt, td, A, B, C, D if D is not None else A, dt_bias if dt_bias is not None else A, dy,
            dx, ddt, dtd_buf, dB, dC, red, r,
            L, H, P, N, H // G, b * H,
            *x.stride()[:3], *dt.stride(), *td.stride(), *B.stride()[:3], *C.stride()[:3], *dy.stride()[:3],
            *dx.stride()[:3], *dB.stride()[:3],
            HAS_TIME=time_dt is not None, HAS_BIAS=dt_bias is not None, HAS_D=D is not None,
            SOFTPLUS=dt_softplus, ATOMIC_BC=atomic, BC_PER_HEAD=per_head,
            **_meta(L, P, N, block_q, x.dtype, x, B, C, dy), **_launch(x.dtype),
        )
    else:
        red.zero_()
        dB.zero_()
        dC.zero_()
    return dx, ddt, red.view(3, b, H), dB, dC, dtd


def ssd_grads(red, dB_raw, dC_raw, A, B, C, D, dt_bias):
    """(dA, dB, dC, dD, ddt_bias) from ``ssd_fused_bwd_raw``'s sums, in the parameters' dtypes; None where the
    input is None. Heads of one group are adjacent (head h is in group h // (H // G))."""
    b, L, G, N = B.shape
    if dB_raw.shape[2] != G:
        dB_raw, dC_raw = (t.view(b, L, G, -1, N).sum(3) for t in (dB_raw, dC_raw))
    sums = red.sum(1)
    dD = sums[1].to(D.dtype) if D is not None else None
    dbias = sums[2].to(dt_bias.dtype) if dt_bias is not None else None
    return sums[0].to(A.dtype), dB_raw.to(B.dtype), dC_raw.to(C.dtype), dD, dbias


def ssd_fused_bwd(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, block_q=None):
    """Gradients (dx, ddt, dA, dB, dC, dD, ddt_bias, dtime_dt); None where the input is None."""
    dx, ddt, red, dB_raw, dC_raw, dtd = ssd_fused_bwd_raw(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus,
                                                          block_q)
    dA, dB, dC, dD, dbias = ssd_grads(red, dB_raw, dC_raw, A, B, C, D, dt_bias)
    return dx, ddt, dA, dB, dC, dD, dbias, dtd


class SSDFused(torch.autograd.Function):
    """Autograd wiring of the fused forward and backward kernels."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, block_q):
        x, dt, B, C, time_dt = (_last_dim_contiguous(t) for t in (x, dt, B, C, time_dt))
        ctx.save_for_backward(x, dt, A, B, C, D, dt_bias, time_dt)
        ctx.dt_softplus = dt_softplus
        ctx.block_q = block_q
        return ssd_fused_fwd(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, block_q)

    @staticmethod
    def backward(ctx, dy):
        x, dt, A, B, C, D, dt_bias, time_dt = ctx.saved_tensors
        grads = ssd_fused_bwd(dy, x, dt, A, B, C, D, dt_bias, time_dt, ctx.dt_softplus, ctx.block_q)
        return (*grads, None, None)


def ssd_fused(x, dt, A, B, C, D=None, dt_bias=None, time_dt=None, dt_softplus=True, block_q=None):
    """y (B, L, H, P): the fused Triton SSD (forward and backward). ``block_q``: chunk tile (power of 2 >= 16)."""
    check_ssd_shapes(x, dt, A, B, C, D, dt_bias, time_dt)
    if block_q is not None and (block_q < 16 or block_q & (block_q - 1)):
        raise ValueError(f"ssd_fused: block_q must be a power of 2 >= 16, got {block_q}")
    if x.dtype == torch.float64:
        raise TypeError("ssd_fused: float64 is not supported by the Triton kernel; use backend='torch'")
    return SSDFused.apply(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus, block_q)
