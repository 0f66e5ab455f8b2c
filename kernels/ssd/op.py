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

from kernels.ssd.fused import _last_dim_contiguous, ssd_fused_bwd, ssd_fused_fwd


def _dense(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(t, memory_format=torch.contiguous_format)


def _none_as_empty(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return like.new_empty(0) if t is None else t


@torch.library.custom_op("seqrec::ssd_fwd", mutates_args=())
def ssd_fwd(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
            D: torch.Tensor | None, dt_bias: torch.Tensor | None, time_dt: torch.Tensor | None,
            dt_softplus: bool) -> torch.Tensor:
    """y (B, L, H, P); arguments as ``kernels.ssd.ssd``."""
    x, dt, B, C, time_dt = (_last_dim_contiguous(t) for t in (x, dt, B, C, time_dt))
    return ssd_fused_fwd(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)


@ssd_fwd.register_fake
def _ssd_fwd_fake(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus):
    return _dense(x)


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
    return (dx, ddt, dA.clone(), dB, dC, _none_as_empty(dD, x).clone(), _none_as_empty(dbias, x).clone(),
            _none_as_empty(dtd, x))


@ssd_bwd.register_fake
def _ssd_bwd_fake(dy, x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus):
    return (_dense(x), _dense(dt), A.new_empty(A.shape), B.new_empty(B.shape), C.new_empty(C.shape),
            x.new_empty(0) if D is None else D.new_empty(D.shape),
            x.new_empty(0) if dt_bias is None else dt_bias.new_empty(dt_bias.shape),
            x.new_empty(0) if time_dt is None else _dense(time_dt))


def _setup_context(ctx, inputs, output):
    x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus = inputs
    ctx.save_for_backward(x, dt, A, B, C, D, dt_bias, time_dt)
    ctx.dt_softplus = dt_softplus


def _backward(ctx, dy):
    x, dt, A, B, C, D, dt_bias, time_dt = ctx.saved_tensors
    grads = ssd_bwd(dy, x, dt, A, B, C, D, dt_bias, time_dt, ctx.dt_softplus)
    given = (True,) * 5 + (D is not None, dt_bias is not None, time_dt is not None)
    return (*(g if keep else None for g, keep in zip(grads, given, strict=True)), None)


ssd_fwd.register_autograd(_backward, setup_context=_setup_context)
