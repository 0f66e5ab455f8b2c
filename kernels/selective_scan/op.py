"""The sequential selective scan's kernels as torch.library custom ops, the form ``selective_scan`` takes under
``torch.compile``: one graph with the ops around it (see ``kernels.ssd.op``). Forward ``seqrec::selective_scan_fwd``:
(out (B, D, L), Bt, Ct (B, L_pad, BLOCK_N), ckpt), the last three kept for the backward. Backward
``seqrec::selective_scan_bwd``: (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias) shaped like their inputs, size 0 where
the optional input is None.
"""

from __future__ import annotations

import torch

from kernels.custom_ops import fake_like, none_where_absent, or_empty
from kernels.selective_scan.sequential import _config, ckpt_numel, sequential_bwd, sequential_fwd


@torch.library.custom_op("seqrec::selective_scan_fwd", mutates_args=())
def selective_scan_fwd(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                       D: torch.Tensor | None, z: torch.Tensor | None, delta_bias: torch.Tensor | None,
                       delta_softplus: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(out, Bt, Ct, ckpt); arguments as ``kernels.selective_scan.selective_scan``."""
    return sequential_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, store_ckpt=True)


@selective_scan_fwd.register_fake
def _fwd_fake(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    bsz, dim, seqlen = u.shape
    nstate = A.shape[1]
    cfg = _config(dim, nstate, seqlen)
    steps = cfg["n_chunks"] * cfg["chunk"]
    return (u.new_empty(u.shape), B.new_empty(bsz, steps, cfg["block_n"]), C.new_empty(bsz, steps, cfg["block_n"]),
            u.new_empty(ckpt_numel(bsz, dim, nstate, cfg["n_chunks"], True), dtype=torch.float32))


@torch.library.custom_op("seqrec::selective_scan_bwd", mutates_args=())
def selective_scan_bwd(dout: torch.Tensor, u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bt: torch.Tensor,
                       Ct: torch.Tensor, D: torch.Tensor | None, z: torch.Tensor | None,
                       delta_bias: torch.Tensor | None, ckpt: torch.Tensor, delta_softplus: bool,
                       b_dtype: torch.dtype, c_dtype: torch.dtype
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                  torch.Tensor, torch.Tensor]:
    """(du, ddelta, dA, dB, dC, dD, dz, ddelta_bias); dB, dC (B, N, L) in b_dtype, c_dtype."""
    du, ddelta, dA, dB, dC, dD, dz, dbias = sequential_bwd(dout, u, delta, A, Bt, Ct, D, z, delta_bias, ckpt,
                                                          delta_softplus, b_dtype, c_dtype)
    # dB and dC are strided views of one buffer: outputs of a custom op are dense and share no storage
    dense = torch.contiguous_format
    return (du, ddelta, dA, dB.clone(memory_format=dense), dC.clone(memory_format=dense), or_empty(dD, u),
            or_empty(dz, u), or_empty(dbias, u))


@selective_scan_bwd.register_fake
def _bwd_fake(dout, u, delta, A, Bt, Ct, D, z, delta_bias, ckpt, delta_softplus, b_dtype, c_dtype):
    bsz, _, seqlen = u.shape
    bc_shape = (bsz, A.shape[1], seqlen)
    return (fake_like(u, u), fake_like(delta, u), fake_like(A, u), u.new_empty(bc_shape, dtype=b_dtype),
            u.new_empty(bc_shape, dtype=c_dtype), *(fake_like(t, u) for t in (D, z, delta_bias)))


def _setup_context(ctx, inputs, output):
    u, delta, A, B, C, D, z, delta_bias, delta_softplus = inputs
    _, Bt, Ct, ckpt = output
    ctx.save_for_backward(u, delta, A, Bt, Ct, D, z, delta_bias, ckpt)
    ctx.delta_softplus = delta_softplus
    ctx.dtypes = (B.dtype, C.dtype)
    ctx.mark_non_differentiable(Bt, Ct, ckpt)


def _backward(ctx, dout, _dBt, _dCt, _dckpt):
    u, delta, A, Bt, Ct, D, z, delta_bias, ckpt = ctx.saved_tensors
    grads = selective_scan_bwd(dout, u, delta, A, Bt, Ct, D, z, delta_bias, ckpt, ctx.delta_softplus, *ctx.dtypes)
    return (*none_where_absent(grads, (u, delta, A, Bt, Ct, D, z, delta_bias)), None)  # Bt, Ct: B and C are given


selective_scan_fwd.register_autograd(_backward, setup_context=_setup_context)
