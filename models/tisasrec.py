"""TiSASRec (Li, Wang & McAuley, WSDM 2020): self-attention with relative time intervals.

Time scaling (``scaled_times``): per sequence, ``round((t - t_min) / s)`` with ``s`` the smallest non-zero
gap between consecutive interactions (1 when there is none). Intervals are ``r_ij = min(|T_i - T_j|, k)``
with ``k = time_span`` (``interval_matrix``). The official code computes ``t_min`` and ``s`` once over the
user's *whole* history (including the validation and test interactions); we compute them over the real
positions of each input sequence, so padding never matters and no future timestamp leaks in. Inside one
sequence the scale is shared by all positions, so a later timestamp can change the scale seen by earlier
positions (items after t never affect position t).

Layer (as the official TensorFlow code, JiachengLi1995/TiSASRec, not the slightly different text of the
paper): ``q = LN_a(x)``; ``x = q + Attn(q, x)``; ``y = LN_f(x)``; ``x = y + FFN(y)``; after the last block a
final LayerNorm. Attention per head, with absolute position tables P_K, P_V (max_len, d) and interval
tables R_K, R_V (time_span + 1, d):

    a_ij = softmax_j( q_i . (k_j + P_K[j] + R_K[r_ij]) / sqrt(Dh) )  over j <= i, j < seq_len
    out_i = sum_j a_ij (v_j + P_V[j] + R_V[r_ij])

computed by ``kernels.interval_attention`` (the position terms are added to k and v before the call).
FFN: point-wise ``W2 Dropout(ReLU(W1 y))`` with inner size = hidden size, then dropout (official).
Embedding: ``Dropout(E_item[s] * sqrt(d))``. Initialisation: Glorot-uniform weights and zero biases
(TensorFlow's default, which the official code uses), zero padding row of the item table.
Dropout of the rate ``dropout`` on the item embeddings, the position tables, the attention weights and
in the FFN, as the official code. Deviation: the official code drops out elements of the materialised
(B, L, L, d) interval embeddings; we drop out elements of the (time_span + 1, d) tables instead (one mask per step),
so that the fused kernel never materialises L x L x d tensors.
Positions are counted from the first (oldest) real item (right padding); the official code left-pads, so
there the newest item always has position max_len - 1.
Defaults: hidden 64 (the official uses 50; 64 matches the suite's hidden-size sweep), 1 head, 2 layers,
dropout 0.2, time span 256 (paper). The loss is the suite's cross-entropy over all items (``SeqRecModel``),
not the official sampled binary cross-entropy; the official l2 on embeddings is not applied.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kernels.interval_attention import interval_attention  # the function (``kernels.interval_attention`` may be

# its callable package once imported, which torch.compile cannot trace)
from models.common import LayerNorm, SeqRecModel, padding_mask, set_norm_backend

LAYER_NORM_EPS = 1e-8  # official value


def scaled_times(time_seq: torch.Tensor, seq_len: torch.Tensor) -> torch.Tensor:
    """(B, L) Unix seconds, (B,) lengths -> (B, L) int64 per-sequence scaled times, 0 at padding.

    ``round((t - min_t) / s)`` where ``s`` is the smallest non-zero |gap| between consecutive real positions
    (1 if all real times are equal); rounding is half-to-even, as Python's ``round`` in the official code.
    Padded positions (``>= seq_len``) are ignored, whatever they contain."""
    B, L = time_seq.shape
    real = padding_mask(seq_len, L)
    t = time_seq.to(torch.float64)
    big = torch.finfo(torch.float64).max
    t_min = torch.where(real, t, big).amin(dim=1, keepdim=True)
    gaps = (t[:, 1:] - t[:, :-1]).abs()
    gaps = torch.where(real[:, 1:] & (gaps > 0), gaps, big)
    scale = gaps.amin(dim=1, keepdim=True) if L > 1 else torch.ones_like(t_min)
    scale = torch.where(scale == big, 1.0, scale)
    scaled = torch.round((t - t_min) / scale).to(torch.int64)
    return torch.where(real, scaled, 0)


def interval_matrix(times: torch.Tensor, time_span: int) -> torch.Tensor:
    """(B, L) int64 scaled times -> (B, L, L) int64 ``min(|T_i - T_j|, time_span)``: the indices into the
    (time_span + 1)-row interval tables that ``kernels.interval_attention`` uses."""
    from kernels.interval_attention import interval_matrix as clipped_intervals

    return clipped_intervals(times, time_span + 1)


class PointWiseFeedForward(nn.Module):
    """Official TiSASRec FFN: y (B, L, d) -> y + Dropout(W2 Dropout(ReLU(W1 y))); inner size d."""

    def __init__(self, hidden_size: int, dropout: float):
        super().__init__()
        self.w1 = nn.Linear(hidden_size, hidden_size)
        self.w2 = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.dropout(self.w2(self.dropout(F.relu(self.w1(y)))))


class TimeIntervalAttention(nn.Module):
    """Projections around ``kernels.interval_attention``: q (B, L, d) normalised, x (B, L, d) raw keys/values
    -> (B, L, d) attention output (without residual)."""

    def __init__(self, hidden_size: int, n_heads: int, dropout: float, backend: str):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"tisasrec: hidden_size={hidden_size} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.q = nn.Linear(hidden_size, hidden_size)
        self.k = nn.Linear(hidden_size, hidden_size)
        self.v = nn.Linear(hidden_size, hidden_size)
        self.dropout = dropout
        self.backend = backend

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, H, L, Dh)."""
        B, L, d = x.shape
        return x.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, x: torch.Tensor, pos_k: torch.Tensor, pos_v: torch.Tensor,
                interval_k: torch.Tensor, interval_v: torch.Tensor, times: torch.Tensor,
                seq_len: torch.Tensor) -> torch.Tensor:
        """pos_k, pos_v (B, L, d); interval_k, interval_v (R, d); times (B, L) int64 scaled."""
        B, L, d = x.shape
        H = self.n_heads
        out = interval_attention(
            self._heads(self.q(q)), self._heads(self.k(x) + pos_k), self._heads(self.v(x) + pos_v),
            interval_k.view(-1, H, d // H), interval_v.view(-1, H, d // H), times, seq_len,
            dropout_p=self.dropout if self.training else 0.0, backend=self.backend)
        return out.transpose(1, 2).reshape(B, L, d)


class TiSASRecBlock(nn.Module):
    """x = LN_a(x) + Attn(LN_a(x), x); y = LN_f(x); return y + FFN(y)."""

    def __init__(self, hidden_size: int, n_heads: int, dropout: float, backend: str):
        super().__init__()
        self.attn_norm = LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.attention = TimeIntervalAttention(hidden_size, n_heads, dropout, backend)
        self.ffn_norm = LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.ffn = PointWiseFeedForward(hidden_size, dropout)

    def forward(self, x: torch.Tensor, *attn_args: torch.Tensor) -> torch.Tensor:
        q = self.attn_norm(x)
        x = q + self.attention(q, x, *attn_args)
        return self.ffn(self.ffn_norm(x))


def init_glorot(module: nn.Module) -> None:
    """TensorFlow's defaults, used by the official code: Glorot-uniform Linear/Embedding weights, zero biases."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.xavier_uniform_(module.weight)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class TiSASRec(SeqRecModel):
    """TiSASRec; ``max_len`` is the size of the position tables (>= the data's L), ``time_span`` the clip k,
    ``backend`` is passed to ``kernels.interval_attention``."""

    def __init__(self, n_items: int, hidden_size: int = 64, n_layers: int = 2, n_heads: int = 1,
                 dropout: float = 0.2, max_len: int = 50, time_span: int = 256, backend: str = "auto"):
        super().__init__(n_items, hidden_size)
        if time_span < 1:
            raise ValueError(f"tisasrec: time_span must be >= 1, got {time_span}")
        self.max_len = max_len
        self.time_span = time_span
        self.backend = backend
        self.position_k = nn.Embedding(max_len, hidden_size)
        self.position_v = nn.Embedding(max_len, hidden_size)
        self.interval_k = nn.Embedding(time_span + 1, hidden_size)
        self.interval_v = nn.Embedding(time_span + 1, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TiSASRecBlock(hidden_size, n_heads, dropout, backend) for _ in range(n_layers))
        self.final_norm = LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.apply(init_glorot)
        set_norm_backend(self, backend)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def encode(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        """item_seq, time_seq (B, L) -> (B, L, d)."""
        L = item_seq.size(1)
        if L > self.max_len:
            raise ValueError(f"tisasrec: sequence length {L} exceeds the position tables (max_len={self.max_len}); "
                             "raise [model] max_len in models/configs/tisasrec.toml or pass max_len")
        times = scaled_times(time_seq, seq_len)
        x = self.dropout(self.item_embedding(item_seq) * math.sqrt(self.hidden_size))
        pos_k = self.dropout(self.position_k.weight[:L].expand_as(x))
        pos_v = self.dropout(self.position_v.weight[:L].expand_as(x))
        interval_k = self.dropout(self.interval_k.weight)
        interval_v = self.dropout(self.interval_v.weight)
        for block in self.blocks:
            x = block(x, pos_k, pos_v, interval_k, interval_v, times, seq_len)
        return self.final_norm(x)
