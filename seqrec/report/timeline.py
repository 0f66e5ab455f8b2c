"""A training run's first epochs step by step (``SEQREC_STEP_TIMES``: ``epochs[i].step_seconds``) and its profiled
epoch's GPU time (``SEQREC_PROFILE_EPOCH``: ``epochs[i].gpu_profile``, seqrec/epoch_profile.py), as tables and a
figure: where a cold first epoch goes (compilation at the first step, a CUDA graph's capture, the partial last
batch) and how much of a replayed epoch the GPU spends idle, inside the graph's replays or between them.

    step_rows(runs)   # one row per run and timed epoch
    profile_rows(runs)   # one row per run with a profiled epoch
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from seqrec.report.tables import Cell, Table

STEP_NOTE = ("Wall time of each training step of a run's first epochs (`SEQREC_STEP_TIMES`; the device synchronised "
             "after every step, so these epochs run a little slower than the others): the first step (compilation "
             "where caches are cold), the median of the steps between, the last (an epoch's partial batch), and "
             "their sum.")
PROFILE_NOTE = ("GPU activity over one profiled epoch (`SEQREC_PROFILE_EPOCH`, torch.profiler; the profiler's cost is "
                "in that epoch's wall time, not in these figures): busy is the union of kernels, copies and sets; "
                "idle inside replays is the gaps between a CUDA graph's kernels, idle between is the rest of the span "
                "(the host's share, and kernels launched outside the graph); per step, the busy time over the "
                "epoch's steps. By category: each category's kernel durations summed (the anatomy's categories, "
                "seqrec/step_profile.py) over the epoch's steps; overlapping kernels count in full.")


def run_label(r: pd.Series) -> str:
    return f"{r['model']} {r['dataset']} h{r['model_hidden']} s{r['seed']}"


def step_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """(label, epoch, steps, first_s, median_ms, last_ms, sum_s, seconds) for each run's timed epochs."""
    rows = []
    if runs.empty or "step_timeline" not in runs.columns:
        return rows
    for _, r in runs.iterrows():
        for epoch, secs in r["step_timeline"] or []:
            middle = secs[1:-1] or secs
            rows.append({"label": run_label(r), "epoch": epoch, "steps": len(secs), "first_s": secs[0],
                         "median_ms": 1e3 * statistics.median(middle), "last_ms": 1e3 * secs[-1],
                         "sum_s": sum(secs), "seconds": secs})
    return rows


def step_tables(runs: pd.DataFrame, set_name: str) -> list[Table]:
    rows = step_rows(runs)
    if not rows:
        return []
    cells = [[Cell(r["label"]), Cell(str(r["epoch"])), Cell(str(r["steps"])), Cell(f"{r['first_s']:.3f}"),
              Cell(f"{r['median_ms']:.2f}"), Cell(f"{r['last_ms']:.2f}"), Cell(f"{r['sum_s']:.3f}")] for r in rows]
    return [Table(title="Step times of the first epochs",
                  columns=["Run", "Epoch", "Steps", "First step s", "Median step ms", "Last step ms", "Sum s"],
                  rows=cells, align="lrrrrrr", label=f"tab:steps-{set_name}")]


def step_figure(runs: pd.DataFrame, title: str) -> Figure | None:
    """Each timed step's wall time (log scale) in order over the timed epochs, one line per run, the epochs'
    boundaries dotted."""
    rows = step_rows(runs)
    if not rows:
        return None
    fig = Figure(figsize=(9.5, 4.2))
    ax = fig.add_subplot()
    greys = ["0.1", "0.45", "0.7"]
    for i, (label, sub) in enumerate(pd.DataFrame(rows).groupby("label", sort=True)):
        sub = sub.sort_values("epoch")
        secs = [s for r in sub["seconds"] for s in r]
        ax.plot(np.arange(1, len(secs) + 1), 1e3 * np.asarray(secs), color=greys[i % 3], linewidth=0.9,
                linestyle=["-", "--", ":"][i // 3 % 3], label=label)
        ends = np.cumsum(sub["steps"].to_numpy())[:-1]
        for end in ends:
            ax.axvline(end + 0.5, color="0.6", linestyle=":", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("training step (timed epochs in order; dotted: an epoch's end)")
    ax.set_ylabel("wall time of the step (ms)")
    ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def profile_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per run and profiled epoch: its GPU profile's seconds and counts, and busy ms a step."""
    rows = []
    if runs.empty or "gpu_profiles" not in runs.columns:
        return rows
    for _, r in runs.iterrows():
        for epoch, steps, p in r["gpu_profiles"] or []:
            idle_between = p["gpu_idle_s"] - p["graph_idle_inside_s"]
            rows.append({"label": run_label(r), "epoch": epoch, "steps": steps, **p, "idle_between_s": idle_between,
                         "busy_ms_per_step": 1e3 * p["gpu_busy_s"] / steps if steps else float("nan")})
    return rows


def profile_tables(runs: pd.DataFrame, set_name: str) -> list[Table]:
    rows = profile_rows(runs)
    if not rows:
        return []
    cells = [[Cell(r["label"]), Cell(str(r["epoch"])), Cell(f"{r['gpu_span_s']:.3f}"), Cell(f"{r['gpu_busy_s']:.3f}"),
              Cell(f"{r['graph_idle_inside_s']:.3f}"), Cell(f"{r['idle_between_s']:.3f}"),
              Cell(f"{r['busy_ms_per_step']:.2f}"), Cell(str(r["graph_replays"])), Cell(str(r["graph_kernels"])),
              Cell(str(r["outside_graph_kernels"])), Cell(f"{r['outside_graph_seconds']:.3f}")] for r in rows]
    tables = [Table(title="GPU time of a profiled epoch",
                    columns=["Run", "Epoch", "Span s", "Busy s", "Idle inside replays s", "Idle between s",
                             "Busy ms a step", "Replays", "Kernels in replays", "Kernels outside", "Outside s"],
                    rows=cells, align="l" + "r" * 10, label=f"tab:gpu-profile-{set_name}")]
    with_cats = [r for r in rows if r["categories"]]
    if with_cats:
        names = list(dict.fromkeys(c for r in with_cats for c in r["categories"]))
        cells = [[Cell(r["label"]), Cell(str(r["epoch"]))]
                 + [Cell(f"{1e3 * r['categories'].get(c, 0.0) / r['steps']:.3f}" if r["steps"] else "nan")
                    for c in names] for r in with_cats]
        tables.append(Table(title="GPU ms a step of a profiled epoch, by kernel category",
                            columns=["Run", "Epoch"] + names, rows=cells, align="ll" + "r" * len(names),
                            label=f"tab:gpu-profile-categories-{set_name}"))
    return tables
