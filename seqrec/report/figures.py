r"""Figures (matplotlib ``Figure`` objects on the Agg canvas, no pyplot state), saved as PNG and PDF.

Every model has a fixed colour, marker and line style (readable in greyscale); models appear in the fixed
order sasrec, tisasrec, mamba4rec, ssd4rec, tim4rec. Missing cases are NaN, drawn as gaps. Output is
deterministic: PDF without a creation date, PNG without a timestamp. PDF is the vector format (a paper's
``\includegraphics``), a fifth of SVG's bytes for these figures (the committed reports travel with every GPU call).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from seqrec.report.collect import (
    FULL_VARIANTS,
    PROPOSED,
    ablation_runs,
    main_runs,
    metric_name,
    model_name,
    model_sort_key,
    ordered_models,
    seed_stats,
    split_provider,
)
from seqrec.report.paper_tables import PRIMARY_METRIC, SPLIT, variant_label

MIB = 2**20
HIDDEN_METRICS = ("ndcg@10", "hit@10")
# Okabe-Ito colours (colour-blind safe) with distinct markers and dash patterns for greyscale prints.
MODEL_STYLES = {
    "sasrec": {"color": "#000000", "marker": "o", "linestyle": "-"},
    "tisasrec": {"color": "#E69F00", "marker": "s", "linestyle": "--"},
    "mamba4rec": {"color": "#56B4E9", "marker": "^", "linestyle": "-."},
    "ssd4rec": {"color": "#009E73", "marker": "D", "linestyle": ":"},
    "tim4rec": {"color": "#D55E00", "marker": "v", "linestyle": (0, (5, 1, 1, 1, 1, 1))},
}
EXTRA_STYLES = [{"color": "#0072B2", "marker": "P", "linestyle": (0, (1, 2))},
                {"color": "#CC79A7", "marker": "X", "linestyle": (0, (8, 2))},
                {"color": "#999999", "marker": "h", "linestyle": (0, (3, 2, 1, 2))}]
SAVE_RC = {"path.simplify": True}
FORMATS = ("png", "pdf")
METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None}}
WIDE_RANGE = 20.0  # a log axis when max / min of the plotted values reaches this


def model_style(model: str) -> dict:
    base, provider = split_provider(model)
    if provider and base in MODEL_STYLES:  # another kernel provider: the model's colour and marker, hollow, dotted
        return {**MODEL_STYLES[base], "linestyle": (0, (1, 1)), "markerfacecolor": "none"}
    if model in MODEL_STYLES:
        return MODEL_STYLES[model]
    rank = model_sort_key(model)[1]
    return EXTRA_STYLES[sum(map(ord, rank)) % len(EXTRA_STYLES)]


def save_figure(fig: Figure, base: Path) -> list[Path]:
    """Write ``base.png`` and ``base.pdf``; returns the paths."""
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(SAVE_RC):
        for fmt in FORMATS:
            path = base.with_suffix(f".{fmt}")
            fig.savefig(path, format=fmt, dpi=120 if fmt == "png" else None, metadata=METADATA[fmt])
            paths.append(path)
    return paths


def _new_figure(n_rows: int, n_cols: int, width: float = 4.2, height: float = 3.0) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(max(width * n_cols, 7.5), height * n_rows + 1.2), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def _log2_axis(ax, values: list[float]) -> None:
    """A base-2 log x axis with ticks exactly at ``values``."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{v:g}" for v in values]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(values) == 1:
        ax.set_xlim(values[0] / 1.5, values[0] * 1.5)


def _log_if_wide(ax, axis: str, values) -> None:
    vals = [v for v in values if not math.isnan(v) and v > 0]
    if vals and max(vals) / min(vals) >= WIDE_RANGE:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _legend(fig: Figure, models: list[str], extra: list | None = None) -> None:
    handles = [matplotlib.lines.Line2D([], [], label=model_name(m), **model_style(m)) for m in models]
    handles += extra or []
    width = fig.get_figwidth()
    ncol = max(1, min(len(handles), int(width // 1.45)))
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, frameon=False)


def _dodge(x: np.ndarray, i: int, k: int, step: float = 0.035) -> np.ndarray:
    """Shift model ``i`` of ``k`` a little along a log axis so error bars do not overlap."""
    return x * 2.0 ** ((i - (k - 1) / 2) * step)


def accuracy_vs_hidden(runs: pd.DataFrame, title: str) -> Figure | None:
    """One panel per dataset (rows) and metric (columns): test metric vs hidden size, a line per model with
    error bars (sample std over seeds; none for one seed); missing hidden sizes are gaps."""
    main = main_runs(runs)
    metrics = [m for m in HIDDEN_METRICS if f"{SPLIT}:{m}" in main.columns]
    if main.empty or not metrics:
        return None
    datasets, hiddens = sorted(set(main["dataset"])), sorted(set(main["hidden"]))
    models = ordered_models(main["model"])
    fig, axes = _new_figure(len(datasets), len(metrics))
    x = np.array(hiddens, dtype=float)
    for r, dataset in enumerate(datasets):
        block = main[main["dataset"] == dataset]
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            stats = seed_stats(block, f"{SPLIT}:{metric}", ["model", "hidden"]).set_index(["model", "hidden"])
            for i, m in enumerate(models):
                mean = np.array([stats["mean"].get((m, h), np.nan) for h in hiddens], dtype=float)
                std = np.array([stats["std"].get((m, h), np.nan) for h in hiddens], dtype=float)
                if np.isnan(mean).all():
                    continue
                ax.errorbar(_dodge(x, i, len(models)), mean, yerr=std,
                            capsize=3, markersize=5, linewidth=1.4, **model_style(m), label=model_name(m))
            _log2_axis(ax, hiddens)
            ax.set_title(dataset, fontsize=10)
            ax.set_xlabel("hidden size")
            ax.set_ylabel(f"{SPLIT} {metric_name(metric)}")
            ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=11)
    _legend(fig, models)
    return fig


WORKLOAD_QUANTITIES = {
    ("latency", "train_step"): ("median_ms", 1.0, "training step (ms)"),
    ("latency", "inference"): ("median_ms", 1.0, "full-sort inference (ms)"),
    ("memory", "train_step"): ("peak_memory_bytes", 1.0 / MIB, "peak memory, training step (MiB)"),
    ("memory", "inference"): ("peak_memory_bytes", 1.0 / MIB, "peak memory, inference (MiB)"),
}


def workload_vs_seq_len(workloads: pd.DataFrame, kind: str, phase: str, title: str) -> Figure | None:
    """A panel per hidden size (rows) and batch size (columns): the quantity vs sequence length, a line per
    model; log axes where the values span a wide range."""
    column, scale, ylabel = WORKLOAD_QUANTITIES[(kind, phase)]
    df = workloads[(workloads["kind"] == kind) & (workloads["phase"] == phase)] if not workloads.empty else workloads
    if df.empty:
        return None
    hiddens, batches = sorted(set(df["hidden"])), sorted(set(df["batch_size"]))
    seq_lens, models = sorted(set(df["seq_len"])), ordered_models(df["model"])
    fig, axes = _new_figure(len(hiddens), len(batches))
    for r, hidden in enumerate(hiddens):
        for c, batch in enumerate(batches):
            ax = axes[r, c]
            block = df[(df["hidden"] == hidden) & (df["batch_size"] == batch)]
            table = {(row.model, row.seq_len): getattr(row, column) * scale for row in block.itertuples()}
            plotted = []
            for m in models:
                y = np.array([table.get((m, L), np.nan) for L in seq_lens], dtype=float)
                if np.isnan(y).all():
                    continue
                ax.plot(seq_lens, y, markersize=5, linewidth=1.4, **model_style(m), label=model_name(m))
                plotted += list(y)
            _log2_axis(ax, seq_lens)
            _log_if_wide(ax, "y", plotted)
            ax.set_title(f"hidden {hidden}, batch {batch}", fontsize=10)
            ax.set_xlabel("sequence length")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    _legend(fig, models)
    return fig


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (less time and higher accuracy), by time."""
    order = sorted((i for i, (x, y) in enumerate(points) if not (math.isnan(x) or math.isnan(y))),
                   key=lambda i: (points[i][0], -points[i][1], i))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def accuracy_vs_time(runs: pd.DataFrame, title: str, metric: str = PRIMARY_METRIC) -> Figure | None:
    """A panel per dataset: test metric vs total training seconds, a point per model and hidden size (mean
    over seeds, labelled with the hidden size), the Pareto front drawn as a step line with ringed points."""
    main = main_runs(runs)
    col = f"{SPLIT}:{metric}"
    if main.empty or col not in main.columns or main["train_seconds"].isna().all():
        return None
    datasets, models = sorted(set(main["dataset"])), ordered_models(main["model"])
    n_cols = min(len(datasets), 3)
    n_rows = math.ceil(len(datasets) / n_cols)
    fig, axes = _new_figure(n_rows, n_cols, width=4.6, height=3.4)
    for ax in axes.flat[len(datasets):]:
        ax.set_visible(False)
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        block = main[main["dataset"] == dataset]
        acc = seed_stats(block, col, ["model", "hidden"]).set_index(["model", "hidden"])
        sec = seed_stats(block, "train_seconds", ["model", "hidden"]).set_index(["model", "hidden"])
        points, labels = [], []
        for m in models:
            keys = [k for k in acc.index if k[0] == m]
            xs = np.array([sec["mean"].get(k, np.nan) for k in keys], dtype=float)
            ys = np.array([acc["mean"].get(k, np.nan) for k in keys], dtype=float)
            style = {**model_style(m), "linestyle": "none"}
            if len(keys) and not (np.isnan(xs) | np.isnan(ys)).all():
                ax.plot(xs, ys, markersize=6, **style, label=model_name(m))
            for k, x, y in zip(keys, xs, ys, strict=True):
                points.append((float(x), float(y)))
                labels.append(k)
                if not (math.isnan(x) or math.isnan(y)):
                    ax.annotate(str(k[1]), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        front = pareto_front(points)
        if front:
            fx, fy = [points[i][0] for i in front], [points[i][1] for i in front]
            ax.step(fx, fy, where="post", color="0.4", linestyle="--", linewidth=1.0, zorder=0)
            ax.scatter(fx, fy, s=160, facecolors="none", edgecolors="0.2", linewidths=1.0, zorder=3)
        _log_if_wide(ax, "x", [p[0] for p in points])
        ax.set_title(dataset, fontsize=10)
        ax.set_xlabel("training time (s, total over epochs run)")
        ax.set_ylabel(f"{SPLIT} {metric_name(metric)}")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    front_handles = [matplotlib.lines.Line2D([], [], color="0.4", linestyle="--", marker="o", markersize=10,
                                             markerfacecolor="none", markeredgecolor="0.2", label="Pareto front")]
    _legend(fig, models, front_handles)
    return fig


def ablation_figure(runs: pd.DataFrame, title: str, metric: str = PRIMARY_METRIC) -> Figure | None:
    """A panel per dataset and hidden size: horizontal bars of each variant's change of the test metric against
    full TiM4Rec, in percent of full's mean (error bar: the variant's sample std over seeds, same scale); full
    TiM4Rec is the dashed zero line, its mean in the panel title. Differences of a few percent stay visible,
    which bars of the raw metric from zero would hide."""
    abl = ablation_runs(runs)
    col = f"{SPLIT}:{metric}"
    if abl.empty or col not in abl.columns:
        return None
    main = main_runs(runs)
    panels = sorted(abl.groupby(["dataset", "hidden"], sort=True), key=lambda kv: kv[0])
    n_bars = max(block.groupby(["model", "variant"]).ngroups + 1 for _, block in panels)
    fig, axes = _new_figure(len(panels), 1, width=6.5, height=0.45 * n_bars + 1.2)
    for ax, ((dataset, hidden), block) in zip(axes[:, 0], panels, strict=True):
        is_full = (block["model"] == PROPOSED) & block["variant"].isin(FULL_VARIANTS)
        reference = block[is_full]
        if reference.empty and not main.empty:
            reference = main[(main["model"] == PROPOSED) & (main["dataset"] == dataset) & (main["hidden"] == hidden)]
        groups = [((PROPOSED, ""), reference)] + sorted(
            block[~is_full].groupby(["model", "variant"], sort=True),
            key=lambda kv: (model_sort_key(kv[0][0]), kv[0][1]))
        labels, means, stds = [], [], []
        for (m, v), g in groups:
            s = seed_stats(g, col, ["hidden"])
            labels.append(variant_label(m, v))
            means.append(float(s["mean"].iloc[0]) if len(s) else np.nan)
            stds.append(float(s["std"].iloc[0]) if len(s) else np.nan)
        ref = means[0]
        y = np.arange(len(labels))[::-1]
        scale = 100.0 / ref if ref and not math.isnan(ref) else np.nan
        for i, (yi, mean, std) in enumerate(zip(y, means, stds, strict=True)):
            if math.isnan(mean) or math.isnan(scale):
                continue
            delta = (mean - ref) * scale
            ax.barh(yi, delta, xerr=None if math.isnan(std) else std * scale, color="0.1" if i == 0 else "0.75",
                    hatch="" if i == 0 else "//", edgecolor="0.1", capsize=3, height=0.7)
        ax.axvline(0.0, color="0.1", linestyle="--", linewidth=1.0)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(f"change of {SPLIT} {metric_name(metric)} vs full TiM4Rec (%)")
        full_text = "no full TiM4Rec result" if math.isnan(ref) else f"full TiM4Rec {ref:.4f}"
        ax.set_title(f"{dataset}, hidden {hidden} ({full_text})", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(title, fontsize=11)
    return fig
