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
  calls and sizes about 0.13 ms of the same step (part 17). ``SEQREC_FP32_SCORES=1`` computes them in fp32 under
  autocast too (autocast off for that GEMM): bf16 keeps 8 significant bits, so a score of 8 is rounded to a step of 1/16
  (up to 3% of its softmax weight), and bf16 training's NDCG@10 is about 1% below fp32's. None of that is here:
  over 10 paired seeds on an H200 (parts 20-21) fp32 scores moved it -0.06% (p = 0.65) and cost 17 ms an epoch, so
  the switch is off by default (results/full-amp-compile-cuda-graph-fp32-scores-seeds/README.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels.dispatch import autocast_on
from models.switches import env_flag, env_multiple

SPREAD_ENV = "SEQREC_SPREAD_PADDING_GRAD"
PAD_ENV = "SEQREC_ITEM_TABLE_PAD"
FP32_SCORES_ENV = "SEQREC_FP32_SCORES"


def spread_padding_grad() -> bool:
    """``SEQREC_SPREAD_PADDING_GRAD``: 1 (default) or 0."""
    return env_flag(SPREAD_ENV)


def item_rows_multiple() -> int:
    """``SEQREC_ITEM_TABLE_PAD``: the item count the loss's scores are padded to a multiple of (1: not padded)."""
    return env_multiple(PAD_ENV, 64)


def fp32_scores() -> bool:
    """``SEQREC_FP32_SCORES``: 1 or 0 (default): the loss's scores in fp32 under autocast (``loss_logits``)."""
    return env_flag(FP32_SCORES_ENV, default=False)


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
    columns past n_items (softmax weight 0, no gradient). Under autocast in its dtype, or fp32 where
    ``fp32_scores()``."""
    table = weight[1:]
    n_items = table.shape[0]
    if not autocast_on(h):
        return h @ table.t()
    pad = -n_items % item_rows_multiple()  # the variables are read under autocast only
    if fp32_scores():
        with torch.autocast(h.device.type, enabled=False):
            return _padded_scores(h.float(), table.float(), pad)
    return _padded_scores(h, table, pad)


def _padded_scores(h: torch.Tensor, table: torch.Tensor, pad: int) -> torch.Tensor:
    """h (B, d) @ table (n, d)^T -> (B, n + pad), the last ``pad`` columns -inf."""
    if pad == 0:
        return h @ table.t()
    bias = torch.zeros(table.shape[0] + pad, device=h.device, dtype=h.dtype)
    bias[table.shape[0]:] = float("-inf")
    return torch.addmm(bias, h, F.pad(table, (0, 0, 0, pad)).t())
