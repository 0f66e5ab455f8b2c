"""`seqrec regress`: accuracy drops beyond the tolerance, slow-downs and memory growth beyond the ratio,
and vanished cases are regressions; everything within bounds passes."""

from __future__ import annotations

import random

from seqrec.cli import main as main_like
from seqrec.regress import DEFAULT_RATIO, DEFAULT_TOL, compare
from seqrec.results import write_result


def _train(model, ndcg, hit, seed=0, status="ok"):
    return {"kind": "train", "model": model, "dataset": {"name": "ml-100k"}, "config": {"hidden_size": 64},
            "seed": seed, "status": status, "metrics": {"test": {"ndcg@10": ndcg, "hit@10": hit}},
            "provenance": {}}


def _lat(model, ms):
    return {"kind": "latency", "model": model, "phase": "train_step", "seq_len": 50, "batch_size": 256,
            "hidden_size": 64, "median_ms": ms, "status": "ok", "provenance": {}}


def test_within_tolerance_passes():
    rng = random.Random()
    base = [_train(m, rng.uniform(0.05, 0.2), rng.uniform(0.1, 0.4)) for m in ("sasrec", "tim4rec")]
    cur = [dict(b, metrics={"test": {k: v - 0.5 * DEFAULT_TOL[k] for k, v in b["metrics"]["test"].items()}})
           for b in base]
    assert compare(base, cur, DEFAULT_TOL, DEFAULT_RATIO) == []


def test_accuracy_drop_is_a_regression():
    ndcg = random.uniform(0.05, 0.2)
    problems = compare([_train("sasrec", ndcg, 0.3)], [_train("sasrec", ndcg - 0.05, 0.3)],
                       {"ndcg@10": 0.01}, DEFAULT_RATIO)
    assert len(problems) == 1 and "ndcg@10" in problems[0]
    # an improvement is never a regression
    assert compare([_train("sasrec", ndcg, 0.3)], [_train("sasrec", ndcg + 0.05, 0.3)],
                   {"ndcg@10": 0.01}, DEFAULT_RATIO) == []


def test_speed_and_memory_ratios():
    ms = random.uniform(1, 10)
    assert compare([_lat("ssd4rec", ms)], [_lat("ssd4rec", ms * 1.1)], DEFAULT_TOL, {"median_ms": 1.2}) == []
    problems = compare([_lat("ssd4rec", ms)], [_lat("ssd4rec", ms * 1.5)], DEFAULT_TOL, {"median_ms": 1.2})
    assert len(problems) == 1 and "median_ms" in problems[0]
    # speed is not checked when only accuracy is asked for
    assert compare([_lat("ssd4rec", ms)], [_lat("ssd4rec", ms * 1.5)], DEFAULT_TOL, {"median_ms": 1.2},
                   checks=("accuracy",)) == []


def test_missing_or_failed_case_is_a_regression():
    base = [_train("sasrec", 0.1, 0.2), _train("tisasrec", 0.1, 0.2)]
    cur = [_train("sasrec", 0.1, 0.2), _train("tisasrec", 0.0, 0.0, status="failed")]
    assert len(compare(base, cur, DEFAULT_TOL, DEFAULT_RATIO)) == 1
    assert len(compare(base, cur[:1], DEFAULT_TOL, DEFAULT_RATIO)) == 1
    assert compare(base, cur[:1], DEFAULT_TOL, DEFAULT_RATIO, allow_missing=True) == []


def test_command_exit_codes(tmp_path):
    for i, r in enumerate([_train("sasrec", 0.10, 0.2)]):
        write_result(tmp_path / "base" / f"{i}.json", r)
    write_result(tmp_path / "good" / "0.json", _train("sasrec", 0.10, 0.2))
    write_result(tmp_path / "bad" / "0.json", _train("sasrec", 0.01, 0.2))
    assert main_like(["regress", str(tmp_path / "base"), str(tmp_path / "good")]) == 0
    assert main_like(["regress", str(tmp_path / "base"), str(tmp_path / "bad")]) == 1
    assert main_like(["regress", str(tmp_path / "empty"), str(tmp_path / "good")]) == 2
