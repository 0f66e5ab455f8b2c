"""Gated RMS norm in Triton, forward and backward (``gated_rms_norm_fused``): the SSD mixer's
``g = y * silu(z)``, ``out = g / sqrt(mean(g^2) + eps) * weight`` over the last dimension (mamba-ssm's
``norm_before_gate=False``), as ``kernels.norm.ref.gated_rms_norm_ref``.

Tiles of whole rows as ``kernels.norm.fused`` (the layer norm). z is read through its row stride (the models pass
a slice of the in_proj output; nothing is copied). The forward keeps only rstd (R,) fp32; the backward recomputes
g. With r = rstd and h = dout * weight: dg = r h - g r^3 mean_c(h g); dy = dg silu(z);
dz = dg y sigmoid(z) (1 + z (1 - sigmoid(z))); dweight = sum over rows of dout g r (per-program partial sums,
reduced by one ``.sum(0)``). All arithmetic is fp32; out and dy in y's dtype, dz in z's, dweight in weight's.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.norm.fused import NUM_WARPS, _blocks, _tile, as_rows, bwd_programs, partial_sums
from kernels.norm.ref import check_gated_rms_norm


@triton.jit(do_not_specialize=["R"])  # rows (B*L): a partial batch reuses it
def _gated_rms_fwd_kernel(y_ptr, z_ptr, w_ptr, out_ptr, rstd_ptr, R, C, sz_r, eps, STORE_STATS: tl.constexpr,
                          BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows, mask, offs, y = _tile(y_ptr, tl.program_id(0), R, C, C, BLOCK_R, BLOCK_C)
    _, _, _, z = _tile(z_ptr, tl.program_id(0), R, C, sz_r, BLOCK_R, BLOCK_C)
    cols = tl.arange(0, BLOCK_C)
    g = y * z * tl.sigmoid(z)
    rstd = 1.0 / tl.sqrt(tl.sum(g * g, axis=1) / C + eps)
    w = tl.load(w_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)
    tl.store(out_ptr + offs, (g * rstd[:, None] * w[None, :]).to(out_ptr.dtype.element_ty), mask=mask)
    if STORE_STATS:
        tl.store(rstd_ptr + rows, rstd, mask=rows < R)


@triton.jit(do_not_specialize=["R", "tiles_per_prog"])  # a partial batch reuses it
def _gated_rms_bwd_kernel(y_ptr, z_ptr, w_ptr, dout_ptr, rstd_ptr, dy_ptr, dz_ptr, part_ptr, R, C, sz_r,
                          tiles_per_prog, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_C)
    w = tl.load(w_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)
    dw = tl.zeros((BLOCK_C,), tl.float32)
    for i in range(0, tiles_per_prog):  # consecutive tiles; rows past R are masked
        tile = pid * tiles_per_prog + i
        rows, mask, offs, y = _tile(y_ptr, tile, R, C, C, BLOCK_R, BLOCK_C)
        _, _, offs_z, z = _tile(z_ptr, tile, R, C, sz_r, BLOCK_R, BLOCK_C)
        dout = tl.load(dout_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        r = tl.load(rstd_ptr + rows, mask=rows < R, other=0.0)
        sz = tl.sigmoid(z)
        silu = z * sz
        g = y * silu
        h = dout * w[None, :]
        c = tl.sum(h * g, axis=1) / C
        dg = r[:, None] * h - g * (r * r * r * c)[:, None]
        tl.store(dy_ptr + offs, (dg * silu).to(dy_ptr.dtype.element_ty), mask=mask)
        tl.store(dz_ptr + offs, (dg * y * sz * (1.0 + z * (1.0 - sz))).to(dz_ptr.dtype.element_ty), mask=mask)
        dw += tl.sum(dout * g * r[:, None], axis=0)
    tl.store(part_ptr + pid * C + cols, dw, mask=cols < C)


class _GatedRMSNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, z, weight, eps, need_stats):
        shape, C = y.shape, y.shape[-1]
        y2, z2 = as_rows(y, dense=True), as_rows(z)
        R = y2.shape[0]
        block_r, block_c = _blocks(C)
        out = torch.empty(R, C, device=y.device, dtype=y.dtype)
        rstd = torch.empty(R if need_stats else 1, device=y.device, dtype=torch.float32)
        if R > 0:
            _gated_rms_fwd_kernel[(triton.cdiv(R, block_r),)](
                y2, z2, weight, out, rstd, R, C, z2.stride(0), float(eps), STORE_STATS=need_stats,
                BLOCK_R=block_r, BLOCK_C=block_c, num_warps=NUM_WARPS)
        ctx.save_for_backward(y2, z2, weight, rstd)
        ctx.shapes = (shape, z.shape)
        return out.view(shape)

    @staticmethod
    def backward(ctx, dout):
        y2, z2, weight, rstd = ctx.saved_tensors
        y_shape, z_shape = ctx.shapes
        R, C = y2.shape
        dout2 = as_rows(dout, dense=True)
        block_r, block_c = _blocks(C)
        n_progs, tiles_per_prog = bwd_programs(R, block_r)
        dy = torch.empty(R, C, device=y2.device, dtype=y2.dtype)
        dz = torch.empty(R, C, device=y2.device, dtype=z2.dtype)
        part = partial_sums(n_progs, C, R, y2.device)
        if R > 0:
            _gated_rms_bwd_kernel[(n_progs,)](
                y2, z2, weight, dout2, rstd, dy, dz, part, R, C, z2.stride(0),
                tiles_per_prog=tiles_per_prog, BLOCK_R=block_r, BLOCK_C=block_c, num_warps=NUM_WARPS)
        return dy.view(y_shape), dz.view(z_shape), part.sum(0).to(weight.dtype), None, None


def gated_rms_norm_fused(y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """out (..., C) like ``gated_rms_norm_ref``; differentiable in y, z and weight."""
    check_gated_rms_norm(y, z, weight)
    if y.dtype == torch.float64:
        raise TypeError("gated_rms_norm_fused: float64 is not supported by the Triton kernel; use backend='torch'")
    need_stats = torch.is_grad_enabled() and any(t.requires_grad for t in (y, z, weight))
    return _GatedRMSNormFn.apply(y, z, weight, eps, need_stats)
