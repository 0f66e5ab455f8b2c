"""Blocks every model shares: the base class (item embedding, read-out at the last real position,
full-sort scores, cross-entropy over all items with tied embeddings), the position-wise FFN and the
RecBole-style weight initialisation.

Conventions (all models): ``item_seq (B, L)`` int64 right-padded with 0, ``seq_len (B,)`` int64 >= 1,
``time_seq (B, L)`` int64 Unix seconds (0 at padding). Items are 1..n_items, 0 is padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import kernels
from models.item_table import ItemEmbedding, loss_logits


def padding_mask(seq_len: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, L) bool, True at real positions."""
    return torch.arange(max_len, device=seq_len.device)[None, :] < seq_len[:, None]


def gather_last(hidden: torch.Tensor, seq_len: torch.Tensor) -> torch.Tensor:
    """(B, L, d) per-position states -> (B, d) state at position seq_len - 1."""
    index = (seq_len - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, hidden.size(-1))
    return hidden.gather(1, index).squeeze(1)


def support_backend(backend: str) -> str:
    """Backend of the ops around a model's sequence mixer (causal conv, norms) given the model's backend: ours
    (``auto``/``triton``) as asked; the references for ``torch`` and for ``mamba_ssm``: that provider swaps in
    mamba-ssm's scans only, with PyTorch's conv (as mamba-ssm's blocks run it without the separate causal-conv1d
    package, not installed here) and PyTorch's norms."""
    return "torch" if backend in ("torch", "mamba_ssm") else backend


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last dimension, run by ``kernels.layer_norm`` (our Triton kernel on CUDA under the
    backends auto / triton, PyTorch's otherwise); same parameters, state dict and init. A model with a ``backend``
    points its norms at it with ``set_norm_backend``."""

    backend = "auto"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return kernels.layer_norm(x, self.weight, self.bias, self.eps, backend=self.backend)


def set_norm_backend(model: nn.Module, backend: str) -> None:
    """Every ``LayerNorm`` of ``model`` runs on ``support_backend(backend)``."""
    for m in model.modules():
        if isinstance(m, LayerNorm):
            m.backend = support_backend(backend)


class FeedForward(nn.Module):
    """Position-wise FFN with residual and LayerNorm (post-LN, as RecBole):
    ``LN(x + Dropout(W2 Dropout(GELU(W1 x))))``; x (B, L, d) -> (B, L, d)."""

    def __init__(self, hidden_size: int, inner_size: int, dropout: float, eps: float = 1e-12):
        super().__init__()
        self.w1 = nn.Linear(hidden_size, inner_size)
        self.w2 = nn.Linear(inner_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.norm = LayerNorm(hidden_size, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.w2(self.dropout(F.gelu(self.w1(x)))))
        return self.norm(x + h)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """RecBole's init: N(0, std) for Linear and Embedding weights, zero biases, LayerNorm to (1, 0).
    Apply with ``model.apply(init_weights)`` *before* any block-specific init (e.g. SSM dt bias)."""
    if isinstance(module, nn.Linear | nn.Embedding):
        module.weight.data.normal_(mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.weight.data.fill_(1.0)
        module.bias.data.zero_()


class SeqRecModel(nn.Module):
    """Base class: subclasses implement ``encode`` and set ``self.item_embedding``.

    ``encode(item_seq, seq_len, time_seq) -> (B, L, d)``: per-position states (only positions
    < seq_len are read). Scores are ``h @ E^T`` with the item embedding E tied to the input.
    """

    item_embedding: nn.Embedding

    def __init__(self, n_items: int, hidden_size: int):
        super().__init__()
        self.n_items = n_items
        self.hidden_size = hidden_size
        self.item_embedding = ItemEmbedding(n_items + 1, hidden_size)

    def encode(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        """(B, L) inputs -> (B, d) user state read at the last real position."""
        return gather_last(self.encode(item_seq, seq_len, time_seq), seq_len)

    def full_scores(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        """(B, n_items + 1) scores over all items; column 0 is padding and is never ranked."""
        return self.forward(item_seq, seq_len, time_seq) @ self.item_embedding.weight.t()

    def loss(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor,
             target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the target over all real items (padding column excluded)."""
        h = self.forward(item_seq, seq_len, time_seq)
        return F.cross_entropy(loss_logits(h, self.item_embedding.weight), target - 1)
