"""Layer norm over the last dimension in Triton, forward and backward (``layer_norm_fused``).

x (..., C) is viewed as R rows of C (last dimension contiguous; otherwise copied once). A program takes a
(BLOCK_R, BLOCK_C) tile of whole rows, BLOCK_C = C padded to a power of 2 and BLOCK_R * BLOCK_C about 4096
elements (64 rows at C=64), so that every lane works on the models' narrow rows.

Forward: per row mean and rstd = 1 / sqrt(var + eps) in fp32 (var of the centred values, biased, as PyTorch);
y = (x - mean) * rstd * weight + bias, stored in the output dtype; mean and rstd (R,) fp32 are kept for the
backward when a gradient is needed.
Backward: at most ``MAX_BWD_PROGRAMS`` row programs, each walking a power of 2 of consecutive tiles. With
xhat = (x - mean) rstd and g = dy * weight: dx = rstd (g - mean_c(g) - xhat mean_c(g xhat)); dweight and dbias
(sums over rows of dy xhat and dy) are summed per program in fp32 registers and written to a (programs, 2, C)
buffer reduced by one ``.sum(0)`` (deterministic, no atomics). Offsets are int64. All arithmetic is fp32; x may
be fp32/fp16/bf16 (dx in x's dtype, dweight and dbias in the parameters' dtypes).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.norm.ref import check_layer_norm

TILE = 4096  # elements of one program's tile
NUM_WARPS = 8  # 16 elements of a tile a thread (Triton's layer-norm tutorial: a warp per 256 elements, at most 8)
MAX_BWD_PROGRAMS = 1024  # backward row programs: each writes C * 2 partial sums


@triton.jit
def _tile(x_ptr, tile, R, C, stride_r, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """Rows of one tile, the tile's mask and int64 element offsets (rows ``stride_r`` apart, columns contiguous);
    x as an fp32 (BLOCK_R, BLOCK_C) tile."""
    rows = tile * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.arange(0, BLOCK_C)
    mask = (rows < R)[:, None] & (cols < C)[None, :]
    offs = rows.to(tl.int64)[:, None] * stride_r + cols[None, :]
    return rows, mask, offs, tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)


@triton.jit(do_not_specialize=["R"])  # rows (B*L): a partial batch reuses it
def _ln_fwd_kernel(x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, R, C, eps,
                   HAS_W: tl.constexpr, HAS_B: tl.constexpr, STORE_STATS: tl.constexpr,
                   BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows, mask, offs, x = _tile(x_ptr, tl.program_id(0), R, C, C, BLOCK_R, BLOCK_C)
    cols = tl.arange(0, BLOCK_C)
    mean = tl.sum(x, axis=1) / C
    xc = tl.where(mask, x - mean[:, None], 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=1) / C + eps)
    y = xc * rstd[:, None]
    if HAS_W:
        y = y * tl.load(w_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)[None, :]
    if HAS_B:
        y = y + tl.load(b_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)[None, :]
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)
    if STORE_STATS:
        tl.store(mean_ptr + rows, mean, mask=rows < R)
        tl.store(rstd_ptr + rows, rstd, mask=rows < R)


@triton.jit(do_not_specialize=["R", "tiles_per_prog"])  # a partial batch reuses it
def _ln_bwd_kernel(x_ptr, w_ptr, dy_ptr, mean_ptr, rstd_ptr, dx_ptr, part_ptr, R, C,
                   HAS_W: tl.constexpr, tiles_per_prog, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_C)
    w = tl.full((BLOCK_C,), 1.0, tl.float32)
    if HAS_W:
        w = tl.load(w_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)
    dw = tl.zeros((BLOCK_C,), tl.float32)
    db = tl.zeros((BLOCK_C,), tl.float32)
    for i in range(0, tiles_per_prog):  # consecutive tiles; rows past R are masked
        rows, mask, offs, x = _tile(x_ptr, pid * tiles_per_prog + i, R, C, C, BLOCK_R, BLOCK_C)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + rows, mask=rows < R, other=0.0)
        rstd = tl.load(rstd_ptr + rows, mask=rows < R, other=0.0)
        xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
        g = dy * w[None, :]
        c1 = tl.sum(g * xhat, axis=1) / C
        c2 = tl.sum(g, axis=1) / C
        dx = (g - xhat * c1[:, None] - c2[:, None]) * rstd[:, None]
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw += tl.sum(dy * xhat, axis=0)
        db += tl.sum(dy, axis=0)
    tl.store(part_ptr + pid * 2 * C + cols, dw, mask=cols < C)
    tl.store(part_ptr + (pid * 2 + 1) * C + cols, db, mask=cols < C)


def _blocks(C: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_C): whole rows, about ``TILE`` elements a tile."""
    block_c = triton.next_power_of_2(C)
    return max(1, TILE // block_c), block_c


def bwd_programs(R: int, block_r: int) -> tuple[int, int]:
    """(programs, tiles each) of a backward over R rows: at most ``MAX_BWD_PROGRAMS``, a power of 2 of tiles a
    program (few variants compile over batch sizes)."""
    n_tiles = triton.cdiv(R, block_r)
    tiles_per_prog = triton.next_power_of_2(triton.cdiv(max(n_tiles, 1), MAX_BWD_PROGRAMS))
    return max(1, triton.cdiv(n_tiles, tiles_per_prog)), tiles_per_prog


def as_rows(t: torch.Tensor, dense: bool = False) -> torch.Tensor:
    """(..., C) -> (R, C) with contiguous columns, a view where the rows are evenly strided (a slice of a wider
    last dimension stays a view) and, when ``dense``, exactly C apart; else a copy."""
    t2 = t.reshape(-1, t.shape[-1])
    if t2.stride(-1) != 1 or (dense and t2.shape[0] > 1 and t2.stride(0) != t2.shape[1]):
        return t2.contiguous()
    return t2


def partial_sums(n_progs: int, width: int, R: int, device: torch.device) -> torch.Tensor:
    """The backward's per-program fp32 partial sums (n_progs, width): every program writes its row, so no zeroing
    unless no program runs (R = 0)."""
    return (torch.zeros if R == 0 else torch.empty)(n_progs, width, device=device, dtype=torch.float32)


class _LayerNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps, out_dtype, need_stats):
        shape, C = x.shape, x.shape[-1]
        x2 = as_rows(x, dense=True)
        R = x2.shape[0]
        block_r, block_c = _blocks(C)
        y = torch.empty(R, C, device=x.device, dtype=out_dtype or x.dtype)
        f32 = dict(device=x.device, dtype=torch.float32)
        mean, rstd = (torch.empty(R if need_stats else 1, **f32) for _ in range(2))
        if R > 0:
            _ln_fwd_kernel[(triton.cdiv(R, block_r),)](
                x2, weight if weight is not None else x2, bias if bias is not None else x2, y, mean, rstd, R, C,
                float(eps), HAS_W=weight is not None, HAS_B=bias is not None, STORE_STATS=need_stats,
                BLOCK_R=block_r, BLOCK_C=block_c, num_warps=NUM_WARPS)
        ctx.save_for_backward(x2, weight, bias, mean, rstd)
        ctx.shape = shape
        return y.view(shape)

    @staticmethod
    def backward(ctx, dy):
        x2, weight, bias, mean, rstd = ctx.saved_tensors
        R, C = x2.shape
        dy2 = as_rows(dy, dense=True)
        block_r, block_c = _blocks(C)
        n_progs, tiles_per_prog = bwd_programs(R, block_r)
        dx = torch.empty(R, C, device=x2.device, dtype=x2.dtype)
        part = partial_sums(n_progs, 2 * C, R, x2.device).view(n_progs, 2, C)
        if R > 0:
            _ln_bwd_kernel[(n_progs,)](
                x2, weight if weight is not None else x2, dy2, mean, rstd, dx, part, R, C,
                HAS_W=weight is not None, tiles_per_prog=tiles_per_prog, BLOCK_R=block_r, BLOCK_C=block_c,
                num_warps=NUM_WARPS)
        sums = part.sum(0)
        dw = sums[0].to(weight.dtype) if weight is not None else None
        db = sums[1].to(bias.dtype) if bias is not None else None
        return dx.view(ctx.shape), dw, db, None, None, None


def layer_norm_fused(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float,
                     out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """y (..., C) like ``layer_norm_ref``, in ``out_dtype`` (default x's); differentiable in x, weight, bias."""
    check_layer_norm(x, weight, bias)
    if x.dtype == torch.float64:
        raise TypeError("layer_norm_fused: float64 is not supported by the Triton kernel; use backend='torch'")
    need_stats = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias))
    return _LayerNormFn.apply(x, weight, bias, eps, out_dtype, need_stats)
