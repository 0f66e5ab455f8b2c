"""The fused causal conv kernels as torch.library custom ops, the form ``causal_conv1d`` takes under
``torch.compile``: one graph with the ops around it, not one per stretch between kernel calls (see
``kernels.ssd.op``). Forward ``seqrec::causal_conv1d_fwd``: y (B, L, C). Backward
``seqrec::causal_conv1d_bwd``: (dx (B, L, C), dweight (C, K), dbias (C,), size 0 when there is no bias).
"""

from __future__ import annotations

import torch

from kernels.conv.fused import causal_conv1d_fused_bwd, causal_conv1d_fused_fwd, dense_bias
from kernels.custom_ops import fake_like, none_where_absent, or_empty


@torch.library.custom_op("seqrec::causal_conv1d_fwd", mutates_args=())
def causal_conv1d_fwd(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, silu: bool) -> torch.Tensor:
    """y (B, L, C) of x (B, L, C), weight (C, K), bias (C,) | None, SiLU or none."""
    return causal_conv1d_fused_fwd(x, weight, dense_bias(bias), silu)


@causal_conv1d_fwd.register_fake
def _fwd_fake(x, weight, bias, silu):
    return fake_like(x, x)


@torch.library.custom_op("seqrec::causal_conv1d_bwd", mutates_args=())
def causal_conv1d_bwd(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      silu: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dx, dweight, dbias); dbias has size 0 when bias is None."""
    dx, dweight, dbias = causal_conv1d_fused_bwd(dy, x, weight, dense_bias(bias), silu)
    # both are slices of one (C, K + 1) sum, views of it where C = 1: outputs may not share storage
    if dbias is not None and dbias.untyped_storage().data_ptr() == dweight.untyped_storage().data_ptr():
        dbias = dbias.clone()
    return dx, dweight, or_empty(dbias, x)


@causal_conv1d_bwd.register_fake
def _bwd_fake(dy, x, weight, bias, silu):
    return tuple(fake_like(t, x) for t in (x, weight, bias))


def _setup_context(ctx, inputs, output):
    x, weight, bias, silu = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.silu = silu


def _backward(ctx, dy):
    x, weight, bias = ctx.saved_tensors
    return (*none_where_absent(causal_conv1d_bwd(dy, x, weight, bias, ctx.silu), (x, weight, bias)), None)


causal_conv1d_fwd.register_autograd(_backward, setup_context=_setup_context)
