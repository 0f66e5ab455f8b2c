"""Pure-PyTorch pointwise time MLP (the reference for the fused kernel): TiM4Rec's scale MLP, 1 -> W -> 1 with SiLU,
on every element of the time features."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def time_mlp_ref(g: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                 b2: torch.Tensor) -> torch.Tensor:
    """g (...) -> (...): ``sum_w w2[0, w] silu(w1[w, 0] g + b1[w]) + b2[0]`` elementwise, in g's dtype; the weights
    are ``nn.Linear(1, W)``'s (W, 1), (W,) and ``nn.Linear(W, 1)``'s (1, W), (1,), as ``nn.Sequential(Linear,
    SiLU, Linear)`` computes it on g.unsqueeze(-1)."""
    _check(g, w1, b1, w2, b2)
    h = F.silu(F.linear(g.unsqueeze(-1), w1.to(g.dtype), b1.to(g.dtype)))
    return F.linear(h, w2.to(g.dtype), b2.to(g.dtype)).squeeze(-1)


def _check(g, w1, b1, w2, b2) -> None:
    W = w1.shape[0]
    shapes = {"w1": (w1.shape, (W, 1)), "b1": (b1.shape, (W,)), "w2": (w2.shape, (1, W)), "b2": (b2.shape, (1,))}
    for name, (got, want) in shapes.items():
        if tuple(got) != want:
            raise ValueError(f"time_mlp: {name} has shape {tuple(got)}, expected {want} (W = {W})")
    if not g.is_floating_point():
        raise TypeError(f"time_mlp: g must be a floating tensor, got {g.dtype}")
