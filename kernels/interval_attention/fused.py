"""TiSASRec interval attention in Triton, forward and backward (``interval_attention_fused``).

Never materialises the (B, L, L, Dh) interval tensors. Each program owns BLOCK_M query rows (or, in the
dk/dv kernel, BLOCK_N key columns) against the whole key (query) range at once, so L is limited to
``MAX_SEQ_LEN``. Interval terms live in "interval space", head-major (H, B, L, R) fp32:

  forward   qE = q interval_k^T (one matmul); logits_ij = (q_i.k_j + qE[i, r_ij]) / sqrt(Dh) with r_ij computed
            in-kernel from ``times``; causal + padding masks and dropout (``tl.rand`` keyed by (seed, b, h, i, j))
            fused; P[i, r] = sum_{j: r_ij = r} a_ij is scatter-added (fp32 atomics, rows are owned by one
            program) and out_i = sum_j a_ij v_j + P_i interval_v, all in the kernel;
  backward  the dq kernel recomputes a_ij from the saved log-sum-exp, gathers dE = dout interval_v^T at r_ij,
            scatters dqE[i, r] = sum_{j: r_ij = r} dlogit_ij and adds dqE_i interval_k to dq, and scatters the
            dropped weights a_ij into P again; the dk/dv kernel recomputes the transposed tile;
            d interval_k = dqE^T q and d interval_v = P^T dout are matmuls.

Saved for the backward: the (contiguous) inputs, out, the log-sum-exp (B, H, L) and the dropout seed; nothing in
interval space. P is recomputed in the dq kernel, which already holds the weights a_ij (one more fp32 scatter per
entry, with the same ``_scatter_bins`` as the forward), rather than by re-running the forward kernel on a scratch
output (a second q k^T, softmax and P interval_v for every row): saving P would keep an (H, B, L, R) array alive
from forward to backward (421 MB at B=2048, L=200, R=257).

Memory: every interval-space array is allocated per chunk of the batch, sized so that the chunk's arrays together
(the forward's qE and P; the backward's qE, dE, dqE and P) fit ``INTERVAL_SPACE_BYTES`` (at least one sequence a
chunk) and the naive form's bytes over d (``WITHIN_NAIVE_OVER_D``). Each chunk runs the kernels unchanged on batch
slices of the operands (contiguous views), writing into slices of out, lse, dq, dk and dv; d interval_k and
d interval_v accumulate over the chunks in fp32. When the whole batch fits, there is one chunk. Chunk sizes come
from the shapes alone (no host synchronisation, CUDA-graph safe), and the dropout mask is keyed by the global batch
row (each launch gets its chunk's batch offset), so results do not depend on the chunking. The peak above the
inputs is then out, dq, dk, dv (B, H, L, Dh each) plus the chunk's arrays
(plus, for bf16 or H > 1, the chunk's fp32 head-major copies of q and dout).
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl

from kernels.dispatch import BackendUnavailable, triton_interpret
from kernels.interval_attention.ref import check_interval_attention_shapes

MAX_SEQ_LEN = 256
# Each program holds a whole row of keys and values: BLOCK_L x BLOCK_D tiles. 256 x 256 asked an H200 for
# 278,528 bytes of shared memory (limit 232,448); 256 x 64 and 64 x 256 ran. Larger tiles are refused.
MAX_TILE = 256 * 64
# Bytes of interval-space arrays (H, b, L, R) fp32 a batch chunk may hold at once, all of them together: 128 MiB, or
# SEQREC_INTERVAL_SPACE_MIB. At L = 200, h64, 1 head (R = 257; 0.82 MB a sequence in the backward's four arrays)
# 128 MiB is 163 sequences a chunk. Measured fwd+bwd, fp32, on an H200: time as a CUDA-graph replay and eager
# median, peak memory (results/full/logs/part12-kernels-graph/, part12-attn-64mib/, part14-attn-128mib/):
#   budget     B = 256: graph, eager, peak      B = 2048: graph, eager, peak   (naive form: 8.11 GB; 64.9 GB)
#   256 MiB    1.65 ms, 2.01 ms, 0.26 GB (31x)  12.74 ms, 12.90 ms, 0.69 GB (94x)
#   128 MiB    1.73 ms, 2.11 ms, 0.19 GB (43x)  13.31 ms, 13.50 ms, 0.56 GB (116x)
#   64 MiB     1.92 ms, 2.90 ms, 0.12 GB (67x)  14.54 ms, 15.50 ms, 0.49 GB (132x)
# Smaller chunks cost launches (ten-odd ops a chunk) more than kernel time; part 10b (unchunked 1.69 ms, 0.26 GB
# and 10.8 ms, 2.11 GB eager) had 64 MiB at 5.15 ms eager on a busier host. 128 MiB takes 5% more time than 256
# for 28% less memory at B = 256; 64 MiB (about the factor d = 64 under the naive form) suits a card short of it.


def interval_space_budget(environ: dict) -> int:
    """Bytes of interval-space arrays a chunk may hold: SEQREC_INTERVAL_SPACE_MIB (a positive integer) x 2^20."""
    raw = environ.get("SEQREC_INTERVAL_SPACE_MIB", "128")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"SEQREC_INTERVAL_SPACE_MIB={raw!r}: expected a positive whole number of MiB")
    return int(raw) * 2**20


INTERVAL_SPACE_BYTES = interval_space_budget(os.environ)
# Issue #5 asks peak memory under the naive form's by about the factor d. The naive form materialises two (B, L, L, d)
# fp32 tensors; over d that is 8 B L^2 bytes, and a chunk's interval space stays within it too (True), in chunks of
# a multiple of CHUNK_ALIGN sequences (at least that many): a chunk's slices of seq_len (int32) and the other
# operands then start 64-byte aligned, as the whole batch's do, so that no batch size compiles the kernels again for
# an odd offset (tests/test_kernel_specializations.py). At L = 200, h64: B = 256 gets 96 sequences a backward chunk
# (78 MiB; the 128 MiB budget gave 43x under the naive form's measured peak, 64 MiB 67x at +11% of the attention's
# graph time, part 14); B = 2048 keeps 128 MiB (116x). False: INTERVAL_SPACE_BYTES alone.
WITHIN_NAIVE_OVER_D = True
CHUNK_ALIGN = 16


def fused_supports(seqlen: int, dh: int) -> str | None:
    """None when the fused kernels take (L, Dh), else the reason they do not."""
    if seqlen > MAX_SEQ_LEN:
        return f"the Triton kernel holds a whole row of keys and supports L <= {MAX_SEQ_LEN}, got L={seqlen}"
    block_l, block_d = max(16, triton.next_power_of_2(seqlen)), max(16, triton.next_power_of_2(dh))
    if block_l * block_d > MAX_TILE:
        return (f"the Triton kernel's key/value tiles ({block_l} x {block_d} for L={seqlen}, head dim {dh}) pass "
                f"its shared-memory budget ({MAX_TILE} elements)")
    return None


@triton.jit
def _ld(ptrs, mask, UPCAST: tl.constexpr):
    """Masked load; fp32 when UPCAST (the CPU interpreter's tl.dot mishandles bf16 operands)."""
    x = tl.load(ptrs, mask=mask, other=0.0)
    if UPCAST:
        x = x.to(tl.float32)
    return x


@triton.jit
def _logits_rows(q_ptr, k_ptr, qe_ptr, t_ptr, bh, hb, b, n_valid, offs_m, offs_l, offs_d, seqlen, dh, num_r, scale,
                 UPCAST: tl.constexpr):
    """Scaled, masked logits (BLOCK_M, BLOCK_L) of query rows offs_m against every key; r (BLOCK_M, BLOCK_L)."""
    mask_m = offs_m < seqlen
    mask_l = offs_l < seqlen
    mask_md = mask_m[:, None] & (offs_d[None, :] < dh)
    mask_ld = mask_l[:, None] & (offs_d[None, :] < dh)
    q = _ld(q_ptr + (bh * seqlen + offs_m[:, None]) * dh + offs_d[None, :], mask_md, UPCAST)
    k = _ld(k_ptr + (bh * seqlen + offs_l[:, None]) * dh + offs_d[None, :], mask_ld, UPCAST)
    ti = tl.load(t_ptr + b * seqlen + offs_m, mask=mask_m, other=0)
    tj = tl.load(t_ptr + b * seqlen + offs_l, mask=mask_l, other=0)
    r = tl.minimum(tl.abs(ti[:, None] - tj[None, :]), num_r - 1).to(tl.int32)
    valid = (offs_l[None, :] <= offs_m[:, None]) & (offs_l[None, :] < n_valid) & (offs_m[:, None] < n_valid)
    bias = tl.load(qe_ptr + (hb * seqlen + offs_m[:, None]) * num_r + r, mask=valid, other=0.0)
    s = (tl.dot(q, tl.trans(k)) + bias) * scale
    s = tl.where(valid, s, float("-inf"))
    return s, r, valid, q


@triton.jit
def _keep(seed, bh, seqlen, rows, cols, dropout_p):
    """Dropout keep mask for entries (rows, cols) of head bh = b * H + h, b the global batch row (a kernel on a
    batch chunk passes its offset): the same bits in every kernel, whatever the chunking."""
    return tl.rand(seed, (bh * seqlen + rows) * seqlen + cols) >= dropout_p


@triton.jit
def _dropped(x, keep, dropout_p):
    """x where kept, scaled by 1 / (1 - dropout_p); 0 where dropped."""
    return tl.where(keep, x / (1.0 - dropout_p), 0.0)


@triton.jit
def _scatter_bins(rows_ptr, r, x, valid):
    """rows_ptr[i, r_ij] += x_ij over the valid entries: x (BLOCK_M, BLOCK_L) summed into its interval bins of
    the program's rows (fp32 atomics: several j share a bin; no other program writes these rows)."""
    tl.atomic_add(rows_ptr + r, x, mask=valid)


@triton.jit
def _program_tile(len_ptr, heads, BLOCK_M: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's (batch x head) index bh, its row hb in the head-major interval-space arrays (H, B, L, R),
    its batch row b and head h, the row's valid length, and the
    offsets of its block of BLOCK_M rows, of all BLOCK_L positions and of the BLOCK_D features."""
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    hb = h * (tl.num_programs(1) // heads) + b
    n_valid = tl.load(len_ptr + b)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_l = tl.arange(0, BLOCK_L)
    offs_d = tl.arange(0, BLOCK_D)
    return bh, hb, b, h, n_valid, offs_m, offs_l, offs_d


@triton.jit
def _interval_attn_fwd_kernel(
    q_ptr, k_ptr, v_ptr, iv_ptr, qe_ptr, t_ptr, len_ptr, out_ptr, lse_ptr, p_ptr,
    seqlen, heads, dh, num_r, scale, dropout_p, seed_ptr, b_off,
    DROPOUT: tl.constexpr, UPCAST: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_R: tl.constexpr, R_CHUNKS: tl.constexpr,
):
    bh, hb, b, h, n_valid, offs_m, offs_l, offs_d = _program_tile(len_ptr, heads, BLOCK_M, BLOCK_L, BLOCK_D)
    s, r, valid, q = _logits_rows(q_ptr, k_ptr, qe_ptr, t_ptr, bh, hb, b, n_valid, offs_m, offs_l, offs_d,
                                  seqlen, dh, num_r, scale, UPCAST)
    m = tl.max(s, axis=1)
    m = tl.where(m == float("-inf"), 0.0, m)
    p = tl.exp(s - m[:, None])
    denom = tl.sum(p, axis=1)
    row_ok = denom > 0
    lse = tl.where(row_ok, m + tl.log(tl.where(row_ok, denom, 1.0)), 0.0)
    a = p / tl.where(row_ok, denom, 1.0)[:, None]
    if DROPOUT:
        keep = _keep(tl.load(seed_ptr), b_off * heads + bh, seqlen, offs_m[:, None], offs_l[None, :], dropout_p)
        a = _dropped(a, keep, dropout_p)
    mask_l = offs_l < seqlen
    mask_ld = mask_l[:, None] & (offs_d[None, :] < dh)
    v = _ld(v_ptr + (bh * seqlen + offs_l[:, None]) * dh + offs_d[None, :], mask_ld, UPCAST)
    acc = tl.dot(a.to(v.dtype), v)
    # interval values: scatter the weights into their interval bins, then P_i interval_v
    p_rows = p_ptr + (hb * seqlen + offs_m[:, None]) * num_r
    _scatter_bins(p_rows, r, a, valid)
    tl.debug_barrier()
    mask_m = offs_m < seqlen
    offs_r = tl.arange(0, BLOCK_R)
    for rc in range(0, R_CHUNKS):
        rr = rc * BLOCK_R + offs_r
        mask_r = rr < num_r
        pr = tl.load(p_rows + rr[None, :], mask=mask_m[:, None] & mask_r[None, :], other=0.0)
        iv = tl.load(iv_ptr + (rr[:, None] * heads + h) * dh + offs_d[None, :],
                     mask=mask_r[:, None] & (offs_d[None, :] < dh), other=0.0)
        acc += tl.dot(pr, iv.to(tl.float32))
    mask_md = mask_m[:, None] & (offs_d[None, :] < dh)
    tl.store(out_ptr + (bh * seqlen + offs_m[:, None]) * dh + offs_d[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=mask_md)
    tl.store(lse_ptr + bh * seqlen + offs_m, lse, mask=mask_m)


@triton.jit
def _interval_attn_bwd_dq_kernel(
    q_ptr, k_ptr, v_ptr, ik_ptr, qe_ptr, de_ptr, t_ptr, len_ptr, dout_ptr, lse_ptr, dlt_ptr, dq_ptr, dqe_ptr,
    p_ptr, seqlen, heads, dh, num_r, scale, dropout_p, seed_ptr, b_off,
    DROPOUT: tl.constexpr, UPCAST: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_R: tl.constexpr, R_CHUNKS: tl.constexpr,
):
    bh, hb, b, h, n_valid, offs_m, offs_l, offs_d = _program_tile(len_ptr, heads, BLOCK_M, BLOCK_L, BLOCK_D)
    mask_m = offs_m < seqlen
    mask_md = mask_m[:, None] & (offs_d[None, :] < dh)
    mask_ld = (offs_l < seqlen)[:, None] & (offs_d[None, :] < dh)
    s, r, valid, q = _logits_rows(q_ptr, k_ptr, qe_ptr, t_ptr, bh, hb, b, n_valid, offs_m, offs_l, offs_d,
                                  seqlen, dh, num_r, scale, UPCAST)
    lse = tl.load(lse_ptr + bh * seqlen + offs_m, mask=mask_m, other=0.0)
    p = tl.exp(s - lse[:, None])
    dout = _ld(dout_ptr + (bh * seqlen + offs_m[:, None]) * dh + offs_d[None, :], mask_md, UPCAST)
    v = _ld(v_ptr + (bh * seqlen + offs_l[:, None]) * dh + offs_d[None, :], mask_ld, UPCAST)
    rows = (hb * seqlen + offs_m[:, None]) * num_r
    dp = tl.dot(dout, tl.trans(v)) + tl.load(de_ptr + rows + r, mask=valid, other=0.0)
    a = p
    if DROPOUT:
        keep = _keep(tl.load(seed_ptr), b_off * heads + bh, seqlen, offs_m[:, None], offs_l[None, :], dropout_p)
        a = _dropped(p, keep, dropout_p)
        dp = _dropped(dp, keep, dropout_p)
    _scatter_bins(p_ptr + rows, r, a, valid)  # P, as the forward summed it, for d interval_v
    dlt = tl.load(dlt_ptr + bh * seqlen + offs_m, mask=mask_m, other=0.0)
    ds = tl.where(valid, p * (dp - dlt[:, None]), 0.0) * scale
    k = _ld(k_ptr + (bh * seqlen + offs_l[:, None]) * dh + offs_d[None, :], mask_ld, UPCAST)
    dq = tl.dot(ds.to(k.dtype), k)
    _scatter_bins(dqe_ptr + rows, r, ds, valid)
    tl.debug_barrier()
    offs_r = tl.arange(0, BLOCK_R)
    for rc in range(0, R_CHUNKS):
        rr = rc * BLOCK_R + offs_r
        mask_r = rr < num_r
        dqe = tl.load(dqe_ptr + rows + rr[None, :], mask=mask_m[:, None] & mask_r[None, :], other=0.0)
        ik = tl.load(ik_ptr + (rr[:, None] * heads + h) * dh + offs_d[None, :],
                     mask=mask_r[:, None] & (offs_d[None, :] < dh), other=0.0)
        dq += tl.dot(dqe, ik.to(tl.float32))
    tl.store(dq_ptr + (bh * seqlen + offs_m[:, None]) * dh + offs_d[None, :], dq.to(dq_ptr.dtype.element_ty),
             mask=mask_md)


@triton.jit
def _interval_attn_bwd_dkdv_kernel(
    q_ptr, k_ptr, v_ptr, qe_ptr, de_ptr, t_ptr, len_ptr, dout_ptr, lse_ptr, dlt_ptr, dk_ptr, dv_ptr,
    seqlen, heads, dh, num_r, scale, dropout_p, seed_ptr, b_off,
    DROPOUT: tl.constexpr, UPCAST: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr,
):
    # offs_n: keys j (rows of the transposed tile); offs_l: queries i
    bh, hb, b, _, n_valid, offs_n, offs_l, offs_d = _program_tile(len_ptr, heads, BLOCK_N, BLOCK_L, BLOCK_D)
    mask_n = offs_n < seqlen
    mask_l = offs_l < seqlen
    mask_nd = mask_n[:, None] & (offs_d[None, :] < dh)
    mask_ld = mask_l[:, None] & (offs_d[None, :] < dh)
    k = _ld(k_ptr + (bh * seqlen + offs_n[:, None]) * dh + offs_d[None, :], mask_nd, UPCAST)
    v = _ld(v_ptr + (bh * seqlen + offs_n[:, None]) * dh + offs_d[None, :], mask_nd, UPCAST)
    q = _ld(q_ptr + (bh * seqlen + offs_l[:, None]) * dh + offs_d[None, :], mask_ld, UPCAST)
    dout = _ld(dout_ptr + (bh * seqlen + offs_l[:, None]) * dh + offs_d[None, :], mask_ld, UPCAST)
    tj = tl.load(t_ptr + b * seqlen + offs_n, mask=mask_n, other=0)
    ti = tl.load(t_ptr + b * seqlen + offs_l, mask=mask_l, other=0)
    r = tl.minimum(tl.abs(tj[:, None] - ti[None, :]), num_r - 1).to(tl.int32)              # (BLOCK_N, BLOCK_L)
    valid = (offs_n[:, None] <= offs_l[None, :]) & (offs_n[:, None] < n_valid) & (offs_l[None, :] < n_valid)
    cols = (hb * seqlen + offs_l[None, :]) * num_r + r
    s = (tl.dot(k, tl.trans(q)) + tl.load(qe_ptr + cols, mask=valid, other=0.0)) * scale
    lse = tl.load(lse_ptr + bh * seqlen + offs_l, mask=mask_l, other=0.0)
    p = tl.where(valid, tl.exp(s - lse[None, :]), 0.0)
    dp = tl.dot(v, tl.trans(dout)) + tl.load(de_ptr + cols, mask=valid, other=0.0)
    pd = p
    if DROPOUT:
        keep = _keep(tl.load(seed_ptr), b_off * heads + bh, seqlen, offs_l[None, :], offs_n[:, None], dropout_p)
        pd = _dropped(p, keep, dropout_p)
        dp = _dropped(dp, keep, dropout_p)
    dlt = tl.load(dlt_ptr + bh * seqlen + offs_l, mask=mask_l, other=0.0)
    ds = p * (dp - dlt[None, :]) * scale
    dv = tl.dot(pd.to(dout.dtype), dout)
    dk = tl.dot(ds.to(q.dtype), q)
    tl.store(dk_ptr + (bh * seqlen + offs_n[:, None]) * dh + offs_d[None, :], dk.to(dk_ptr.dtype.element_ty),
             mask=mask_nd)
    tl.store(dv_ptr + (bh * seqlen + offs_n[:, None]) * dh + offs_d[None, :], dv.to(dv_ptr.dtype.element_ty),
             mask=mask_nd)


def _blocks(seqlen: int, dh: int, num_r: int) -> dict:
    block_l = max(16, triton.next_power_of_2(seqlen))
    block_r = 64 if num_r > 32 else max(16, triton.next_power_of_2(num_r))
    return dict(BLOCK_L=block_l, BLOCK_D=max(16, triton.next_power_of_2(dh)), BLOCK_R=block_r,
                R_CHUNKS=triton.cdiv(num_r, block_r))


def _block_m(block_l: int) -> int:
    return 16 if block_l >= 256 else 32 if block_l >= 64 else 16


def head_major(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, Dh) -> (H, B * L, Dh) fp32, dense (a view when H = 1 and x is fp32)."""
    bsz, heads, seqlen, dh = x.shape
    return x.float().transpose(0, 1).reshape(heads, bsz * seqlen, dh).contiguous()


def interval_space(x_hm: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """x_hm (H, B * L, Dh) fp32, table (R, H, Dh) -> (H, B * L, R) fp32: x_i . table[r] for every interval r,
    one GEMM per head (the kernels index these rows head-major: ((h * B + b) * L + i) * R + r). In fp32 under
    autocast too: the backward recomputes these logits against the forward's saved log-sum-exp."""
    with torch.autocast(x_hm.device.type, enabled=False):
        return torch.bmm(x_hm, table.float().permute(1, 2, 0))


def add_interval_grad(acc: torch.Tensor, rows: torch.Tensor, x_hm: torch.Tensor) -> None:
    """acc (R, H, Dh) fp32 += sum over b, i of rows[h, b, i, r] x[h, b, i], for rows (H, B, L, R) and x_hm
    (H, B * L, Dh): a chunk's part of an interval table's gradient, added in place (no per-chunk result to add).

    One plain GEMM per head with K = B * L: batched over heads, cuBLAS gets no split over K and, with R x Dh
    tiles this few, took 27 ms a step at B=2048, L=200, 2 heads (H200); the one head's plain GEMMs took 0.4-0.7 ms."""
    heads, n, num_r = rows.shape[0], x_hm.shape[1], rows.shape[-1]
    for h in range(heads):
        acc[:, h].addmm_(rows[h].view(n, num_r).t(), x_hm[h])


def batch_chunks(bsz: int, heads: int, seqlen: int, num_r: int, arrays: int) -> list[tuple[int, int]]:
    """[(b0, b1), ...] covering range(bsz): chunks whose ``arrays`` interval-space arrays (H, b1 - b0, L, R) fp32
    fit ``INTERVAL_SPACE_BYTES`` together (at least one sequence a chunk) and, with ``WITHIN_NAIVE_OVER_D``, the
    naive form's bytes over d, 8 B L^2 (a multiple of CHUNK_ALIGN sequences, at least CHUNK_ALIGN). From the shapes
    alone."""
    per_seq = arrays * heads * seqlen * num_r * 4
    size = max(1, INTERVAL_SPACE_BYTES // per_seq)
    if WITHIN_NAIVE_OVER_D:
        within = 8 * bsz * seqlen * seqlen // per_seq // CHUNK_ALIGN * CHUNK_ALIGN
        size = min(size, max(CHUNK_ALIGN, within))
    return [(b0, min(b0 + size, bsz)) for b0 in range(0, bsz, size)]


def kernel_inputs(q, k, v, interval_k, interval_v, times, seq_len):
    """The operands as the kernels index them: dense, times and seq_len int32 on q's device."""
    q, k, v, interval_k, interval_v = (t.contiguous() for t in (q, k, v, interval_k, interval_v))
    times = times.to(torch.int32).contiguous()
    seq_len = seq_len.to(device=q.device, dtype=torch.int32).contiguous()
    return q, k, v, interval_k, interval_v, times, seq_len


def draw_seed(q: torch.Tensor, dropout_p: float, seq_len: torch.Tensor) -> torch.Tensor:
    """The dropout seed, (1,) int64 drawn on q's device (torch's generator), so that a CUDA graph of the step
    draws a new one each replay; without dropout the kernels never read it (seq_len stands in)."""
    return torch.randint(0, 2**31 - 1, (1,), device=q.device) if dropout_p > 0 else seq_len


def interval_fwd(q, k, v, interval_k, interval_v, times, seq_len, dropout_p, seed):
    """(out (B, H, L, Dh), lse (B, H, L) fp32) for operands as ``kernel_inputs`` gives them, over batch chunks
    (``batch_chunks``, two interval-space arrays: qE and the bins P)."""
    bsz, heads, seqlen, dh = q.shape
    num_r = interval_k.shape[0]
    out = torch.empty_like(q)
    lse = torch.empty(bsz, heads, seqlen, device=q.device, dtype=torch.float32)
    blk = _blocks(seqlen, dh, num_r)
    block_m = _block_m(blk["BLOCK_L"])
    for b0, b1 in batch_chunks(bsz, heads, seqlen, num_r, arrays=2):
        _fwd_chunk(slice(b0, b1), q, k, v, interval_k, interval_v, times, seq_len, out, lse, dropout_p, seed,
                   blk, block_m)
    return out, lse


def _fwd_chunk(c, q, k, v, interval_k, interval_v, times, seq_len, out, lse, dropout_p, seed, blk, block_m):
    """The forward on batch rows c (a slice), into out[c] and lse[c]; its interval-space arrays die on return."""
    bsz, heads, seqlen, dh = q[c].shape
    qe = interval_space(head_major(q[c]), interval_k)
    bins = torch.zeros(qe.shape, device=qe.device, dtype=torch.float32)  # qe is bf16 under autocast
    _interval_attn_fwd_kernel[(triton.cdiv(seqlen, block_m), bsz * heads)](
        q[c], k[c], v[c], interval_v, qe, times[c], seq_len[c], out[c], lse[c], bins,
        seqlen, heads, dh, interval_k.shape[0], 1.0 / math.sqrt(dh), float(dropout_p), seed, c.start,
        DROPOUT=dropout_p > 0, UPCAST=triton_interpret(), BLOCK_M=block_m, **blk, num_warps=4)


def interval_bwd(dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, dropout_p, seed):
    """(dq, dk, dv, dinterval_k, dinterval_v) of ``interval_fwd``'s out for the output gradient dout, over batch
    chunks (``batch_chunks``, four interval-space arrays: qE, dE, dqE and the recomputed bins P)."""
    bsz, heads, seqlen, dh = q.shape
    num_r = interval_k.shape[0]
    dout = dout.contiguous()
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    blk = _blocks(seqlen, dh, num_r)
    block_m = _block_m(blk["BLOCK_L"])
    # summed over the chunks; two allocations, as the op's outputs may not alias one another
    dik, div = (torch.zeros(num_r, heads, dh, device=q.device, dtype=torch.float32) for _ in range(2))
    for b0, b1 in batch_chunks(bsz, heads, seqlen, num_r, arrays=4):
        _bwd_chunk(slice(b0, b1), dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, dq, dk, dv, dik,
                   div, dropout_p, seed, blk, block_m)
    return dq, dk, dv, dik.to(interval_k.dtype), div.to(interval_v.dtype)


def _bwd_chunk(c, dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, dq, dk, dv, dik, div, dropout_p,
               seed, blk, block_m):
    """The backward on batch rows c (a slice): writes dq[c], dk[c], dv[c] and adds this chunk's parts of
    d interval_k and d interval_v to dik and div (R, H, Dh) fp32; its interval-space arrays die on return."""
    bsz, heads, seqlen, dh = q[c].shape
    dlt = (dout[c].float() * out[c].float()).sum(-1).contiguous()  # its (b, H, L, Dh) product dies first
    q_hm, dout_hm = head_major(q[c]), head_major(dout[c])
    qe = interval_space(q_hm, interval_k)
    de = interval_space(dout_hm, interval_v)
    dqe, bins = torch.zeros((2, *qe.shape), device=qe.device, dtype=torch.float32)  # one fill for both
    common = (seqlen, heads, dh, interval_k.shape[0], 1.0 / math.sqrt(dh), float(dropout_p), seed, c.start)
    flags = dict(DROPOUT=dropout_p > 0, UPCAST=triton_interpret(), BLOCK_L=blk["BLOCK_L"], BLOCK_D=blk["BLOCK_D"],
                 num_warps=4)
    grid = (triton.cdiv(seqlen, block_m), bsz * heads)
    _interval_attn_bwd_dq_kernel[grid](
        q[c], k[c], v[c], interval_k, qe, de, times[c], seq_len[c], dout[c], lse[c], dlt, dq[c], dqe, bins, *common,
        BLOCK_M=block_m, BLOCK_R=blk["BLOCK_R"], R_CHUNKS=blk["R_CHUNKS"], **flags)
    _interval_attn_bwd_dkdv_kernel[grid](
        q[c], k[c], v[c], qe, de, times[c], seq_len[c], dout[c], lse[c], dlt, dk[c], dv[c], *common,
        BLOCK_N=block_m, **flags)
    add_interval_grad(dik, dqe, q_hm)
    add_interval_grad(div, bins, dout_hm)


class _IntervalAttentionFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, interval_k, interval_v, times, seq_len, dropout_p):
        q, k, v, interval_k, interval_v, times, seq_len = kernel_inputs(q, k, v, interval_k, interval_v, times,
                                                                        seq_len)
        seed = draw_seed(q, dropout_p, seq_len)
        out, lse = interval_fwd(q, k, v, interval_k, interval_v, times, seq_len, dropout_p, seed)
        ctx.save_for_backward(q, k, v, interval_k, interval_v, times, seq_len, out, lse, seed)
        ctx.dropout_p = dropout_p
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, interval_k, interval_v, times, seq_len, out, lse, seed = ctx.saved_tensors
        grads = interval_bwd(dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, ctx.dropout_p, seed)
        return (*grads, None, None, None)


def interval_attention_fused(q, k, v, interval_k, interval_v, times, seq_len, dropout_p=0.0) -> torch.Tensor:
    """out (B, H, L, Dh) like ``interval_attention_ref``; differentiable in q, k, v, interval_k, interval_v."""
    check_interval_attention_shapes(q, k, v, interval_k, interval_v, times, seq_len)
    if reason := fused_supports(q.shape[2], q.shape[3]):
        raise BackendUnavailable(f"interval_attention: {reason}; use backend='torch'")
    return _IntervalAttentionFn.apply(q, k, v, interval_k, interval_v, times, seq_len, dropout_p)


def dropout_keep_mask(seed: int | torch.Tensor, bsz: int, heads: int, seqlen: int, dropout_p: float,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """The (B, H, L, L) bool keep mask the kernels draw for ``seed`` (an int, or the (1,) int64 tensor the op
    draws on the device; for tests against the reference)."""
    out = torch.empty(bsz * heads, seqlen, seqlen, device=device, dtype=torch.int8)
    block = max(16, triton.next_power_of_2(seqlen))
    seed_t = torch.as_tensor(seed, dtype=torch.int64, device=device).reshape(1)
    _keep_mask_kernel[(bsz * heads,)](out, seed_t, seqlen, float(dropout_p), BLOCK_L=block)
    return out.view(bsz, heads, seqlen, seqlen).bool()


@triton.jit
def _keep_mask_kernel(out_ptr, seed_ptr, seqlen, dropout_p, BLOCK_L: tl.constexpr):
    bh = tl.program_id(0)
    offs = tl.arange(0, BLOCK_L)
    mask = (offs[:, None] < seqlen) & (offs[None, :] < seqlen)
    keep = _keep(tl.load(seed_ptr), bh, seqlen, offs[:, None], offs[None, :], dropout_p)
    tl.store(out_ptr + (bh * seqlen + offs[:, None]) * seqlen + offs[None, :], keep.to(tl.int8), mask=mask)
