"""What the custom ops of ``kernels/*/op.py`` share. A custom op returns no None, so the gradient of an optional
input that is None travels as a size-0 tensor inside the op and becomes None again in its autograd formula."""

from __future__ import annotations

import torch


def or_empty(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """t, or a size-0 tensor like ``like`` where t is None."""
    return like.new_empty(0) if t is None else t


def fake_like(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """A fake op's output for t: dense, t's shape and dtype; size 0 where t is None."""
    return like.new_empty(0) if t is None else t.new_empty(t.shape)


def none_where_absent(grads, inputs) -> tuple:
    """The gradients with None for each input that is None (pairwise)."""
    return tuple(None if x is None else g for g, x in zip(grads, inputs, strict=True))
