"""The item table's two uses on the speed paths: the input lookup's gradient under ``torch.compile``, and the scores
over all items under autocast. Both give the values and gradients of the plain forms; only the kernels differ.

- ``ItemEmbedding``: ``nn.Embedding(n_items + 1, d, padding_idx=0)``. Under compile its lookup sends the padding
  positions' (zero) gradients to rows spread over the table instead of row 0. Inductor's ``embedding_dense_backward``
  adds every position's gradient atomically, the padding's zeros included: on amazon-beauty (mean length about 9 of
  50) some 80% of a step's positions add into row 0's d floats, and the kernel holding that sum took 0.41 of a
  compiled TiM4Rec step's 4.89 ms (part 17, ``results/full-amp-compile-cuda-graph-kernels/``).
  ``SEQREC_SPREAD_PADDING_GRAD=0`` turns it off.
- ``loss_logits``: the scores ``h @ E[1:]^T`` for the loss. Under autocast (tensor-core GEMMs) the table is padded
  with zero rows to a multiple of ``item_rows_multiple()`` items (``SEQREC_ITEM_TABLE_PAD``, default 64; 1 turns it
  off) and the padded columns get -inf through the GEMM's bias, so the cross-entropy over them is the same. An odd
  item count (amazon-beauty's 12,101) makes cuBLAS take 1-element aligned kernels for the scores' GEMMs: by
  calls and sizes about 0.13 ms of the same step (part 17).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.aligned_linear import autocast_on
from models.switches import env_flag, env_multiple

SPREAD_ENV = "SEQREC_SPREAD_PADDING_GRAD"
PAD_ENV = "SEQREC_ITEM_TABLE_PAD"


def spread_padding_grad() -> bool:
    """``SEQREC_SPREAD_PADDING_GRAD``: 1 (default) or 0."""
    return env_flag(SPREAD_ENV)


def item_rows_multiple() -> int:
    """``SEQREC_ITEM_TABLE_PAD``: the item count the loss's scores are padded to a multiple of (1: not padded)."""
    return env_multiple(PAD_ENV, 64)


def embed_spreading_padding_grad(idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """idx (...) int64 in [0, V), weight (V, d) with V >= 2 -> (..., d): ``weight[idx]``, row 0 (padding) read
    from a detached copy, so it gets no gradient (``padding_idx=0``); the lookup behind the other positions reads
    row 1 + (position mod (V - 1)) at padding positions, where its (zero) gradient lands instead of row 0."""
    pad = idx == 0
    position = torch.arange(idx.numel(), device=idx.device).view(idx.shape)
    spread = torch.where(pad, 1 + position % (weight.shape[0] - 1), idx)
    return torch.where(pad.unsqueeze(-1), weight[0].detach(), F.embedding(spread, weight))


class ItemEmbedding(nn.Embedding):
    """The item table (n_items + 1, d), row 0 padding: ``nn.Embedding(..., padding_idx=0)`` (same parameters and
    state dict); under ``torch.compile`` the lookup is ``embed_spreading_padding_grad``."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__(num_embeddings, embedding_dim, padding_idx=0)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling() and self.num_embeddings > 1 and spread_padding_grad():
            return embed_spreading_padding_grad(idx, self.weight)
        return super().forward(idx)


def loss_logits(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """h (B, d), weight (n_items + 1, d), row 0 padding -> (B, N) scores of items 1..n_items in columns
    0..n_items - 1; N = n_items, or under autocast n_items rounded up to ``item_rows_multiple()`` with -inf in the
    columns past n_items (softmax weight 0, no gradient)."""
    table = weight[1:]
    n_items = table.shape[0]
    pad = -n_items % item_rows_multiple() if autocast_on(h) else 0  # the variable is read under autocast only
    if pad == 0:
        return h @ table.t()
    bias = torch.zeros(n_items + pad, device=h.device, dtype=h.dtype)
    bias[n_items:] = float("-inf")
    return torch.addmm(bias, h, F.pad(table, (0, 0, 0, pad)).t())
