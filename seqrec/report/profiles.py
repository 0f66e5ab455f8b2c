"""Training-step profiles (kind "profile", written by ``seqrec anatomy --profile N --out``) as a table and a
figure: GPU kernel time per step by category, one row per model and setting, one table per card.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from seqrec.report.tables import MISSING, Cell, Table, is_missing
from seqrec.step_profile import CATEGORIES, OTHER

CATEGORY_NAMES = [name for name, _ in CATEGORIES] + [OTHER]
PROFILE_COLUMNS = ["label", "model", "batch", "seq_len", "hidden", "compiled", "amp", "ms_per_step",
                   *(f"cat:{c}" for c in CATEGORY_NAMES)]
NOTE = ("GPU kernel time of one training step (forward, loss over all items, backward, Adam), ms, averaged over "
        "the profiled steps after warm-up (torch.profiler); by kernel category (`seqrec/step_profile.py`). "
        "Host time and launch gaps are not in it; the latency suite times the whole step.")
# one grey level and hatch per category: readable in greyscale
_FILLS = [("0.1", ""), ("0.45", ""), ("0.8", ""), ("0.95", "//"), ("0.65", "\\\\"), ("0.95", "xx"), ("0.3", "//"),
          ("0.95", ".."), ("0.6", "--"), ("1.0", "")]


def profile_row(r: dict[str, Any]) -> dict[str, Any]:
    """One profile file as a row (without set and provenance)."""
    setting = ("compiled" if r.get("compiled") else "eager") + (f", {r['amp']}" if r.get("amp") else ", fp32")
    label = f"{r.get('model')} B{r.get('batch')} L{r.get('seq_len')} h{r.get('hidden')} ({setting})"
    row = {"label": label, "model": r.get("model"), "batch": r.get("batch"), "seq_len": r.get("seq_len"),
           "hidden": r.get("hidden"), "compiled": bool(r.get("compiled")), "amp": r.get("amp") or "",
           "ms_per_step": float(r.get("ms_per_step", float("nan")))}
    cats = r.get("categories") or {}
    row.update({f"cat:{c}": float(cats[c]) if c in cats else float("nan") for c in CATEGORY_NAMES})
    return row


def _ms(x: float) -> str:
    return MISSING if is_missing(x) else f"{x:.2f}"


def profile_tables(frame: pd.DataFrame, set_name: str) -> list[Table]:
    tables = []
    if frame.empty:
        return tables
    for card, sub in frame.groupby("device_name", sort=True):
        sub = sub.sort_values(["model", "batch", "seq_len", "hidden", "compiled", "amp"], kind="mergesort")
        cats = [c for c in CATEGORY_NAMES if sub[f"cat:{c}"].notna().any()]
        rows = [[Cell(r["label"]), Cell(_ms(r["ms_per_step"]))] + [Cell(_ms(r[f"cat:{c}"])) for c in cats]
                for _, r in sub.iterrows()]
        tables.append(Table(title=f"Training step by kernel category — {card}", columns=["Step", "Total ms", *cats],
                            rows=rows, align="l" + "r" * (len(cats) + 1), label=f"tab:profile-{set_name}"))
    return tables


def stacked_bars(ax, y: np.ndarray, widths: dict[str, np.ndarray]) -> None:
    """Horizontal bars at y, one segment a category (``widths``: category -> a width a bar, in order), each
    category its grey and hatch (``_FILLS``) and a legend label."""
    left = np.zeros(len(y))
    for i, (cat, width) in enumerate(widths.items()):
        color, hatch = _FILLS[i % len(_FILLS)]
        ax.barh(y, width, left=left, color=color, hatch=hatch, edgecolor="0.1", linewidth=0.5, height=0.7,
                label=cat)
        left += width


def profile_figure(frame: pd.DataFrame, title: str) -> Figure | None:
    """Stacked horizontal bars: each profiled step's kernel time by category."""
    if frame.empty:
        return None
    frame = frame.sort_values(["device_name", "model", "batch", "seq_len", "hidden", "compiled", "amp"])
    cats = [c for c in CATEGORY_NAMES if frame[f"cat:{c}"].notna().any()]
    fig = Figure(figsize=(9.5, 0.45 * len(frame) + 2.0))
    ax = fig.add_subplot()
    y = np.arange(len(frame))[::-1]
    stacked_bars(ax, y, {cat: frame[f"cat:{cat}"].fillna(0.0).to_numpy() for cat in cats})
    labels = frame["label"] + (" — " + frame["device_name"] if frame["device_name"].nunique() > 1 else "")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("GPU kernel time per training step (ms)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
