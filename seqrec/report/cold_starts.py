"""Cold starts of every set side by side (runs whose first epoch recorded where its time went: ``SEQREC_STEP_TIMES``
with ``epochs[0].compile_seconds``, seqrec/compile_times.py), as one table and one figure: the first epoch split into
torch's compiles, the rest of its first step (our Triton kernels compiled in the process, a CUDA graph's capture,
the step) and the other steps, against #4's target of 15 s; with the prewarm's readiness where the run recorded it.

    cold_rows(runs)   # runs: collect_results(...).runs, every set -> one row per run with a cold-start record
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from seqrec.report.profiles import stacked_bars
from seqrec.report.tables import Cell, Table

TARGET_S = 15.0  # #4: a cold first epoch under 15 s
NOTE = ("One row a run whose first epoch recorded where its time went (`SEQREC_STEP_TIMES=1`: "
        "`epochs[0].compile_seconds`), from every set, sorted by run and first epoch. Forward: dynamo and the "
        "forward's compile (`_compile.compile_inner`); backward: the backward's compile at the first backward "
        "(`backward._backward_impl`); Triton in process: kernels JIT-compiled in the training process (inductor's "
        "among them, inside its compiles) and their seconds, hits: found compiled in the cache (the prewarm's work "
        "where it ran); prewarm ready: when its last process finished, and first epoch: when the run's first epoch "
        "began, both in seconds after the prewarm started (runs from part 29 on). Compiled from: the epoch a "
        "`--compile-ahead` run went compiled and that epoch's seconds (its compile from the cache the background "
        "process filled, and a graph's capture; never: the background compile had not landed). Runs differ in host "
        "and load: compare rows of one run.")


def has_cold_start(cold: Any) -> bool:
    return isinstance(cold, dict)


def cold_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict a run with a cold-start record: set, run, commit, card, s_per_epoch_steady and collect's fields."""
    if runs.empty or "cold_start" not in runs.columns:
        return []
    rows = [{"set": r["set"], "run": f"{r['model']} {r['dataset']} h{r['model_hidden']} s{r['seed']}",
             "commit": str(r["git_commit"])[:7], "card": r["device_name"],
             "s_per_epoch_steady": r.get("s_per_epoch_steady", math.nan), **r["cold_start"]}
            for _, r in runs.iterrows() if has_cold_start(r["cold_start"])]
    return sorted(rows, key=lambda x: (x["run"], x["epoch_s"], x["set"]))


def _s(v: float, digits: int = 1) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _switch(r: dict[str, Any]) -> str:
    """A compile-ahead run's "Compiled from" cell: "never", the epoch, or the epoch and its seconds."""
    if not r["compile_ahead"]:
        return ""
    if r["compiled_from_epoch"] is None:
        return "never"
    seconds = r.get("switch_epoch_s", math.nan)
    return str(r["compiled_from_epoch"]) + ("" if math.isnan(seconds) else f" ({seconds:.1f} s)")


def cold_tables(runs: pd.DataFrame) -> list[Table]:
    rows = cold_rows(runs)
    if not rows:
        return []
    cells = [[Cell(r["set"]), Cell(r["run"]), Cell(r["commit"]), Cell(r["card"]), Cell(_s(r["epoch_s"])),
              Cell(_s(r["first_step_s"], 2)), Cell(_s(r["forward_compile_s"], 2)), Cell(_s(r["backward_compile_s"], 2)),
              Cell(f"{r['triton_kernels']:.0f} / {r['triton_s']:.2f}"), Cell(f"{r['cache_hits']:.0f}"),
              Cell(_s(r["prewarm_ready_s"])), Cell(_s(r["first_epoch_after_prewarm_s"])),
              Cell(_switch(r)), Cell(_s(r["s_per_epoch_steady"], 3))] for r in rows]
    return [Table(title="Cold starts across sets: where the first epoch went (s)",
                  columns=["Set", "Run", "Commit", "Card", "First epoch", "First step", "Forward compile",
                           "Backward compile", "Triton in process (n / s)", "Hits", "Prewarm ready", "First epoch at",
                           "Compiled from", "Epoch s"],
                  rows=cells, align="llll" + "r" * 10, label="tab:cold-starts-across-sets")]


def cold_figure(runs: pd.DataFrame, title: str) -> Figure | None:
    """Stacked horizontal bars, one a run: its first epoch as torch's forward and backward compiles, the rest of the
    first step, the other steps; #4's 15 s target as a dashed line."""
    rows = cold_rows(runs)
    if not rows:
        return None
    fwd = np.array([r["forward_compile_s"] for r in rows])
    bwd = np.array([r["backward_compile_s"] for r in rows])
    step = np.array([r["first_step_s"] for r in rows])
    epoch = np.array([r["epoch_s"] for r in rows])
    fig = Figure(figsize=(10.5, 0.42 * len(rows) + 2.0))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    rest = np.maximum(step - fwd - bwd, 0)
    stacked_bars(ax, y, {"torch: forward compile (incl. dynamo)": fwd, "torch: backward compile": bwd,
                         "rest of the first step (our kernels compiled, graph capture)": rest,
                         "the epoch's other steps": np.maximum(epoch - step, 0)})
    ax.axvline(TARGET_S, color="k", linestyle="--", linewidth=1, label=f"#4's target ({TARGET_S:.0f} s)")
    ax.set_yticks(y, [f"{r['set']} ({r['commit']}, {r['run']})" for r in rows], fontsize=6)
    ax.set_xlabel("first training epoch, caches as the run found them (s)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
