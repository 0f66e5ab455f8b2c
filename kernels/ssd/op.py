"""The fused SSD kernels as torch.library custom ops, the form ``ssd`` takes under ``torch.compile``.

``torch.compiler.disable`` (the eager form's wrapper) splits a compiled model into one graph per stretch between
two kernel calls, each compiled apart (TiM4Rec: 11 graphs, most of its first epoch's compile time). A custom op
stays in the one graph as an opaque call with a fake (shape-only) implementation; inductor fuses the ops around
it. Forward ``seqrec::ssd_fwd``: y (B, L, H, P) like x. Backward ``seqrec::ssd_bwd``: (dx, ddt, dA, dB, dC, dD,
ddt_bias, dtime_dt), each shaped like its input; a size-0 tensor where the optional input is None (custom ops
return no None), mapped back to None by the autograd formula.
"""

from __future__ import annotations

import torch

from kernels.custom_ops import fake_like, none_where_absent, or_empty
from kernels.ssd.fused import _last_dim_contiguous, ssd_fused_bwd, ssd_fused_fwd


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
                                        torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dx, ddt, dA, dB, dC, dD, ddt_bias, dtime_dt); size 0 for an optional input that is None."""
    x, dt, B, C, time_dt = (_last_dim_contiguous(t) for t in (x, dt, B, C, time_dt))
    grads = ssd_fused_bwd(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    # dA, dD, ddt_bias are rows of one buffer: outputs of a custom op may not share storage
    dx, ddt, dA, dB, dC, dD, dbias, dtd = grads
    return dx, ddt, dA.clone(), dB, dC, or_empty(dD, x).clone(), or_empty(dbias, x).clone(), or_empty(dtd, x)


@ssd_bwd.register_fake
def _ssd_bwd_fake(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus):
    return tuple(fake_like(t, x) for t in (x, dt, A, B, C, D, dt_bias, time_dt))


def _setup_context(ctx, inputs, output):
    x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus = inputs
    ctx.save_for_backward(x, dt, A, B, C, D, dt_bias, time_dt)
    ctx.dt_softplus = dt_softplus


def _backward(ctx, dy):
    x, dt, A, B, C, D, dt_bias, time_dt = ctx.saved_tensors
    grads = ssd_bwd(dy, x, dt, A, B, C, D, dt_bias, time_dt, ctx.dt_softplus)
    return (*none_where_absent(grads, (x, dt, A, B, C, D, dt_bias, time_dt)), None)


ssd_fwd.register_autograd(_backward, setup_context=_setup_context)
