"""The fused interval attention's kernels as torch.library custom ops, the form ``interval_attention`` takes under
``torch.compile``: one graph with the ops around it (see ``kernels.ssd.op``). The dropout seed is an input, drawn
by the caller on the device, so the ops are deterministic. Forward ``seqrec::interval_attention_fwd``: (out
(B, H, L, Dh), lse (B, H, L)), lse kept for the backward (nothing in interval space is: see ``fused``). Backward
``seqrec::interval_attention_bwd``: (dq, dk, dv, dinterval_k, dinterval_v).
"""

from __future__ import annotations

import torch

from kernels.custom_ops import fake_like
from kernels.interval_attention.fused import interval_bwd, interval_fwd


@torch.library.custom_op("seqrec::interval_attention_fwd", mutates_args=())
def interval_attention_fwd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, interval_k: torch.Tensor,
                           interval_v: torch.Tensor, times: torch.Tensor, seq_len: torch.Tensor, dropout_p: float,
                           seed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, lse) for dense operands, times (B, L) and seq_len (B,) int32 (``fused.kernel_inputs``)."""
    return interval_fwd(q, k, v, interval_k, interval_v, times, seq_len, dropout_p, seed)


@interval_attention_fwd.register_fake
def _fwd_fake(q, k, v, interval_k, interval_v, times, seq_len, dropout_p, seed):
    bsz, heads, seqlen, _ = q.shape
    f32 = dict(dtype=torch.float32)
    return fake_like(q, q), q.new_empty((bsz, heads, seqlen), **f32)


@torch.library.custom_op("seqrec::interval_attention_bwd", mutates_args=())
def interval_attention_bwd(dout: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           interval_k: torch.Tensor, interval_v: torch.Tensor, times: torch.Tensor,
                           seq_len: torch.Tensor, out: torch.Tensor, lse: torch.Tensor,
                           dropout_p: float, seed: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dq, dk, dv, dinterval_k, dinterval_v), dense as the fake declares (``interval_bwd`` allocates them so)."""
    return interval_bwd(dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, dropout_p, seed)


@interval_attention_bwd.register_fake
def _bwd_fake(dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, dropout_p, seed):
    return tuple(fake_like(t, q) for t in (q, k, v, interval_k, interval_v))


def _setup_context(ctx, inputs, output):
    q, k, v, interval_k, interval_v, times, seq_len, dropout_p, seed = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, interval_k, interval_v, times, seq_len, out, lse, seed)
    ctx.dropout_p = dropout_p
    ctx.mark_non_differentiable(lse)


def _backward(ctx, dout, _dlse):
    q, k, v, interval_k, interval_v, times, seq_len, out, lse, seed = ctx.saved_tensors
    grads = interval_attention_bwd(dout, q, k, v, interval_k, interval_v, times, seq_len, out, lse, ctx.dropout_p,
                                   seed)
    return (*grads, None, None, None, None)


interval_attention_fwd.register_autograd(_backward, setup_context=_setup_context)
