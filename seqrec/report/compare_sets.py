"""``python -m seqrec compare BASE OTHER [OTHER ...]``: the same training cases over seeds in several result sets
(e.g. one model trained eager, with the CUDA graph, compiled): does a path change the score?

For every case (model, dataset, hidden size, variant) that BASE and another set both hold, a Markdown table gives
each set's seeds, mean ± sd of the metric, its change against BASE, the mean distance of a seed's value from BASE's
for that seed (two paths drawing the same random numbers, e.g. the same dropout masks, differ by rounding and stay
close seed by seed; paths drawing others scatter as far as the seeds do), the t-test paired by seed (meaningful where
both paths draw the same random numbers for a seed) and Welch's test (where they do not: pairs by seed would pair
unrelated draws), and a figure shows every seed's value (PNG and PDF, lines join a seed across sets). With
``--out PATH`` they are written as ``PATH.md`` (atomically), ``PATH.png`` and ``PATH.pdf`` (as the report draws
figures); else the table is printed.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from seqrec.atomic import atomic_open
from seqrec.report.collect import ReportInputError, collect_results, model_name
from seqrec.report.figures import save_figure
from seqrec.report.stats import paired_t_test_by_seed, welch_t_test

Case = tuple[str, str, int, str]  # model, dataset, hidden, variant


def seed_values(set_dir: str | Path, metric: str) -> dict[Case, dict[int, float]]:
    """{case: {seed: test metric}} of the ok training runs under ``set_dir``."""
    runs = collect_results(set_dir).runs
    runs = runs[runs["kind"] == "train"] if not runs.empty else runs
    column = f"test:{metric}"
    if runs.empty:
        return {}
    if column not in runs.columns:
        raise ReportInputError(f"{set_dir}: no run reports test metric {metric!r}")
    out: dict[Case, dict[int, float]] = {}
    for row in runs[["model", "dataset", "hidden", "variant", "seed", column]].to_dict("records"):
        case = (row["model"], row["dataset"], int(row["hidden"]), row["variant"])
        out.setdefault(case, {})[int(row["seed"])] = float(row[column])
    return out


def _case_label(case: Case) -> str:
    model, dataset, hidden, variant = case
    return f"{model_name(model)}{' ' + variant if variant else ''}, {dataset}, hidden {hidden}"


def _fmt_p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3f}"


def shared_cases(sets: dict[str, dict[Case, dict[int, float]]]) -> list[Case]:
    """The cases of the first (base) set that another set holds too, sorted."""
    base_name, *others = sets
    return [c for c in sorted(sets[base_name]) if any(c in sets[o] for o in others)]


def seed_distance(a: dict[int, float], b: dict[int, float]) -> float:
    """Mean |a[s] - b[s]| over the seeds both hold (NaN where none)."""
    shared = sorted(set(a) & set(b))
    return math.fsum(abs(a[s] - b[s]) for s in shared) / len(shared) if shared else math.nan


def comparison_table(sets: dict[str, dict[Case, dict[int, float]]], metric: str) -> str:
    """Markdown: per case, one row per set (the first is the base)."""
    base_name, *others = sets
    lines = []
    for case in shared_cases(sets):
        base = sets[base_name][case]
        bmean = float(np.mean(list(base.values())))
        lines += [f"## {_case_label(case)}", "",
                  f"| set | seeds | {metric} mean ± sd | vs {base_name} | mean \\|Δ\\| a seed | paired t p (seeds) "
                  "| Welch p |",
                  "|:---|---:|---:|---:|---:|---:|---:|"]
        for name in sets:
            vals = sets[name].get(case)
            if not vals:
                continue
            v = list(vals.values())
            mean = float(np.mean(v))
            sd = float(np.std(v, ddof=1)) if len(v) > 1 else math.nan
            if name == base_name:
                change, distance, paired, welch = "", "", "", ""
            else:
                change = f"{100 * (mean - bmean) / bmean:+.2f}%"
                d = seed_distance(vals, base)
                distance = "–" if math.isnan(d) else f"{d:.5f}"
                pt = paired_t_test_by_seed(vals, base)
                paired = f"{_fmt_p(pt.p)} ({pt.n})"
                welch = _fmt_p(welch_t_test(v, list(base.values())).p)
            lines.append(f"| {name} | {len(v)} | {mean:.5f} ± {sd:.5f} | {change} | {distance} | {paired} | {welch} |")
        lines.append("")
    if not lines:
        raise ReportInputError(f"no case of {base_name} appears in {', '.join(others)}")
    return "\n".join(lines)


def comparison_figure(sets: dict[str, dict[Case, dict[int, float]]], metric: str) -> Figure:
    """One panel per shared case: x the sets, y every seed's metric, lines joining a seed, a bar at each mean."""
    cases = shared_cases(sets)
    names = list(sets)
    fig = Figure(figsize=(max(1.6 * len(names) + 1.5, 4.5), 3.4 * len(cases)), layout="constrained")
    for ax, case in zip(fig.subplots(len(cases), 1, squeeze=False)[:, 0], cases, strict=True):
        seeds = sorted({s for n in names for s in sets[n].get(case, {})})
        for seed in seeds:
            xs = [i for i, n in enumerate(names) if seed in sets[n].get(case, {})]
            ax.plot(xs, [sets[names[i]][case][seed] for i in xs], "o-", color="0.6", lw=0.8, ms=4, alpha=0.8)
        for i, n in enumerate(names):
            if sets[n].get(case):
                ax.hlines(np.mean(list(sets[n][case].values())), i - 0.25, i + 0.25, color="C3", lw=2.5)
        ax.set_xticks(range(len(names)), names, rotation=15, ha="right", fontsize=8)
        ax.set_ylabel(f"test {metric}")
        ax.set_title(f"{_case_label(case)} (grey: seeds; red: mean)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sets", nargs="+", metavar="SET", help="result-set directories; the first is the base")
    parser.add_argument("--metric", default="ndcg@10", help="test metric (default ndcg@10)")
    parser.add_argument("--out", help="write OUT.md, OUT.png and OUT.pdf (default: print the table)")


def run(args: argparse.Namespace) -> int:
    if len(args.sets) < 2:
        print("seqrec compare: give a base set and at least one other", file=sys.stderr)
        return 2
    try:
        missing = [s for s in args.sets if not Path(s).is_dir()]
        if missing:
            raise ReportInputError(f"not a directory of result files: {', '.join(missing)}")
        sets = {Path(s).name: seed_values(s, args.metric) for s in args.sets}
        if len(sets) < len(args.sets):
            raise ReportInputError("two sets share a directory name; compare sets with distinct names")
        table = comparison_table(sets, args.metric)
    except ReportInputError as e:
        print(f"seqrec compare: {e}", file=sys.stderr)
        return 2
    header = (f"# {args.metric} over seeds: {', '.join(f'`{s}`' for s in args.sets)}\n\n"
              f"Generated by `python -m seqrec compare {' '.join(args.sets)} --metric {args.metric}`; base: the "
              "first set.\n\n")
    if not args.out:
        print(header + table)
        return 0
    out = Path(args.out)
    with atomic_open(out.with_suffix(".md")) as f:
        f.write(header + table)
    save_figure(comparison_figure(sets, args.metric), out)
    print(f"seqrec compare: wrote {out.with_suffix('.md')}, .png, .pdf")
    return 0
