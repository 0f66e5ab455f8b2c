"""The pointwise time MLP's fused kernels as torch.library custom ops (``seqrec::time_mlp_fwd``, ``..._bwd``), the
form the Triton backend takes eagerly and under ``torch.compile`` (one graph; see ``kernels.ssd.op``). The backward
op returns dg and the kernel's partial sums of the weights' gradients, which the autograd formula sums in PyTorch
(inductor fuses that sum and the casts with the ops around it)."""

from __future__ import annotations

import torch

from kernels.custom_ops import fake_like
from kernels.scalar_mlp.fused import bwd_programs, time_mlp_fused_bwd_raw, time_mlp_fused_fwd, time_mlp_grads


@torch.library.custom_op("seqrec::time_mlp_fwd", mutates_args=())
def time_mlp_fwd(g: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                 b2: torch.Tensor) -> torch.Tensor:
    """y like g; the weights as ``kernels.scalar_mlp.ref.time_mlp_ref`` takes them."""
    return time_mlp_fused_fwd(g, w1, b1, w2, b2)


@time_mlp_fwd.register_fake
def _fwd_fake(g, w1, b1, w2, b2):
    return fake_like(g, g)


@torch.library.custom_op("seqrec::time_mlp_bwd", mutates_args=())
def time_mlp_bwd(dy: torch.Tensor, g: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor,
                 w2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dg, partial sums (programs, 3 W + 1) fp32); the autograd formula sums them (``time_mlp_grads``)."""
    return time_mlp_fused_bwd_raw(dy, g, w1, b1, w2)


@time_mlp_bwd.register_fake
def _bwd_fake(dy, g, w1, b1, w2):
    n_prog, _ = bwd_programs(g.numel())
    return fake_like(g, g), g.new_empty(n_prog, 3 * w1.shape[0] + 1, dtype=torch.float32)


def _setup_context(ctx, inputs, output):
    g, w1, b1, w2, b2 = inputs
    ctx.save_for_backward(g, w1, b1, w2, b2)


def _backward(ctx, dy):
    g, w1, b1, w2, b2 = ctx.saved_tensors
    dg, part = time_mlp_bwd(dy, g, w1, b1, w2)
    return (dg, *time_mlp_grads(part, w1, b1, w2, b2))


time_mlp_fwd.register_autograd(_backward, setup_context=_setup_context)
