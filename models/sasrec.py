"""SASRec (Kang & McAuley, ICDM 2018) as RecBole implements it.

Embedding: ``Dropout(LN(E_item[s_t] + P[t]))`` with learned absolute positions ``t = 0..L-1`` counted
from the first (oldest) item of the right-padded sequence. Then ``n_layers`` post-LN Transformer blocks:
``x = LN(x + Dropout(W_o MHA(x)))`` with causal self-attention whose keys are limited to real positions
(``j < seq_len``), followed by the shared GELU ``FeedForward`` (``LN(x + FFN(x))``). Weights are initialised
with ``init_weights`` (N(0, 0.02)). Read-out, full-sort scores and the cross-entropy loss over all items
come from ``SeqRecModel``.

Padding invariance: positions ``>= seq_len`` are never attended to by a real query (causal + key mask),
so their contents cannot change the state read at ``seq_len - 1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.common import FeedForward, LayerNorm, SeqRecModel, init_weights, padding_mask
from models.sdpa_backend import attention_kernel, sdpa_backend


def causal_key_mask(seq_len: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, 1, L, L) bool, True where query i may attend to key j (j <= i and j < seq_len).

    Every row has at least key 0 (seq_len >= 1), so softmax never sees an all-masked row."""
    causal = torch.ones(max_len, max_len, dtype=torch.bool, device=seq_len.device).tril()
    return (causal[None, :, :] & padding_mask(seq_len, max_len)[:, None, :])[:, None]


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with RecBole's post-LN wrapper: x (B, L, d) -> LN(x + Dropout(W_o attn))."""

    def __init__(self, hidden_size: int, n_heads: int, dropout: float, attn_dropout: float, eps: float):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"sasrec: hidden_size={hidden_size} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.sdpa_backend = sdpa_backend()  # SEQREC_SDPA_BACKEND, read once: None lets PyTorch pick
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.attn_dropout = attn_dropout
        self.dropout = nn.Dropout(dropout)
        self.norm = LayerNorm(hidden_size, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, d), mask (B, 1, L, L) bool (True = attend) -> (B, L, d)."""
        B, L, d = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        with attention_kernel(self.sdpa_backend):
            h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                               dropout_p=self.attn_dropout if self.training else 0.0)
        h = h.transpose(1, 2).reshape(B, L, d)
        return self.norm(x + self.dropout(self.out(h)))


class SASRecBlock(nn.Module):
    """One Transformer layer: post-LN causal self-attention, then the post-LN GELU FFN."""

    def __init__(self, hidden_size: int, n_heads: int, inner_size: int, dropout: float, attn_dropout: float,
                 eps: float):
        super().__init__()
        self.attention = CausalSelfAttention(hidden_size, n_heads, dropout, attn_dropout, eps)
        self.ffn = FeedForward(hidden_size, inner_size, dropout, eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attention(x, mask))


class SASRec(SeqRecModel):
    """SASRec; ``inner_size=0`` means ``4 * hidden_size``. ``max_len`` is the size of the position table
    and must be >= the data's sequence length L."""

    def __init__(self, n_items: int, hidden_size: int = 64, n_layers: int = 2, n_heads: int = 2,
                 inner_size: int = 0, dropout: float = 0.2, attn_dropout: float = 0.2, max_len: int = 50,
                 layer_norm_eps: float = 1e-12):
        super().__init__(n_items, hidden_size)
        self.max_len = max_len
        self.position_embedding = nn.Embedding(max_len, hidden_size)
        self.embed_norm = LayerNorm(hidden_size, eps=layer_norm_eps)
        self.embed_dropout = nn.Dropout(dropout)
        inner = inner_size or 4 * hidden_size
        self.blocks = nn.ModuleList(
            SASRecBlock(hidden_size, n_heads, inner, dropout, attn_dropout, layer_norm_eps) for _ in range(n_layers))
        self.apply(init_weights)

    def encode(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        """item_seq (B, L) -> (B, L, d); time_seq is ignored."""
        L = item_seq.size(1)
        if L > self.max_len:
            raise ValueError(f"sasrec: sequence length {L} exceeds the position table (max_len={self.max_len}); "
                             "raise [model] max_len in models/configs/sasrec.toml or pass max_len")
        positions = self.position_embedding(torch.arange(L, device=item_seq.device))
        x = self.embed_dropout(self.embed_norm(self.item_embedding(item_seq) + positions))
        mask = causal_key_mask(seq_len, L)
        for block in self.blocks:
            x = block(x, mask)
        return x
