"""``SEQREC_COMPILE_SCOPE``: what a compiled run (train config ``compile``) puts through ``torch.compile``.

- ``loss`` (the default): the training loss as one graph, the embedding, time path, every block and the scores over
  all items fused by inductor where it can.
- ``blocks``: each block of the model's layer lists (every child of an ``nn.ModuleList``: the SSD, Mamba or
  attention blocks, TiM4Rec's time layers) compiled apart, PyTorch's regional compilation; the embedding, the time
  features and the loss run eagerly. The blocks of one list share their code, so dynamo traces and inductor compiles
  a list's block once and the others reuse that graph (a guard may ask for one more: TiM4Rec's last time layer passes
  nothing on). The aim is a shorter cold start: #4's fast path spent 30-37 s of its first epoch compiling on an H200
  (part 25), 11 s of a cold first step in inductor (part 23's anatomy), for two identical blocks. What it costs is
  the fusions across blocks and in the eager parts; only a GPU run can say how much.

A compiled block runs in training with gradients on, at full batches only (``batch_size`` rows, the first tensor
argument's first dimension): an epoch's last, partial batch and the evaluation run its eager forward, as the
``loss`` scope runs them eagerly. A bad value is an error naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from models.switches import env_choice

COMPILE_SCOPE_ENV = "SEQREC_COMPILE_SCOPE"
SCOPES = ("loss", "blocks")


def compile_scope() -> str:
    """The scope ``SEQREC_COMPILE_SCOPE`` names (unset: ``loss``)."""
    return env_choice(COMPILE_SCOPE_ENV, SCOPES, "loss")


def blocks(model: nn.Module) -> list[nn.Module]:
    """The children of every ``nn.ModuleList`` in ``model``, in module order."""
    return [block for m in model.modules() if isinstance(m, nn.ModuleList) for block in m]


def _rows(args: tuple, kwargs: dict[str, Any]) -> int | None:
    """The first dimension of the first tensor argument (None: no tensor)."""
    first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
    return None if first is None else first.shape[0]


def compile_blocks(model: nn.Module, options: dict[str, Any] | None, batch_size: int | None) -> int:
    """Give each block of ``blocks(model)`` a forward that runs ``torch.compile`` of its own (with inductor
    ``options``) in training with gradients on at ``batch_size`` rows (None: any), its eager forward otherwise.
    A block given one before keeps it. Returns the number of blocks."""
    found = blocks(model)
    for block in found:
        if "_eager_forward" in vars(block):
            continue
        eager = block.forward
        compiled = torch.compile(eager, options=options or None)

        def forward(*args, _eager: Callable = eager, _compiled: Callable = compiled, _block: nn.Module = block,
                    **kwargs):
            full = batch_size is None or _rows(args, kwargs) == batch_size
            use = _block.training and torch.is_grad_enabled() and full
            return (_compiled if use else _eager)(*args, **kwargs)

        block._eager_forward = eager
        block.forward = forward
    return len(found)


__all__ = ["COMPILE_SCOPE_ENV", "SCOPES", "blocks", "compile_blocks", "compile_scope"]
