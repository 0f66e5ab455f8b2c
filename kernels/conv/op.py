"""The fused causal conv kernels as torch.library custom ops, the form ``causal_conv1d`` takes under
``torch.compile``: one graph with the ops around it, not one per stretch between kernel calls (see
``kernels.ssd.op``). Forward ``seqrec::causal_conv1d_fwd``: y (B, L, C). Backward
``seqrec::causal_conv1d_bwd``: dx (B, L, C) and the kernel's partial sums of dweight and dbias, which the
autograd formula sums in PyTorch (inductor fuses that sum and the casts with the ops around them).

Both take ``sequential``, the backward's launch (``kernels.conv.fused.sequential_bwd``: it sets the partial sums'
rows), as an argument fixed when the graph is traced: the fake kernel and the real one agree by construction, and
the choice is part of the traced graph, so torch's compile caches (keyed by the graph) never serve one choice's
compiled backward to a run of the other (part 22's anatomy did: its compiled code expected 800 rows, the kernel gave
2,048).
"""

from __future__ import annotations

import torch

from kernels.conv.fused import (
    causal_conv1d_fused_bwd_raw,
    causal_conv1d_fused_fwd,
    conv_grads,
    conv_partials_shape,
    dense_bias,
)
from kernels.custom_ops import fake_like


@torch.library.custom_op("seqrec::causal_conv1d_fwd", mutates_args=())
def causal_conv1d_fwd(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, silu: bool,
                      sequential: bool) -> torch.Tensor:
    """y (B, L, C) of x (B, L, C), weight (C, K), bias (C,) | None, SiLU or none; ``sequential`` only goes on to the
    backward."""
    return causal_conv1d_fused_fwd(x, weight, dense_bias(bias), silu)


@causal_conv1d_fwd.register_fake
def _fwd_fake(x, weight, bias, silu, sequential):
    return fake_like(x, x)


@torch.library.custom_op("seqrec::causal_conv1d_bwd", mutates_args=())
def causal_conv1d_bwd(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      silu: bool, sequential: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(dx, partial sums (row programs, C, K + 1) fp32); the autograd formula sums the partials
    (``conv_grads``), where inductor fuses the sum and the casts."""
    return causal_conv1d_fused_bwd_raw(dy, x, weight, dense_bias(bias), silu, sequential=sequential)


@causal_conv1d_bwd.register_fake
def _bwd_fake(dy, x, weight, bias, silu, sequential):
    return fake_like(x, x), x.new_empty(conv_partials_shape(x, weight, sequential), dtype=torch.float32)


def _setup_context(ctx, inputs, output):
    x, weight, bias, silu, sequential = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.silu = silu
    ctx.sequential = sequential


def _backward(ctx, dy):
    x, weight, bias = ctx.saved_tensors
    dx, part = causal_conv1d_bwd(dy, x, weight, bias, ctx.silu, ctx.sequential)
    return (dx, *conv_grads(part, weight, bias), None, None)


causal_conv1d_fwd.register_autograd(_backward, setup_context=_setup_context)
