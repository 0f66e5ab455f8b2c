"""TiSASRec attention with relative time-interval embeddings, pure PyTorch.

``interval_attention_ref`` is the naive form (materialises the (B, L, L, H, Dh) interval key/value tensors,
as TiSASRec does); ``interval_attention_lean_ref`` never does: it works in "interval space" (B, H, L, R)::

    r_ij      = min(|times_i - times_j|, R - 1)                                   (B, L, L)
    logits_ij = q_i . (k_j + interval_k[r_ij]) / sqrt(Dh) = (q k^T)_ij + (q interval_k^T)_{i, r_ij}
    a_ij      = softmax_j over {j <= i, j < seq_len}, then dropout (training)
    out_i     = sum_j a_ij (v_j + interval_v[r_ij]) = (a v)_i + sum_r P_ir interval_v[r],
                P_ir = sum_{j: r_ij = r} a_ij                                     (B, H, L, R)

Rows i >= seq_len (query padding) are zero. ``dropout_mask`` (B, H, L, L) bool, when given, replaces
``F.dropout`` (kept entries scaled by 1 / (1 - dropout_p)); tests use it to compare with the Triton kernel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def check_interval_attention_shapes(q, k, v, interval_k, interval_v, times, seq_len) -> None:
    """Raise ValueError naming the argument whose shape or dtype does not fit q (B, H, L, Dh)."""
    if q.dim() != 4:
        raise ValueError(f"interval_attention: q must be (B, H, L, Dh), got shape {tuple(q.shape)}")
    bsz, heads, seqlen, dh = q.shape
    for name, t in (("k", k), ("v", v)):
        if tuple(t.shape) != tuple(q.shape):
            raise ValueError(f"interval_attention: {name} must have q's shape {tuple(q.shape)}, got {tuple(t.shape)}")
        if t.dtype != q.dtype:
            raise ValueError(f"interval_attention: {name} must have q's dtype {q.dtype}, got {t.dtype}")
    for name, t in (("interval_k", interval_k), ("interval_v", interval_v)):
        if t.dim() != 3 or t.shape[1:] != (heads, dh) or t.shape[0] < 1:
            raise ValueError(f"interval_attention: {name} must be (R, H={heads}, Dh={dh}), got {tuple(t.shape)}")
    if interval_k.shape != interval_v.shape:
        raise ValueError(f"interval_attention: interval_k {tuple(interval_k.shape)} and interval_v "
                         f"{tuple(interval_v.shape)} differ")
    if tuple(times.shape) != (bsz, seqlen) or times.dtype.is_floating_point:
        raise ValueError(f"interval_attention: times must be integer (B={bsz}, L={seqlen}), "
                         f"got {times.dtype} {tuple(times.shape)}")
    if tuple(seq_len.shape) != (bsz,):
        raise ValueError(f"interval_attention: seq_len must be (B={bsz},), got {tuple(seq_len.shape)}")


def interval_matrix(times: torch.Tensor, num_intervals: int) -> torch.Tensor:
    """r (B, L, L) int64: r_ij = min(|times_i - times_j|, num_intervals - 1) for integer times (B, L)."""
    if num_intervals < 1:
        raise ValueError(f"interval_matrix: num_intervals must be >= 1, got {num_intervals}")
    diff = (times.unsqueeze(-1) - times.unsqueeze(-2)).abs()
    return diff.clamp(max=num_intervals - 1).long()


def attention_mask(seq_len: torch.Tensor, seqlen: int) -> torch.Tensor:
    """valid (B, 1, L, L) bool: j <= i, j < seq_len and i < seq_len."""
    pos = torch.arange(seqlen, device=seq_len.device)
    causal = pos[None, :] <= pos[:, None]                                   # (L, L) [i, j]
    real = pos[None, :] < seq_len[:, None]                                  # (B, L)
    return (causal[None] & real[:, None, :] & real[:, :, None]).unsqueeze(1)


def _weights(logits, valid, dropout_p, dropout_mask, training):
    """Masked softmax (zero on invalid entries and invalid rows), then dropout."""
    logits = logits.masked_fill(~valid, torch.finfo(logits.dtype).min)
    a = torch.softmax(logits, dim=-1) * valid
    if dropout_mask is not None:
        a = a * dropout_mask / (1.0 - dropout_p)
    elif dropout_p > 0 and training:
        a = F.dropout(a, dropout_p)
    return a


def interval_attention_ref(q, k, v, interval_k, interval_v, times, seq_len, dropout_p=0.0, dropout_mask=None,
                           training=True):
    """out (B, H, L, Dh); naive: gathers interval_k / interval_v into (B, L, L, H, Dh) tensors."""
    check_interval_attention_shapes(q, k, v, interval_k, interval_v, times, seq_len)
    seqlen, dh = q.shape[2], q.shape[3]
    r = interval_matrix(times, interval_k.shape[0])
    ik, iv = interval_k[r], interval_v[r]                                    # (B, L, L, H, Dh)
    logits = (torch.einsum("bhid,bhjd->bhij", q, k) + torch.einsum("bhid,bijhd->bhij", q, ik)) / math.sqrt(dh)
    a = _weights(logits.float(), attention_mask(seq_len, seqlen), dropout_p, dropout_mask, training).to(q.dtype)
    return torch.einsum("bhij,bhjd->bhid", a, v) + torch.einsum("bhij,bijhd->bhid", a, iv)


def interval_attention_lean_ref(q, k, v, interval_k, interval_v, times, seq_len, dropout_p=0.0,
                                dropout_mask=None, training=True):
    """out (B, H, L, Dh); memory O(B H L (L + R)): gathers q . interval_k from (B, H, L, R) and
    scatter-adds the weights into (B, H, L, R) bins for interval_v."""
    check_interval_attention_shapes(q, k, v, interval_k, interval_v, times, seq_len)
    bsz, heads, seqlen, dh = q.shape
    num_r = interval_k.shape[0]
    r = interval_matrix(times, num_r).unsqueeze(1).expand(bsz, heads, seqlen, seqlen)
    q_ik = torch.einsum("bhid,rhd->bhir", q, interval_k)                     # (B, H, L, R)
    logits = (q @ k.transpose(-1, -2) + torch.gather(q_ik, -1, r)) / math.sqrt(dh)
    a = _weights(logits.float(), attention_mask(seq_len, seqlen), dropout_p, dropout_mask, training).to(q.dtype)
    bins = a.new_zeros(bsz, heads, seqlen, num_r).scatter_add(-1, r, a)    # (B, H, L, R)
    return a @ v + torch.einsum("bhir,rhd->bhid", bins, interval_v)
