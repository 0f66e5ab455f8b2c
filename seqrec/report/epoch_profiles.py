"""Profiled training epochs (``SEQREC_PROFILE_EPOCH``: ``epochs[i].gpu_profile`` with ``gpu_categories``) of every
set side by side, as one table and one figure: how a change of the code or its settings moved the epoch and each
kind of kernel (#4's speed work; one set a run and setting, each its own commit).

    across_rows(runs)   # runs: collect_results(...).runs, every set -> one row per profiled epoch with categories
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from seqrec.report.profiles import CATEGORY_NAMES, stacked_bars
from seqrec.report.tables import Cell, Table

NOTE = ("One row a profiled epoch (`SEQREC_PROFILE_EPOCH`) whose profile has kernel categories, from every set: the "
        "set, its commit and card, the run's epoch (median wall time of its epochs from the third on: the first "
        "compiles, the second may capture), GPU busy ms a step (the union of kernels, copies and sets over the epoch's "
        "steps), kernels a step, and each category's kernel ms a step (`seqrec/step_profile.py`; overlapping "
        "kernels count in full). Only runs of one model, dataset and hidden size compare: each row names its run.")


def has_categories(gpu_profiles: list) -> bool:
    """Whether a run's ``gpu_profiles`` (collect.py: [(epoch, steps, profile)]) hold an epoch ``across_rows`` shows:
    one with steps and kernel categories."""
    return any(steps and p["categories"] for _, steps, p in gpu_profiles or [])


def across_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """(set, run, commit, card, epoch, steps, s_per_epoch_steady, busy_ms, kernels_per_step, categories in ms a
    step) of each profiled epoch with categories, sorted by run, then commit order of the sets' names."""
    rows = []
    if runs.empty or "gpu_profiles" not in runs.columns:
        return rows
    for _, r in runs.iterrows():
        for epoch, steps, p in r["gpu_profiles"] or []:
            if not p["categories"] or not steps:
                continue
            kernels = p["graph_kernels"] + p["outside_graph_kernels"]
            rows.append({"set": r["set"], "run": f"{r['model']} {r['dataset']} h{r['model_hidden']} s{r['seed']}",
                         "commit": str(r["git_commit"])[:7], "card": r["device_name"], "epoch": epoch,
                         "steps": steps, "s_per_epoch_steady": r.get("s_per_epoch_steady", float("nan")),
                         "busy_ms": 1e3 * p["gpu_busy_s"] / steps, "kernels_per_step": kernels / steps,
                         "categories": {c: 1e3 * s / steps for c, s in p["categories"].items()}})
    return sorted(rows, key=lambda x: (x["run"], x["set"]))


def _categories(rows: list[dict[str, Any]]) -> list[str]:
    seen = {c for r in rows for c in r["categories"]}
    return [c for c in CATEGORY_NAMES if c in seen] + sorted(seen - set(CATEGORY_NAMES))


def across_tables(runs: pd.DataFrame) -> list[Table]:
    rows = across_rows(runs)
    if not rows:
        return []
    cats = _categories(rows)
    cells = [[Cell(r["set"]), Cell(r["run"]), Cell(r["commit"]), Cell(r["card"]),
              Cell(f"{r['s_per_epoch_steady']:.3f}"), Cell(f"{r['busy_ms']:.2f}"), Cell(f"{r['kernels_per_step']:.0f}")]
             + [Cell(f"{r['categories'].get(c, 0.0):.3f}") for c in cats] for r in rows]
    return [Table(title="Profiled epochs across sets, GPU ms a step by kernel category",
                  columns=["Set", "Run", "Commit", "Card", "Epoch s", "Busy ms a step", "Kernels a step", *cats],
                  rows=cells, align="llll" + "r" * (3 + len(cats)), label="tab:epoch-profiles-across-sets")]


def across_figure(runs: pd.DataFrame, title: str) -> Figure | None:
    """Stacked horizontal bars, one a profiled epoch: its kernels' ms a step by category; the GPU-busy ms a step
    (kernels overlapping counted once) as a tick."""
    rows = across_rows(runs)
    if not rows:
        return None
    cats = _categories(rows)
    fig = Figure(figsize=(10.5, 0.5 * len(rows) + 2.0))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    stacked_bars(ax, y, {cat: np.array([r["categories"].get(cat, 0.0) for r in rows]) for cat in cats})
    ax.scatter([r["busy_ms"] for r in rows], y, marker="|", s=300, color="k", label="GPU busy", zorder=3)
    ax.set_yticks(y, [f"{r['set']} ({r['commit']})" for r in rows], fontsize=7)
    ax.set_xlabel("GPU kernel time per training step of the profiled epoch (ms)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
