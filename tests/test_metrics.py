"""Full-ranking metrics against a brute-force computation on fresh random scores (ties included, with and
without history masking), and exact accumulation over uneven batches."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from seqrec.metrics import MetricAccumulator, full_sort_metrics, metrics_from_ranks, ranks

KS = (1, 3, 10, 20, 50)


def brute_rank(row: list[float], target: int, excluded: set[int]) -> int:
    return sum(1 for j, s in enumerate(row) if j != 0 and j not in excluded and j != target and s > row[target])


def brute(scores, targets, ks, exclude=None) -> dict[str, float]:
    out = {f"{m}@{k}": 0.0 for k in ks for m in ("hit", "ndcg", "mrr")}
    for b, (row, t) in enumerate(zip(scores.tolist(), targets.tolist(), strict=True)):
        excluded = set() if exclude is None else {j for j, x in enumerate(exclude[b].tolist()) if x}
        rank = brute_rank(row, t, excluded)
        for k in ks:
            if rank < k:
                out[f"hit@{k}"] += 1
                out[f"ndcg@{k}"] += 1 / math.log2(rank + 2)
                out[f"mrr@{k}"] += 1 / (rank + 1)
    return {k: v / len(targets) for k, v in out.items()}


@pytest.mark.parametrize("n_items", [5, 60, 300])
def test_against_brute_force_with_ties(n_items):
    scores = torch.randint(0, 4, (37, n_items + 1)).float()  # few distinct values: many ties
    scores[:, 0] = 100.0  # the padding column scores highest: it must never count
    targets = torch.randint(1, n_items + 1, (37,))
    got = full_sort_metrics(scores, targets, ks=KS)
    expect = brute(scores, targets, KS)
    assert got.keys() == expect.keys()
    for k in expect:
        assert got[k] == pytest.approx(expect[k], abs=1e-12), k
    assert ranks(scores, targets).tolist() == [brute_rank(r, t, set()) for r, t in
                                               zip(scores.tolist(), targets.tolist(), strict=True)]


def test_exclude_against_brute_force():
    scores = torch.randn(29, 41).round(decimals=1)  # some ties
    targets = torch.randint(1, 41, (29,))
    exclude = torch.rand(29, 41) < 0.3
    exclude[torch.arange(29), targets] = torch.rand(29) < 0.5  # the target itself may be in the history
    got = full_sort_metrics(scores, targets, ks=KS, exclude=exclude)
    expect = brute(scores, targets, KS, exclude)
    for k in expect:
        assert got[k] == pytest.approx(expect[k], abs=1e-12), k


def test_exclude_drops_history_but_not_target():
    scores = torch.tensor([[0.0, 5.0, 4.0, 3.0]])
    exclude = torch.tensor([[False, True, False, True]])
    assert ranks(scores, torch.tensor([3]), exclude).item() == 1  # item 1 excluded, item 2 still higher
    assert ranks(scores, torch.tensor([3])).item() == 2


def test_nan_target_ranks_last_and_bad_input_is_refused():
    scores = torch.tensor([[0.0, float("nan"), 1.0, 2.0], [0.0, 1.0, float("nan"), 0.5]])
    assert ranks(scores, torch.tensor([1, 1])).tolist() == [2, 0]  # NaN elsewhere never counts as higher
    with pytest.raises(ValueError, match="scores must be"):
        ranks(torch.randn(3, 5), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"targets must be item ids in 1..4"):
        ranks(torch.randn(2, 5), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"targets must be item ids in 1..4"):
        ranks(torch.randn(2, 5), torch.tensor([1, 5]))
    with pytest.raises(ValueError, match="exclude must be"):
        ranks(torch.randn(2, 5), torch.tensor([1, 2]), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no batches"):
        MetricAccumulator().compute()


def test_accumulator_is_exact_over_uneven_batches():
    n = int(torch.randint(50, 400, ()).item())
    scores = torch.randint(0, 6, (n, 81)).float()
    targets = torch.randint(1, 81, (n,))
    acc = MetricAccumulator(ks=KS)
    start = 0
    while start < n:
        step = int(torch.randint(1, 40, ()).item())
        acc.update(scores[start:start + step], targets[start:start + step])
        start += step
    assert acc.count == n
    got = acc.compute()
    r = [brute_rank(row, t, set()) for row, t in zip(scores.tolist(), targets.tolist(), strict=True)]
    for k in KS:  # exact rational references
        assert got[f"hit@{k}"] == float(Fraction(sum(x < k for x in r), n))
        assert got[f"mrr@{k}"] == pytest.approx(float(sum(Fraction(1, x + 1) for x in r if x < k) / n), abs=1e-15)
        assert got[f"ndcg@{k}"] == pytest.approx(sum(1 / math.log2(x + 2) for x in r if x < k) / n, abs=1e-13)
    assert got == pytest.approx(full_sort_metrics(scores, targets, ks=KS), abs=1e-13)
    per_user = metrics_from_ranks(torch.tensor(r), KS)
    assert all(v.dtype == torch.float64 for v in per_user.values())
