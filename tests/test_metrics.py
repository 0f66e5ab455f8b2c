"""Full-ranking metrics against a brute-force computation, ties included, and exact accumulation."""

from __future__ import annotations

import math

import pytest
import torch

from seqrec.metrics import MetricAccumulator, full_sort_metrics, ranks


def brute(scores, targets, ks):
    out = {f"{m}@{k}": 0.0 for k in ks for m in ("hit", "ndcg", "mrr")}
    for row, t in zip(scores.tolist(), targets.tolist(), strict=True):
        rank = sum(1 for j, s in enumerate(row) if j != 0 and s > row[t])
        for k in ks:
            if rank < k:
                out[f"hit@{k}"] += 1
                out[f"ndcg@{k}"] += 1 / math.log2(rank + 2)
                out[f"mrr@{k}"] += 1 / (rank + 1)
    return {k: v / len(targets) for k, v in out.items()}


@pytest.mark.parametrize("n_items", [5, 60])
def test_against_brute_force_with_ties(n_items):
    scores = torch.randint(0, 4, (37, n_items + 1)).float()  # many ties
    scores[:, 0] = 100.0  # padding column scored highest: must never count
    targets = torch.randint(1, n_items + 1, (37,))
    got = full_sort_metrics(scores, targets, ks=(1, 3, 10))
    expect = brute(scores, targets, (1, 3, 10))
    for k in expect:
        assert got[k] == pytest.approx(expect[k], abs=1e-12), k


def test_exclude_drops_history_but_not_target():
    scores = torch.tensor([[0.0, 5.0, 4.0, 3.0]])
    exclude = torch.tensor([[False, True, False, True]])
    assert ranks(scores, torch.tensor([3]), exclude).item() == 1  # item 1 excluded, item 2 still higher
    assert ranks(scores, torch.tensor([3])).item() == 2


def test_accumulator_is_exact_over_uneven_batches():
    scores = torch.randn(103, 41)
    targets = torch.randint(1, 41, (103,))
    acc = MetricAccumulator()
    for a in range(0, 103, 17):
        acc.update(scores[a:a + 17], targets[a:a + 17])
    whole = full_sort_metrics(scores, targets)
    for k, v in whole.items():
        assert acc.compute()[k] == pytest.approx(v, abs=1e-12)
    assert acc.count == 103


def test_shape_errors():
    with pytest.raises(ValueError, match="scores must be"):
        ranks(torch.randn(3, 5), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="no batches"):
        MetricAccumulator().compute()
