"""Triton kernels of the pointwise time MLP (``kernels.scalar_mlp.ref.time_mlp_ref``): forward and backward each one
pass over the elements, the W hidden units of an element in registers.

Forward: a program maps BLOCK elements g -> y = sum_w w2_w silu(w1_w g + b1_w) + b2, in fp32, stored in g's dtype.
Backward: ``PROGRAMS`` programs (fewer where there are fewer tiles) each walk a run of BLOCK-element tiles, store dg
and add their share of the weights' gradients to one fp32 row of partial sums (n_prog, 3 W + 1): dw1, db1, dw2,
db2; ``time_mlp_grads`` sums the rows in PyTorch (under compile inductor fuses that sum). As nn.Linear layers over
(..., 1) rows the MLP is six GEMMs a layer of inner or outer size 1 (part 17's profile: 0.25 ms of TiM4Rec's bf16
step); written out elementwise under compile, inductor's sums of the weight gradients over every row cost more
(part 18: 0.6 ms). The element count and the tile count per program are runtime arguments Triton does not specialize on
(``do_not_specialize``), so that no batch size compiles a kernel of its own.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

FWD_BLOCK = 512  # elements per forward program
BWD_BLOCK = 256  # elements per backward tile: (256, W) fp32 tiles live in registers
PROGRAMS = 512  # backward programs at most (the partial sums' rows); a constant, so the fake op knows the shape
NUM_WARPS = 4


@triton.jit(do_not_specialize=["N"])  # elements: a partial batch reuses the full batch's compilation
def _time_mlp_fwd_kernel(g_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, y_ptr, N, W: tl.constexpr, BLOCK_W: tl.constexpr,
                         BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ow = tl.arange(0, BLOCK_W)
    mw = ow < W
    w1 = tl.load(w1_ptr + ow, mask=mw, other=0.0).to(tl.float32)
    b1 = tl.load(b1_ptr + ow, mask=mw, other=0.0).to(tl.float32)
    w2 = tl.load(w2_ptr + ow, mask=mw, other=0.0).to(tl.float32)  # 0 past W: those units add nothing
    z = g[:, None] * w1[None, :] + b1[None, :]
    y = tl.sum(z * tl.sigmoid(z) * w2[None, :], axis=1) + tl.load(b2_ptr).to(tl.float32)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["N", "tiles_per_prog"])
def _time_mlp_bwd_kernel(g_ptr, dy_ptr, w1_ptr, b1_ptr, w2_ptr, dg_ptr, part_ptr, N, tiles_per_prog,
                         W: tl.constexpr, BLOCK_W: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    ow = tl.arange(0, BLOCK_W)
    mw = ow < W
    w1 = tl.load(w1_ptr + ow, mask=mw, other=0.0).to(tl.float32)
    b1 = tl.load(b1_ptr + ow, mask=mw, other=0.0).to(tl.float32)
    w2 = tl.load(w2_ptr + ow, mask=mw, other=0.0).to(tl.float32)
    dw1 = tl.zeros((BLOCK_W,), tl.float32)
    db1 = tl.zeros((BLOCK_W,), tl.float32)
    dw2 = tl.zeros((BLOCK_W,), tl.float32)
    db2 = tl.zeros((BLOCK,), tl.float32)
    for t in range(0, tiles_per_prog):
        offs = (pid * tiles_per_prog + t) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < N
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)  # 0 past N: adds nothing to the sums
        z = g[:, None] * w1[None, :] + b1[None, :]
        s = tl.sigmoid(z)
        dz = dy[:, None] * w2[None, :] * (s * (1.0 + z * (1.0 - s)))  # silu'(z) = s (1 + z (1 - s))
        tl.store(dg_ptr + offs, tl.sum(dz * w1[None, :], axis=1).to(dg_ptr.dtype.element_ty), mask=mask)
        dw1 += tl.sum(dz * g[:, None], axis=0)
        db1 += tl.sum(dz, axis=0)
        dw2 += tl.sum(dy[:, None] * z * s, axis=0)
        db2 += dy
    row = part_ptr + pid * (3 * W + 1)
    tl.store(row + ow, dw1, mask=mw)
    tl.store(row + W + ow, db1, mask=mw)
    tl.store(row + 2 * W + ow, dw2, mask=mw)
    tl.store(row + 3 * W, tl.sum(db2, axis=0))


def bwd_programs(n: int, block: int = BWD_BLOCK, programs: int = PROGRAMS) -> tuple[int, int]:
    """(programs, tiles per program) of the backward over n elements: at most ``programs`` programs."""
    tiles = max(1, triton.cdiv(n, block))
    per = triton.cdiv(tiles, min(tiles, programs))
    return triton.cdiv(tiles, per), per


def time_mlp_fused_fwd(g: torch.Tensor, w1, b1, w2, b2, block: int = FWD_BLOCK) -> torch.Tensor:
    """y like g (any shape; read as contiguous) of the MLP's weights as nn.Linear keeps them."""
    g = g.contiguous()
    y = torch.empty_like(g)
    n, W = g.numel(), w1.shape[0]
    if n:
        _time_mlp_fwd_kernel[(triton.cdiv(n, block),)](
            g, w1.contiguous(), b1.contiguous(), w2.contiguous(), b2, y, n,
            W=W, BLOCK_W=triton.next_power_of_2(W), BLOCK=block, num_warps=NUM_WARPS)
    return y


def time_mlp_fused_bwd_raw(dy: torch.Tensor, g: torch.Tensor, w1, b1, w2, block: int = BWD_BLOCK,
                           programs: int = PROGRAMS) -> tuple[torch.Tensor, torch.Tensor]:
    """(dg like g, partial sums (programs, 3 W + 1) fp32: dw1, db1, dw2, db2 per program); ``time_mlp_grads``
    sums them."""
    g, dy = g.contiguous(), dy.contiguous()
    n, W = g.numel(), w1.shape[0]
    dg = torch.empty_like(g)
    n_prog, per = bwd_programs(n, block, programs)
    if n == 0:
        return dg, torch.zeros(n_prog, 3 * W + 1, device=g.device, dtype=torch.float32)
    part = torch.empty(n_prog, 3 * W + 1, device=g.device, dtype=torch.float32)  # every program writes its whole row
    _time_mlp_bwd_kernel[(n_prog,)](
        g, dy, w1.contiguous(), b1.contiguous(), w2.contiguous(), dg, part, n, per,
        W=W, BLOCK_W=triton.next_power_of_2(W), BLOCK=block, num_warps=NUM_WARPS)
    return dg, part


def time_mlp_grads(part: torch.Tensor, w1, b1, w2, b2) -> tuple[torch.Tensor, ...]:
    """(dw1 (W, 1), db1 (W,), dw2 (1, W), db2 (1,)) in the parameters' dtypes from the partial sums."""
    W = w1.shape[0]
    total = part.sum(0)
    return (total[:W].reshape(W, 1).to(w1.dtype), total[W:2 * W].to(b1.dtype),
            total[2 * W:3 * W].reshape(1, W).to(w2.dtype), total[3 * W:].to(b2.dtype))
