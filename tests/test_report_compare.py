"""``python -m seqrec compare``: one metric over seeds in several result sets, and Welch's test under it."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from seqrec.cli import main as cli_main
from seqrec.report.stats import paired_t_test_by_seed, welch_t_test

FIXTURE_RUNS = Path(__file__).resolve().parent / "fixtures" / "results" / "full" / "accuracy"


def test_welch_t_test_matches_scipy_values():
    # scipy.stats.ttest_ind(a, b, equal_var=False), computed once
    res = welch_t_test([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert (res.t, res.df, res.p) == pytest.approx((-1.8973665961010275, 5.882352941176471, 0.10753119493062728))
    res = welch_t_test([0.3, 0.1, 0.5, 0.2], [0.6, 0.9, 0.4, 0.8, 0.7, 1.0])
    assert (res.t, res.df, res.p) == pytest.approx((-3.733643283161719, 7.614896988906496, 0.006290519354573813))
    assert res.mean_diff == pytest.approx(0.275 - 0.7333333333333333)


def test_welch_t_test_is_undefined_without_spread_or_samples():
    for a, b in (([1.0], [1.0, 2.0]), ([1.0, 1.0], [2.0, 2.0]), ([], [])):
        res = welch_t_test(a, b)
        assert math.isnan(res.t) and math.isnan(res.p)


def _copy_set(dst: Path, model: str, shift: dict[int, float] | None = None) -> dict[int, float]:
    """The fixture's runs of ``model`` at amazon-beauty h64 into ``dst``, test NDCG@10 shifted per seed."""
    out = {}
    dst.mkdir(parents=True)
    for path in sorted(FIXTURE_RUNS.glob(f"{model}-amazon-beauty-h64-s*.json")):
        r = json.loads(path.read_text())
        r["metrics"]["test"]["ndcg@10"] += (shift or {}).get(r["seed"], 0.0)
        out[r["seed"]] = r["metrics"]["test"]["ndcg@10"]
        (dst / path.name).write_text(json.dumps(r))
    # a case only this set has: left out of the table
    shutil.copy(FIXTURE_RUNS / "sasrec-amazon-beauty-h64-s0.json", dst / "sasrec-amazon-beauty-h64-s0.json")
    return out


def test_compare_writes_the_table_figure_and_tests(tmp_path, capsys):
    base = _copy_set(tmp_path / "eager", "tim4rec")
    seeds = sorted(base)
    assert len(seeds) >= 2
    other = _copy_set(tmp_path / "compiled", "tim4rec", shift={s: -0.001 * (i + 1) for i, s in enumerate(seeds)})
    (tmp_path / "compiled" / "sasrec-amazon-beauty-h64-s0.json").unlink()
    out = tmp_path / "cmp" / "tim4rec-paths"
    assert cli_main(["compare", str(tmp_path / "eager"), str(tmp_path / "compiled"), "--out", str(out)]) == 0
    text = out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert "## TiM4Rec, amazon-beauty, hidden 64" in text and "SASRec" not in text
    row = next(line for line in text.splitlines() if line.startswith("| compiled |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    mean_b, mean_o = statistics.mean(base.values()), statistics.mean(other.values())
    assert cells[1] == str(len(seeds))
    assert cells[2] == f"{mean_o:.5f} ± {statistics.stdev(other.values()):.5f}"
    assert cells[3] == f"{100 * (mean_o - mean_b) / mean_b:+.2f}%"
    assert cells[4] == f"{statistics.mean(0.001 * (i + 1) for i in range(len(seeds))):.5f}"  # the shifts, seed by seed
    assert cells[5] == f"{paired_t_test_by_seed(other, base).p:.3f} ({len(seeds)})"
    assert cells[6] == f"{welch_t_test(list(other.values()), list(base.values())).p:.3f}"
    assert "mean \\|Δ\\| a seed" in text


def test_compare_names_sets_without_a_shared_case(tmp_path, capsys):
    _copy_set(tmp_path / "a", "tim4rec")
    _copy_set(tmp_path / "b", "ssd4rec")
    for f in (tmp_path / "b").glob("sasrec-*"):
        f.unlink()
    for f in (tmp_path / "a").glob("sasrec-*"):
        f.unlink()
    assert cli_main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "no case of a appears in b" in capsys.readouterr().err


def test_compare_names_a_missing_set(tmp_path, capsys):
    _copy_set(tmp_path / "a", "tim4rec")
    assert cli_main(["compare", str(tmp_path / "a"), str(tmp_path / "nope")]) == 2
    assert f"not a directory of result files: {tmp_path / 'nope'}" in capsys.readouterr().err
