"""Full-ranking metrics: HR@K, NDCG@K, MRR@K over all items except padding (column 0).

rank = number of real items scored strictly higher than the target (ties count in the target's favour);
hit@K = [rank < K]; ndcg@K = 1 / log2(rank + 2) if rank < K; mrr@K = 1 / (rank + 1) if rank < K.
"""

from __future__ import annotations

import torch

DEFAULT_KS = (10, 20, 50)


def ranks(scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """(B, n_items + 1) scores, (B,) targets in 1..n_items -> (B,) int64 ranks (0 = best): the number of real
    items scored strictly higher than the target. ``exclude`` (B, n_items + 1) bool removes items from the
    ranking (history masking); the target itself is never excluded. A NaN target score ranks last."""
    if scores.dim() != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (B, n_items+1) and targets (B,); got {tuple(scores.shape)} and "
                         f"{tuple(targets.shape)}")
    if exclude is not None and exclude.shape != scores.shape:
        raise ValueError(f"exclude must be {tuple(scores.shape)} like scores, not {tuple(exclude.shape)}")
    if targets.numel() and bool(((targets < 1) | (targets >= scores.shape[1])).any()):
        raise ValueError(f"targets must be item ids in 1..{scores.shape[1] - 1} (0 is padding)")
    target_scores = scores.gather(1, targets.view(-1, 1).long())
    higher = scores > target_scores
    higher[:, 0] = False
    if exclude is not None:
        higher &= ~exclude
    rank = higher.sum(dim=1)
    return torch.where(torch.isnan(target_scores[:, 0]), torch.full_like(rank, scores.shape[1] - 2), rank)


def metrics_from_ranks(rank: torch.Tensor, ks=DEFAULT_KS) -> dict[str, torch.Tensor]:
    """(B,) ranks -> per-user metric values {"hit@K": (B,), "ndcg@K": (B,), "mrr@K": (B,)} in float64."""
    r = rank.to(torch.float64)
    out = {}
    for k in ks:
        inside = r < k
        out[f"hit@{k}"] = inside.to(torch.float64)
        out[f"ndcg@{k}"] = torch.where(inside, 1.0 / torch.log2(r + 2.0), torch.zeros_like(r))
        out[f"mrr@{k}"] = torch.where(inside, 1.0 / (r + 1.0), torch.zeros_like(r))
    return out


def full_sort_metrics(scores: torch.Tensor, targets: torch.Tensor, ks=DEFAULT_KS,
                      exclude: torch.Tensor | None = None) -> dict[str, float]:
    """Batch means of hit@K, ndcg@K, mrr@K for every K in ``ks``."""
    per_user = metrics_from_ranks(ranks(scores, targets, exclude), ks)
    return {k: float(v.mean()) for k, v in per_user.items()}


class MetricAccumulator:
    """Exact averages over many batches: sums of per-user values (float64) divided by the user count."""

    def __init__(self, ks=DEFAULT_KS):
        self.ks = tuple(ks)
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def update(self, scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None) -> None:
        self.update_ranks(ranks(scores, targets, exclude))

    def update_ranks(self, rank: torch.Tensor) -> None:
        for k, v in metrics_from_ranks(rank, self.ks).items():
            s = v.sum()
            self.sums[k] = self.sums[k] + s if k in self.sums else s
        self.count += rank.numel()

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no batches were added")
        return {k: float(v) / self.count for k, v in self.sums.items()}
