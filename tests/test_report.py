"""The report: figures and tables from fixture result files (tests/fixtures/results, written by its
make_fixtures.py), numbers checked against the fixtures recomputed here, the paired t-test against a hand
computation (and scipy when importable), determinism, and the command line end to end."""

from __future__ import annotations

import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from seqrec.report import build_report, collect_results  # noqa: E402
from seqrec.report.figures import MODEL_STYLES, accuracy_vs_hidden, pareto_front  # noqa: E402
from seqrec.report.stats import betainc, paired_t_test, paired_t_test_by_seed, t_cdf  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "results"
MODELS = ["sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec"]
NAMES = {"sasrec": "SASRec", "tisasrec": "TiSASRec", "mamba4rec": "Mamba4Rec", "ssd4rec": "SSD4Rec",
         "tim4rec": "TiM4Rec"}
METRICS = {"HR": "hit", "NDCG": "ndcg", "MRR": "mrr"}
FIGURES = ["accuracy-vs-hidden", "accuracy-vs-time", "ablation", "latency-train-step", "latency-inference",
           "memory-train-step", "memory-inference"]
TABLES = ["accuracy", "efficiency-train", "efficiency-workload", "ablation"]


def load_fixture_files() -> list[dict]:
    out = []
    for path in sorted(FIXTURES.rglob("*.json")):
        obj = json.loads(path.read_text())
        if "schema" in obj:
            obj["_rel"] = path.relative_to(FIXTURES).as_posix()
            out.append(obj)
    return out


def train_values(files, dataset, hidden, model, metric, variant=None, kinds=("train",)) -> dict[int, float]:
    """{seed: test metric} recomputed straight from the fixture JSON."""
    return {r["seed"]: r["metrics"]["test"][metric] for r in files
            if r["kind"] in kinds and r.get("status", "ok") == "ok" and r["_rel"].startswith("full/")
            and r["model"] == model and r["dataset"]["name"] == dataset and r["config"]["hidden_size"] == hidden
            and (r.get("variant") or None) == variant}


def mean_std_text(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def parse_markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """``{section title: rows of cells}`` (header row first) of a report Markdown file."""
    tables, title = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            tables[title] = []
        elif line.startswith("|") and title is not None and not line.startswith("|:") and not line.startswith("|-"):
            tables[title].append([c.strip() for c in line.strip("|").split(" | ")])
    return tables


def plain(cell: str) -> tuple[str, str | None]:
    if cell.startswith("**") and cell.endswith("**"):
        return cell[2:-2], "bold"
    if cell.startswith("<ins>") and cell.endswith("</ins>"):
        return cell[5:-6], "underline"
    return cell, None


def hand_t(a: list[float], b: list[float]) -> float:
    d = [x - y for x, y in zip(a, b, strict=True)]
    m = sum(d) / len(d)
    s = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1))
    return m / (s / math.sqrt(len(d)))


# ---------------------------------------------------------------- statistics


def test_betainc_closed_forms():
    rng = random.Random(1)
    for _ in range(50):
        a, b, x = rng.uniform(0.2, 8), rng.uniform(0.2, 8), rng.random()
        assert betainc(a, 1.0, x) == pytest.approx(x**a, rel=1e-10, abs=1e-13)
        assert betainc(1.0, b, x) == pytest.approx(1 - (1 - x) ** b, rel=1e-10, abs=1e-13)
        assert betainc(a, b, x) + betainc(b, a, 1 - x) == pytest.approx(1.0, abs=1e-12)


def test_t_cdf_closed_forms_and_normal_limit():
    rng = random.Random(2)
    for _ in range(50):
        t = rng.uniform(-30, 30)
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
        # df = 4: F(t) = 1/2 + (3/4) u (1 - u^2 / 3), u = t / sqrt(4 + t^2)
        u = t / math.sqrt(4 + t * t)
        assert t_cdf(t, 4) == pytest.approx(0.5 + 0.75 * u * (1 - u * u / 3), abs=1e-12)
        assert t_cdf(t / 10, 1e7) == pytest.approx(0.5 * (1 + math.erf(t / 10 / math.sqrt(2))), abs=1e-6)


def test_paired_t_test_matches_hand_computation_and_scipy():
    rng = random.Random(3)
    for n in (2, 3, 5, 10):
        a = [rng.gauss(0.05, 0.01) for _ in range(n)]
        b = [x - rng.gauss(0.002, 0.003) for x in a]
        res = paired_t_test(a, b)
        t = hand_t(a, b)
        assert res.n == n and res.df == n - 1
        assert res.t == pytest.approx(t, rel=1e-12)
        assert res.p == pytest.approx(2 * (1 - t_cdf(abs(t), n - 1)), abs=1e-12)
        try:
            from scipy import stats as sps
        except ImportError:
            continue
        ref = sps.ttest_rel(a, b)
        assert res.t == pytest.approx(ref.statistic, rel=1e-10)
        assert res.p == pytest.approx(ref.pvalue, rel=1e-8)


def test_paired_t_test_by_seed_matches_seeds_and_handles_degenerate_cases():
    a = {0: 0.10, 1: 0.12, 2: 0.11, 7: 0.5}
    b = {2: 0.105, 0: 0.095, 1: 0.118, 9: 0.1}
    res = paired_t_test_by_seed(a, b)
    assert res.n == 3
    assert res.t == pytest.approx(hand_t([0.10, 0.12, 0.11], [0.095, 0.118, 0.105]))
    single = paired_t_test_by_seed({0: 0.1}, {0: 0.2})
    assert single.n == 1 and math.isnan(single.t) and math.isnan(single.p)
    constant = paired_t_test([0.2, 0.3], [0.1, 0.2])
    assert constant.n == 2 and math.isnan(constant.t)


def test_pareto_front_matches_brute_force():
    rng = random.Random(4)
    points = [(rng.uniform(1, 100), rng.uniform(0, 1)) for _ in range(40)] + [(math.nan, 0.5)]
    front = set(pareto_front(points))
    for i, (x, y) in enumerate(points[:-1]):
        dominated = any(x2 <= x and y2 >= y and (x2, y2) != (x, y) for x2, y2 in points[:-1])
        assert (i in front) == (not dominated)
    assert len(points) - 1 not in front


# ---------------------------------------------------------------- fixtures and styles


def test_fixture_files_are_reproducible(tmp_path):
    sys.path.insert(0, str(FIXTURES))
    try:
        import make_fixtures
    finally:
        sys.path.remove(str(FIXTURES))
    written = make_fixtures.write_fixtures(tmp_path)
    for path in written:
        rel = path.relative_to(tmp_path)
        assert (FIXTURES / rel).read_bytes() == path.read_bytes(), f"{rel}: rerun make_fixtures.py"
    checked_in = {p.relative_to(FIXTURES) for p in FIXTURES.rglob("*.json")}
    assert checked_in == {p.relative_to(tmp_path) for p in written}


def test_model_styles_distinct_in_greyscale():
    styles = [MODEL_STYLES[m] for m in MODELS]
    assert len({s["marker"] for s in styles}) == len(MODELS)
    assert len({str(s["linestyle"]) for s in styles}) == len(MODELS)
    assert len({s["color"] for s in styles}) == len(MODELS)


def test_missing_case_is_a_gap_not_zero():
    runs = collect_results(FIXTURES).runs
    fig = accuracy_vs_hidden(runs[runs["set"] == "full"], "t")
    ml1m_ndcg = [ax for ax in fig.axes if ax.get_title() == "ml-1m"][0]
    ssd = [c for c in ml1m_ndcg.containers if c.get_label() == "SSD4Rec"]
    assert len(ssd) == 1
    y = list(ssd[0].lines[0].get_ydata())
    assert not math.isnan(y[0]) and math.isnan(y[1])


# ---------------------------------------------------------------- the whole report


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """The report built by the command line, end to end, from the fixture results."""
    out = tmp_path_factory.mktemp("report-a")
    proc = subprocess.run([sys.executable, "-m", "seqrec", "report", "--results", str(FIXTURES), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    assert "5 not ok" in proc.stdout
    return out


def test_every_figure_and_table_is_written(report_dir):
    for name in FIGURES:
        png, pdf = report_dir / "full" / "figures" / f"{name}.png", report_dir / "full" / "figures" / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-" and b"/CreationDate" not in data
    for name in TABLES:
        assert (report_dir / "full" / "tables" / f"{name}.md").read_text().startswith("# ")
        assert "\\begin{tabular}" in (report_dir / "full" / "tables" / f"{name}.tex").read_text()
    # the smoke set (CPU, single seed) is reported on its own
    assert (report_dir / "smoke" / "figures" / "latency-inference.png").exists()
    assert not (report_dir / "smoke" / "figures" / "memory-inference.png").exists()  # all skipped


def test_accuracy_table_numbers_styles_and_tests(report_dir):
    files = load_fixture_files()
    tables = parse_markdown_tables((report_dir / "full" / "tables" / "accuracy.md").read_text())
    assert sorted(tables) == ["amazon-beauty, hidden 32", "amazon-beauty, hidden 64", "ml-1m, hidden 32",
                              "ml-1m, hidden 64"]
    checked_single = checked_missing = 0
    for title, rows in tables.items():
        dataset, hidden = title.split(", hidden ")
        header = rows[0]
        assert header[1:6] == [NAMES[m] for m in MODELS]
        for row in rows[1:-1]:
            base, k = row[0].split("@")
            metric = f"{METRICS[base]}@{k}"
            values = {m: train_values(files, dataset, int(hidden), m, metric) for m in MODELS}
            means = {m: statistics.mean(v.values()) for m, v in values.items() if v}
            shown = {m: round(v, 4) for m, v in means.items()}
            ranks = sorted(set(shown.values()), reverse=True)
            for m, cell in zip(MODELS, row[1:6], strict=True):
                text, style = plain(cell)
                assert text == mean_std_text(list(values[m].values())), (title, metric, m)
                want = None if m not in shown else "bold" if shown[m] == ranks[0] else (
                    "underline" if shown[m] == ranks[1] else None)
                assert style == want, (title, metric, m)
                checked_single += len(values[m]) == 1
                checked_missing += text == "–"
            base_best = max((m for m in means if m != "tim4rec"), key=lambda m: means[m])
            improv = (means["tim4rec"] - means[base_best]) / means[base_best] * 100
            assert row[6] == f"{improv:+.2f}%" and row[7] == NAMES[base_best]
            seeds = sorted(set(values["tim4rec"]) & set(values[base_best]))
            assert row[10] == str(len(seeds))
            if len(seeds) >= 2:
                t = hand_t([values["tim4rec"][s] for s in seeds], [values[base_best][s] for s in seeds])
                assert row[8] == f"{t:.2f}"
            else:
                assert row[8] == row[9] == "–"
        assert rows[-1][0] == "seeds"
    assert checked_single > 0 and checked_missing > 0  # the single-seed and the missing case were seen
    tex = (report_dir / "full" / "tables" / "accuracy.tex").read_text()
    md = (report_dir / "full" / "tables" / "accuracy.md").read_text()
    assert tex.count("\\textbf{") == md.count("| **") and tex.count("\\underline{") == md.count("<ins>")
    assert "$\\pm$" in tex and "±" not in tex.split("\n", 3)[3].replace("% ", "")  # escaped outside comments


def test_ablation_table_against_full_tim4rec(report_dir):
    files = load_fixture_files()
    tables = parse_markdown_tables((report_dir / "full" / "tables" / "ablation.md").read_text())
    rows = {r[0]: r for r in tables["amazon-beauty, hidden 64"][1:]}
    full = train_values(files, "amazon-beauty", 64, "tim4rec", "ndcg@10")  # from the main runs
    no_time = train_values(files, "amazon-beauty", 64, "tim4rec", "ndcg@10", "no-time", ("ablation",))
    no_ffn = train_values(files, "amazon-beauty", 64, "tim4rec", "ndcg@10", "no-ffn")
    header = tables["amazon-beauty, hidden 64"][0]
    col = header.index("NDCG@10")
    assert rows["TiM4Rec (full)"][col] == mean_std_text(list(full.values()))
    assert rows["TiM4Rec: no-time"][col] == mean_std_text(list(no_time.values()))
    seeds = sorted(no_time)
    t = hand_t([no_time[s] for s in seeds], [full[s] for s in seeds])
    assert rows["TiM4Rec: no-time"][-3:] == [f"{t:.2f}", rows["TiM4Rec: no-time"][-2], "3"]
    delta = (statistics.mean(no_time.values()) - statistics.mean(full.values())) / statistics.mean(full.values())
    assert rows["TiM4Rec: no-time"][-4] == f"{delta * 100:+.2f}%"
    assert rows["TiM4Rec: no-ffn"][col] == mean_std_text(list(no_ffn.values()))
    assert rows["TiM4Rec: no-ffn"][-1] == str(len(no_ffn)) == "2"
    shared = sorted(set(no_ffn) & set(full))  # Δ over the seeds both have, not against all the full runs' mean
    assert len(shared) == 2 < len(full)
    base = statistics.mean(full[s] for s in shared)
    assert rows["TiM4Rec: no-ffn"][-4] == f"{(statistics.mean(no_ffn.values()) - base) / base * 100:+.2f}%"
    matched = train_values(files, "amazon-beauty", 60, "tisasrec", "ndcg@10", "matched_tisasrec", ("ablation",))
    label = "TiSASRec: matched_tisasrec (hidden 60)"  # in the table of the hidden size it was matched to
    assert rows[label][col] == mean_std_text(list(matched.values())) and rows[label][-1] == "3"
    assert not any("hidden 60" in title for title in tables)
    ml = {r[0]: r for r in tables["ml-1m, hidden 32"][1:]}
    own_full = train_values(files, "ml-1m", 32, "tim4rec", "ndcg@10", "full", ("ablation",))
    assert ml["TiM4Rec (full)"][col] == mean_std_text(list(own_full.values()))


def test_efficiency_tables_ratios_and_gaps(report_dir):
    files = load_fixture_files()
    work = parse_markdown_tables((report_dir / "full" / "tables" / "efficiency-workload.md").read_text())
    (rows,) = work.values()
    header = rows[0]
    graph = "train_step_graph"  # a training step replayed as a CUDA graph: a row of its own, as a training step
    lat = {(r["model"] + (f"+{r['backend']}" if r.get("backend") else "") + ("+cuda_graph" if r["phase"] == graph
                                                                           else ""),
            "train_step" if r["phase"] == graph else r["phase"], r["seq_len"]): r.get("median_ms") for r in files
           if r["kind"] == "latency" and r["_rel"].startswith("full/") and r["status"] == "ok"}
    names = {**{v: k for k, v in NAMES.items()}, "TiM4Rec (mamba-ssm)": "tim4rec+mamba_ssm",
             "TiM4Rec (cuda-graph)": "tim4rec+cuda_graph"}
    # the official kernels and the graphed step: rows of their own
    assert {r[1] for r in rows[1:]} >= {"TiM4Rec", "TiM4Rec (mamba-ssm)", "TiM4Rec (cuda-graph)"}
    for row in rows[1:]:
        L, model = int(row[0]), names[row[1]]
        for phase, c in (("train_step", header.index("train step ms")), ("inference", header.index("inference ms"))):
            v, base = lat.get((model, phase, L)), lat.get(("sasrec", phase, L))
            assert row[c] == ("–" if v is None else f"{v:.2f}")
            assert row[c + 1] == ("–" if v is None or base is None else f"{v / base:.2f}×")
    train = parse_markdown_tables((report_dir / "full" / "tables" / "efficiency-train.md").read_text())
    row = {r[0]: r for r in train["ml-1m, hidden 64"][1:]}
    assert set(row["SSD4Rec"][1:]) == {"–"}  # the missing case
    per_epoch = [statistics.mean(e["train_seconds"] for e in r["epochs"]) for r in files
                 if r["kind"] == "train" and r["_rel"].startswith("full/") and r.get("status") == "ok"
                 and r["model"] == "mamba4rec" and r["dataset"]["name"] == "ml-1m" and r["config"]["hidden_size"] == 64
                 and not r.get("variant")]
    assert row["Mamba4Rec"][1] == f"{statistics.mean(per_epoch):.2f} ± {statistics.stdev(per_epoch):.2f}"


def test_index_embeds_figures_and_lists_problems(report_dir):
    index = (report_dir / "README.md").read_text()
    for name in FIGURES:
        assert f"](full/figures/{name}.png)" in index and f"(full/figures/{name}.pdf)" in index
    for r in load_fixture_files():
        if r.get("status", "ok") != "ok":
            line = [ln for ln in index.splitlines() if r["_rel"] in ln]
            assert line and r["reason"].splitlines()[0][:40] in line[0]
    assert "NVIDIA H100 80GB HBM3" in index and "x86_64 (CPU)" in index
    assert "`0123456789`" in index and "pytest suites/ --benchmark-only --profile full" in index
    assert "Source: 55 result files" in index  # accuracy figure: 60 cases - 3 missing - 2 single-seed


def test_output_is_deterministic(report_dir, tmp_path):
    build_report(FIXTURES, tmp_path, results_label=str(FIXTURES))
    for path in sorted(report_dir.rglob("*")):
        if path.suffix in (".md", ".tex", ".pdf"):
            rel = path.relative_to(report_dir)
            assert (tmp_path / rel).read_bytes() == path.read_bytes(), rel
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == sorted(
        p.relative_to(report_dir) for p in report_dir.rglob("*"))


def test_empty_and_missing_results_dir(tmp_path):
    for results in (tmp_path / "empty", tmp_path / "absent"):
        if results.name == "empty":
            results.mkdir()
        out = tmp_path / f"out-{results.name}"
        proc = subprocess.run([sys.executable, "-m", "seqrec", "report", "--results", str(results), "--out", str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "no results yet" in proc.stdout
        assert "No results yet" in (out / "README.md").read_text()


def test_bad_result_file_names_file_and_field(tmp_path):
    bad = tmp_path / "res" / "x.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"schema": 1, "kind": "train", "status": "ok", "model": "sasrec",
                               "dataset": {"name": "ml-1m"}, "config": {"hidden_size": 64}, "seed": 0,
                               "metrics": {"valid": {}}}))
    from seqrec.cli import main

    assert main(["report", "--results", str(bad.parent), "--out", str(tmp_path / "out")]) == 2
    with pytest.raises(ValueError, match=re.escape(f"{bad}: field 'metrics.test'")):
        collect_results(bad.parent)


def test_stale_outputs_of_an_earlier_build_are_removed(tmp_path):
    out = tmp_path / "out"
    stale = out / "old-set" / "figures" / "accuracy-vs-hidden.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    keep = out / "notes.txt"  # not written by the report: never touched
    keep.write_text("mine")
    (out / ".report-files").write_text("old-set/figures/accuracy-vs-hidden.png\n../outside.txt\n")
    (tmp_path / "outside.txt").write_text("outside")
    build_report(tmp_path / "no-results", out)
    assert not stale.exists() and keep.exists() and (tmp_path / "outside.txt").exists()
    assert (out / ".report-files").read_text() == "README.md\n"


def test_a_set_readme_is_linked_from_the_index(tmp_path):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(FIXTURES / "smoke", results / "smoke")
    (results / "smoke" / "README.md").write_text("Produced by campaigns/x.sh on 4 cards.\n")
    build_report(results, tmp_path / "out", results_label="results")
    index = (tmp_path / "out" / "README.md").read_text()
    assert "How these results were produced: [results/smoke/README.md](../results/smoke/README.md)." in index


def test_kernel_results_become_a_table_per_op_and_card(tmp_path):
    """Both kernel file layouts (a record per implementation; the SSD bench's list of cases with the bytes floor)
    land in set "gpu" (the kernels/ folder is a kind folder) with ours first and the ratios computed from the
    files' numbers."""
    from seqrec.results import write_result

    prov = {"device": "cuda", "device_name": "Card X", "git_commit": "a" * 40, "command": "bench"}
    ms = {"triton": random.uniform(1, 2), "mamba_ssm_cuda": random.uniform(2, 4)}
    write_result(tmp_path / "r" / "gpu" / "kernels" / "scan.json", {
        "kind": "kernel", "op": "selective_scan", "batch": 8, "seqlen": 50, "dim": 16, "nstate": 4,
        "dtype": "float32", "provenance": prov,
        "impls": {"mamba_ssm_cuda": {"status": "ok", "median_ms": ms["mamba_ssm_cuda"], "peak_memory_bytes": 2**21},
                  "triton": {"status": "ok", "median_ms": ms["triton"], "peak_memory_bytes": 2**20},
                  "torch_ref": {"status": "skipped", "reason": "not built"}}})
    write_result(tmp_path / "r" / "gpu" / "kernels" / "conv.json", {
        "kind": "kernel", "op": "causal_conv1d", "batch": 8, "seqlen": 50, "channels": 16, "dtype": "float32",
        "min_bytes": 2e9, "provenance": prov,
        "impls": {"triton": {"status": "ok", "median_ms": ms["triton"], "peak_memory_bytes": 2**20}}})
    write_result(tmp_path / "r" / "gpu" / "kernels" / "ssd.json", {
        "kind": "kernel", "op": "ssd", "provenance": prov, "copy_bandwidth_bytes_per_s": 4e12, "cases": [
            {"variant": "triton", "batch": 4, "seq_len": 50, "heads": 2, "head_dim": 8, "d_state": 4,
             "dtype": "torch.float32", "forward_backward_ms": 0.5, "peak_memory_bytes": 2**20,
             "floor_ms": {"forward_backward": 0.1}, "status": "ok"},
            {"variant": "mamba_ssm", "batch": 4, "seq_len": 50, "heads": 2, "head_dim": 8, "d_state": 4,
             "dtype": "torch.float32", "forward_backward_ms": 1.5, "peak_memory_bytes": 2**21,
             "floor_ms": {"forward_backward": 0.1}, "status": "ok"}]})
    build_report(tmp_path / "r", tmp_path / "out")
    tables = parse_markdown_tables((tmp_path / "out" / "gpu" / "tables" / "kernels.md").read_text())
    scan = tables["selective_scan — Card X"]
    assert scan[0][:4] == ["Shape", "dtype", "Implementation", "fwd+bwd ms"]
    assert [plain(r[2]) for r in scan[1:]] == [("triton", "bold"), ("mamba_ssm_cuda", None), ("torch_ref", None)]
    assert scan[1][0] == "B 8, L 50, D 16, N 4" and scan[1][3] == f"{ms['triton']:.3f}" and scan[1][4] == "1"
    assert scan[2][5] == f"{ms['mamba_ssm_cuda'] / ms['triton']:.2f}×"
    assert scan[3][3] == "–" and scan[3][7] == "not built"
    assert scan[1][6] == "–"  # no bytes stated: no floor
    conv = tables["causal_conv1d — Card X"]  # 2e9 bytes at the 4e12 B/s the SSD bench measured on Card X: 0.5 ms
    assert conv[1][6] == f"{ms['triton'] / 0.5:.2f}×"
    ssd = tables["ssd — Card X"]
    assert ssd[1][0] == "B 4, L 50, heads 2, head dim 8, N 4" and ssd[1][6] == "5.00×" and ssd[2][5] == "3.00×"


def test_ablation_runs_evaluated_at_other_lengths_get_their_table(tmp_path):
    """eval_at_max_len (the ablation suite's evaluation of the trained model at other max_len) becomes a table:
    the primary metric at the training length and at each other one, "cannot run" where every seed refused."""
    import shutil

    src = FIXTURES / "full" / "ablation" / "tim4rec-amazon-beauty-h64-s2-no-time.json"
    base = json.loads(src.read_text())
    dest = tmp_path / "r" / "full" / "ablation"
    dest.mkdir(parents=True)
    values = {}
    for seed in (0, 1):
        for variant in ("full", "official"):
            values[seed, variant] = random.uniform(0.01, 0.05)
            evals = {"trained_max_len": 50, "reproduced_test_max_abs_diff": 0.0,
                     "25": {"status": "ok", "factor": 0.5, "mode": "native",
                            "metrics": {"test": {"ndcg@10": values[seed, variant]}, "valid": {"ndcg@10": 0.1}}}}
            evals["100"] = ({"status": "cannot_run", "factor": 2.0, "reason": "ValueError: only max_len=50"}
                            if variant == "official" else
                            {"status": "ok", "factor": 2.0, "mode": "native",
                             "metrics": {"test": {"ndcg@10": 0.5}, "valid": {"ndcg@10": 0.1}}})
            r = {**base, "seed": seed, "variant": variant, "eval_at_max_len": evals}
            (dest / f"{variant}-s{seed}.json").write_text(json.dumps(r))
    shutil.copy(src, dest / "no-time.json")  # a variant without eval_at_max_len stays out of the table
    build_report(tmp_path / "r", tmp_path / "out")
    tables = parse_markdown_tables((tmp_path / "out" / "full" / "tables" / "ablation-max-len.md").read_text())
    (rows,) = tables.values()
    assert rows[0] == ["Variant", "trained max_len (50)", "max_len 25", "max_len 100", "n"]
    assert [r[0] for r in rows[1:]] == ["TiM4Rec (full)", "TiM4Rec: official"]
    assert rows[1][2] == mean_std_text([values[0, "full"], values[1, "full"]]) and rows[1][3] == "0.5000 ± 0.0000"
    assert rows[2][2] == mean_std_text([values[0, "official"], values[1, "official"]]) and rows[2][3] == "cannot run"
    assert rows[1][4] == rows[2][4] == "2"


def test_result_files_under_a_logs_folder_are_not_report_input(tmp_path):
    """A campaign keeps diagnostic benches beside its logs (results/<set>/logs/...): the report draws no table for
    them, while the same file in a kind folder does get one."""
    from seqrec.results import write_result

    rec = {"kind": "kernel", "op": "causal_conv1d", "batch": 8, "seqlen": 50, "channels": 16, "dtype": "float32",
           "provenance": {"device": "cuda", "device_name": "Card X", "git_commit": "a" * 40, "command": "bench"},
           "impls": {"triton": {"status": "ok", "median_ms": random.uniform(1, 2), "peak_memory_bytes": 2**20}}}
    write_result(tmp_path / "r" / "gpu" / "logs" / "part1-bisect" / "conv.json", rec)
    assert collect_results(tmp_path / "r").kernels.empty
    write_result(tmp_path / "r" / "gpu" / "kernels" / "conv.json", rec)
    assert list(collect_results(tmp_path / "r").kernels["set"]) == ["gpu"]


def test_step_times_and_a_profiled_epoch_become_tables_and_a_figure(tmp_path):
    """epochs[i].step_seconds (SEQREC_STEP_TIMES) and epochs[i].gpu_profile (SEQREC_PROFILE_EPOCH) of a run: a row
    per timed epoch (first step, median of the steps between, last, sum), the step figure, and a row per profiled
    epoch with the idle time split inside and between the graph's replays."""
    src = FIXTURES / "full" / "ablation" / "tim4rec-amazon-beauty-h64-s2-no-time.json"
    r = json.loads(src.read_text())
    secs = [[random.uniform(1, 30)] + [random.uniform(0.004, 0.006) for _ in range(7)] + [random.uniform(0.001, 2)]
            for _ in range(2)]
    profile = {"gpu_span_s": 0.5, "gpu_busy_s": 0.4, "gpu_idle_s": 0.1, "graph_idle_inside_s": 0.03,
               "graph_replays": 9, "graph_kernels": 900, "outside_graph_kernels": 27, "outside_graph_seconds": 0.01,
               "gpu_categories": {"GEMM": random.uniform(0.05, 0.2), "other": random.uniform(0.001, 0.01)}}
    r["epochs"] = [{**e, "epoch": i + 1, **({"step_seconds": secs[i]} if i < 2 else {})}
                   for i, e in enumerate(r["epochs"])]
    r["epochs"][2] = {**r["epochs"][2], "train_steps": 9, "gpu_profile": profile}
    dest = tmp_path / "r" / "timed" / "accuracy"
    dest.mkdir(parents=True)
    (dest / "run.json").write_text(json.dumps({**r, "variant": None}))
    build_report(tmp_path / "r", tmp_path / "out")
    out = tmp_path / "out" / "timed"
    (steps,) = parse_markdown_tables((out / "tables" / "step-times.md").read_text()).values()
    assert steps[0] == ["Run", "Epoch", "Steps", "First step s", "Median step ms", "Last step ms", "Sum s"]
    for row, s in zip(steps[1:], secs, strict=True):
        assert row[1:] == [str(secs.index(s) + 1), "9", f"{s[0]:.3f}", f"{1e3 * statistics.median(s[1:-1]):.2f}",
                           f"{1e3 * s[-1]:.2f}", f"{sum(s):.3f}"]
    assert (out / "figures" / "step-times.png").is_file()
    prof, cats = parse_markdown_tables((out / "tables" / "gpu-profile.md").read_text()).values()
    assert prof[1][1:] == ["3", "0.500", "0.400", "0.030", "0.070", f"{400 / 9:.2f}", "9", "900", "27", "0.010"]
    assert cats == [["Run", "Epoch", "GEMM", "other"],
                    [prof[1][0], "3"] + [f"{1e3 * profile['gpu_categories'][c] / 9:.3f}" for c in ("GEMM", "other")]]
    r["epochs"][0]["step_seconds"] = "slow"
    (dest / "run.json").write_text(json.dumps({**r, "variant": None}))
    with pytest.raises(ValueError, match=re.escape("field 'epochs[0].step_seconds' should be a list of seconds")):
        collect_results(tmp_path / "r")
    r["epochs"][0]["step_seconds"] = secs[0]
    r["epochs"][2]["gpu_profile"]["gpu_categories"] = ["GEMM"]
    (dest / "run.json").write_text(json.dumps({**r, "variant": None}))
    with pytest.raises(ValueError, match=re.escape("'epochs[2].gpu_profile.gpu_categories' should be a mapping")):
        collect_results(tmp_path / "r")


def test_profiled_epochs_of_every_set_share_one_table_and_figure(tmp_path):
    """Across sets: one row a profiled epoch with kernel categories (a profile without them has no row), its set,
    commit, the run's median epoch from the third on, busy and kernels a step, and each category in ms a step; the
    index gets an "Across sets" section."""
    src = FIXTURES / "full" / "ablation" / "tim4rec-amazon-beauty-h64-s2-no-time.json"
    r = json.loads(src.read_text())
    expect = {}
    for name, cats in (("before", {"GEMM": 0.09, "norm": 0.05}), ("after", {"GEMM": 0.06, "optimizer": 0.004}),
                       ("old", {})):
        secs = [random.uniform(5, 30)] + [random.uniform(0.3, 0.4) for _ in range(len(r["epochs"]) - 1)]
        profile = {"gpu_span_s": 0.5, "gpu_busy_s": random.uniform(0.2, 0.4), "gpu_idle_s": 0.1,
                   "graph_idle_inside_s": 0.03, "graph_replays": 10, "graph_kernels": 4000,
                   "outside_graph_kernels": 20, "outside_graph_seconds": 0.01, **({"gpu_categories": cats} if cats
                                                                                else {})}
        epochs = [{**e, "epoch": i + 1, "train_seconds": secs[i]} for i, e in enumerate(r["epochs"])]
        epochs[1] = {**epochs[1], "train_steps": 10, "gpu_profile": profile}
        commit = f"{len(expect)}{name}".ljust(40, "0")
        dest = tmp_path / "r" / name / "accuracy"
        dest.mkdir(parents=True)
        (dest / "run.json").write_text(json.dumps({**r, "variant": None, "epochs": epochs,
                                                   "provenance": {**r["provenance"], "git_commit": commit}}))
        expect[name] = (commit[:7], statistics.median(secs[2:]), 1e3 * profile["gpu_busy_s"] / 10, cats)
    build_report(tmp_path / "r", tmp_path / "out")
    (rows,) = parse_markdown_tables(
        (tmp_path / "out" / "across-sets" / "tables" / "epoch-profiles.md").read_text()).values()
    assert rows[0][:7] == ["Set", "Run", "Commit", "Card", "Epoch s", "Busy ms a step", "Kernels a step"]
    assert rows[0][7:] == ["GEMM", "norm", "optimizer"]  # the categories' order, only those present
    assert [row[0] for row in rows[1:]] == ["after", "before"]  # "old" has no categories
    for row in rows[1:]:
        commit, steady, busy, cats = expect[row[0]]
        assert row[2:3] + row[4:7] == [commit, f"{steady:.3f}", f"{busy:.2f}", "402"]
        assert row[7:] == [f"{1e3 * cats.get(c, 0.0) / 10:.3f}" for c in ("GEMM", "norm", "optimizer")]
    assert (tmp_path / "out" / "across-sets" / "figures" / "epoch-profiles.png").is_file()
    index = (tmp_path / "out" / "README.md").read_text()
    assert "## Across sets: profiled epochs" in index and "(#across-sets-profiled-epochs)" in index


def test_a_table_names_its_runs_precision_where_any_is_not_ieee_fp32(tmp_path):
    """collect.precision from train_config (amp, tf32); the accuracy table of a (dataset, hidden) cell whose runs
    trained with TF32 says how many, the other cells say nothing."""
    from seqrec.report.collect import precision
    from seqrec.report.paper_tables import accuracy_tables

    assert precision({"train_config": {}}) == "fp32" and precision({}) == "fp32"
    assert precision({"train_config": {"tf32": True}}) == "tf32"
    assert precision({"train_config": {"amp": "bf16", "tf32": False}}) == "bf16"
    assert precision({"train_config": {"amp": "fp16", "tf32": True}}) == "fp16+tf32"
    root = tmp_path / "results"
    (root / "full").mkdir(parents=True)
    tf32_files = 0
    for src in sorted((FIXTURES / "full" / "accuracy").glob("*.json")):
        record = json.loads(src.read_text())
        if record.get("status") == "ok" and "-ml-1m-h64-" in src.name:
            record.setdefault("train_config", {})["tf32"] = True
            tf32_files += 1
        (root / "full" / "accuracy").mkdir(exist_ok=True)
        (root / "full" / "accuracy" / src.name).write_text(json.dumps(record))
    assert tf32_files
    runs = collect_results(root).runs
    tables = {t.title: t for t in accuracy_tables(runs[runs["set"] == "full"], "full")}
    assert tables["ml-1m, hidden 64"].notes == [
        f"Runs by training precision: tf32 {tf32_files} (tf32: fp32 with TF32 matmul products; bf16, fp16: autocast)."]
    assert all(not t.notes for title, t in tables.items() if title != "ml-1m, hidden 64")


def test_cold_starts_of_every_set_share_one_table_and_figure(tmp_path):
    """Across sets: one row a run whose first epoch recorded compile_seconds, sorted by first epoch within a run:
    torch's forward and backward compiles, Triton kernels in the process and hits, the prewarm's readiness where
    the result records it, a compile-ahead run's switch (or never); a malformed record is an error naming it."""
    src = FIXTURES / "full" / "ablation" / "tim4rec-amazon-beauty-h64-s2-no-time.json"
    r = json.loads(src.read_text())
    # name: first epoch s, torch's metrics, Triton kernels in process, the result's cold_start, compile-ahead, switch
    runs = {"compiled": (30.0, {"_compile.compile_inner": 12.5, "backward._backward_impl": 6.25}, 10, None, False, 1),
            "ahead": (13.0, {}, 12, {"first_epoch_after_prewarm_seconds": 1.5, "prewarm_processes": [
                {"share": "0/2", "ready_seconds": 7.25}, {"share": "1/2", "ready_seconds": 9.5}]}, True, None),
            "switched": (12.0, {}, 11, None, True, 3)}
    for name, (first, torch_s, kernels, started, ahead, compiled_from) in runs.items():
        steps = [first - 1.0] + [1.0 / 64] * 64
        epochs = [{**e, "epoch": i + 1, "train_seconds": first if i == 0 else 4.5 if i + 1 == compiled_from else 0.3}
                  for i, e in enumerate(r["epochs"])]
        epochs[0].update(step_seconds=steps, compile_seconds={"torch": torch_s, "triton_jit": {
            "kernels": kernels, "seconds": 0.5 * kernels, "cache_hits": 16 - kernels, "slowest": {}}})
        extra = {"cold_start": started} if started else {}
        dest = tmp_path / "r" / name / "accuracy"
        dest.mkdir(parents=True)
        (dest / "run.json").write_text(json.dumps({**r, "variant": None, "epochs": epochs, **extra,
                                                   "compiled_from_epoch": compiled_from,
                                                   "train_config": {**r["train_config"], "compile_ahead": ahead}}))
    build_report(tmp_path / "r", tmp_path / "out")
    cold = tmp_path / "out" / "cold-starts"
    (rows,) = parse_markdown_tables((cold / "tables" / "cold-starts.md").read_text()).values()
    assert rows[0][4:] == ["First epoch", "First step", "Forward compile", "Backward compile",
                           "Triton in process (n / s)", "Hits", "Prewarm ready", "First epoch at", "Compiled from",
                           "Epoch s"]
    assert [row[0] for row in rows[1:]] == ["switched", "ahead", "compiled"]  # by first epoch
    assert rows[1][4:13] == ["12.0", "11.00", "0.00", "0.00", "11 / 5.50", "5", "–", "–", "3 (4.5 s)"]
    assert rows[2][4:13] == ["13.0", "12.00", "0.00", "0.00", "12 / 6.00", "4", "9.5", "1.5", "never"]
    assert rows[3][4:13] == ["30.0", "29.00", "12.50", "6.25", "10 / 5.00", "6", "–", "–", ""]
    assert (cold / "figures" / "cold-starts.png").is_file() and (cold / "figures" / "cold-starts.pdf").is_file()
    assert "## Across sets: cold starts" in (tmp_path / "out" / "README.md").read_text()
    epochs[0]["compile_seconds"] = {"torch": 12.5}
    (dest / "run.json").write_text(json.dumps({**r, "variant": None, "epochs": epochs}))
    with pytest.raises(ValueError, match=re.escape("field 'epochs[0].compile_seconds' should be a mapping with")):
        collect_results(tmp_path / "r")
