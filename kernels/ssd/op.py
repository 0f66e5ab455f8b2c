"""The fused SSD kernels as torch.library custom ops, the form ``ssd`` takes under ``torch.compile``.

``torch.compiler.disable`` (the eager form's wrapper) splits a compiled model into one graph per stretch between
two kernel calls, each compiled apart (TiM4Rec: 11 graphs, most of its first epoch's compile time). A custom op
stays in the one graph as an opaque call with a fake (shape-only) implementation; inductor fuses the ops around
it. Forward ``seqrec::ssd_fwd``: y (B, L, H, P) like x. Backward ``seqrec::ssd_bwd``: the kernel's raw outputs
(dx, ddt, the per-sequence sums of dA, dD, ddt_bias, and dB, dC per head; dtime_dt, size 0 where time_dt is None:
custom ops return no None); the autograd formula sums them into the parameters' gradients in PyTorch, so that
inductor fuses those sums and casts with the ops around them.
"""

from __future__ import annotations

import torch

from kernels.custom_ops import fake_like, or_empty
from kernels.ssd.fused import _last_dim_contiguous, bc_grad_groups, ssd_fused_bwd_raw, ssd_fused_fwd, ssd_grads


@torch.library.custom_op("seqrec::ssd_fwd", mutates_args=())
def ssd_fwd(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
            D: torch.Tensor | None, dt_bias: torch.Tensor | None, time_dt: torch.Tensor | None,
            dt_softplus: bool) -> torch.Tensor:
    """y (B, L, H, P); arguments as ``kernels.ssd.ssd``."""
    x, dt, B, C, time_dt = (_last_dim_contiguous(t) for t in (x, dt, B, C, time_dt))
    return ssd_fused_fwd(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)


@ssd_fwd.register_fake
def _ssd_fwd_fake(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus):
    return fake_like(x, x)


@torch.library.custom_op("seqrec::ssd_bwd", mutates_args=())
def ssd_bwd(dy: torch.Tensor, x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
            D: torch.Tensor | None, dt_bias: torch.Tensor | None, time_dt: torch.Tensor | None,
            dt_softplus: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                        torch.Tensor]:
    """The kernel's raw gradients (dx, ddt, red, dB_raw, dC_raw, dtime_dt; ``ssd_fused_bwd_raw``), dtime_dt of
    size 0 where time_dt is None. The autograd formula sums them (``ssd_grads``), where inductor fuses the sums."""
    x, dt, B, C, time_dt = (_last_dim_contiguous(t) for t in (x, dt, B, C, time_dt))
    dx, ddt, red, dB_raw, dC_raw, dtd = ssd_fused_bwd_raw(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    return dx, ddt, red, dB_raw, dC_raw, or_empty(dtd, x)


@ssd_bwd.register_fake
def _ssd_bwd_fake(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus):
    b, L, H, _ = x.shape
    G, N = B.shape[2], B.shape[3]
    f32 = {"dtype": torch.float32}
    return (fake_like(x, x), fake_like(dt, x), x.new_empty(3, b, H, **f32),
            x.new_empty(b, L, bc_grad_groups(H, G), N, **f32), x.new_empty(b, L, bc_grad_groups(H, G), N, **f32),
            fake_like(time_dt, x))


def _setup_context(ctx, inputs, output):
    x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus = inputs
    ctx.save_for_backward(x, dt, A, B, C, D, dt_bias, time_dt)
    ctx.dt_softplus = dt_softplus


def _backward(ctx, dy):
    x, dt, A, B, C, D, dt_bias, time_dt = ctx.saved_tensors
    dx, ddt, red, dB_raw, dC_raw, dtd = ssd_bwd(dy, x, dt, A, B, C, D, dt_bias, time_dt, ctx.dt_softplus)
    dA, dB, dC, dD, dbias = ssd_grads(red, dB_raw, dC_raw, A, B, C, D, dt_bias)
    grads = (dx, ddt, dA, dB, dC, dD, dbias, None if time_dt is None else dtd)
    return (*grads, None)


ssd_fwd.register_autograd(_backward, setup_context=_setup_context)
