"""Efficiency tables with ratios to SASRec.

Training (per dataset and hidden size, from train results): seconds per training epoch (mean ± std over
seeds), total training seconds, GPU peak memory and parameter count, each mean with its ratio to SASRec's.
Workload (per card, hidden size and batch, from latency / memory results on synthetic sequences): training-step
and full-sort inference milliseconds (median over repetitions), peak memory of each, parameters, with ratios to
SASRec at the same sequence length.
"""

from __future__ import annotations

import math

import pandas as pd

from seqrec.report.collect import RATIO_BASE, main_runs, model_name, ordered_models, seed_stats
from seqrec.report.tables import MISSING, Cell, Table, fmt_count, fmt_mean_std, fmt_number, fmt_ratio, is_missing

MIB = 2**20

TRAIN_NOTE = ("Mean ± sample std over seeds of each run's mean seconds per training epoch (evaluation excluded); "
              "training s: total over the epochs run (early stopping included); peak memory: GPU peak "
              "(– on CPU); ×: ratio of means to SASRec.")
WORKLOAD_NOTE = ("Synthetic full-length sequences. Train step: forward, full cross-entropy, backward and Adam "
                 "update; inference: scores over all items and top-50; median ms over repetitions after warm-up "
                 "(compilation excluded). Peak memory: torch.cuda.max_memory_allocated. ×: ratio to SASRec at "
                 "the same sequence length; – not measured or failed.")


def ratio(value: float, base: float) -> float:
    return value / base if not (is_missing(value) or is_missing(base)) and base != 0 else math.nan


def train_efficiency_tables(runs: pd.DataFrame, set_name: str) -> list[Table]:
    main = main_runs(runs)
    if main.empty:
        return []
    models = ordered_models(main["model"])
    columns = ["Model", "s/epoch", "×", "training s", "peak memory (MiB)", "×", "parameters", "×", "epochs", "seeds"]
    tables = []
    for (dataset, hidden), block in main.groupby(["dataset", "hidden"], sort=True):
        stats = {v: seed_stats(block, v, ["model"]).set_index("model")
                 for v in ("s_per_epoch", "train_seconds", "peak_memory_bytes", "n_parameters", "epochs_run")}

        def get(value: str, model: str, what: str = "mean", stats=stats) -> float:
            s = stats[value]
            return float(s.at[model, what]) if model in s.index else math.nan

        rows = []
        for m in models:
            if m not in set(block["model"]):
                rows.append([Cell(model_name(m))] + [Cell(MISSING)] * (len(columns) - 1))
                continue
            mem = get("peak_memory_bytes", m) / MIB
            rows.append([
                Cell(model_name(m)),
                Cell(fmt_mean_std(get("s_per_epoch", m), get("s_per_epoch", m, "std"), 2)),
                Cell(fmt_ratio(ratio(get("s_per_epoch", m), get("s_per_epoch", RATIO_BASE)))),
                Cell(fmt_number(get("train_seconds", m), 1)),
                Cell(fmt_number(mem, 1)),
                Cell(fmt_ratio(ratio(mem, get("peak_memory_bytes", RATIO_BASE) / MIB))),
                Cell(fmt_count(get("n_parameters", m))),
                Cell(fmt_ratio(ratio(get("n_parameters", m), get("n_parameters", RATIO_BASE)))),
                Cell(fmt_number(get("epochs_run", m), 1)),
                Cell(str(block[block["model"] == m]["seed"].nunique())),
            ])
        tables.append(Table(title=f"{dataset}, hidden {hidden}", columns=columns, rows=rows, align="l" + "r" * 9,
                            label=f"tab:efficiency-train-{_slug(set_name)}-{dataset}-h{hidden}"))
    return tables


def workload_efficiency_tables(workloads: pd.DataFrame, set_name: str) -> list[Table]:
    if workloads.empty:
        return []
    models = ordered_models(workloads["model"])
    columns = ["L", "Model", "train step ms", "×", "inference ms", "×", "train peak MiB", "×",
               "inference peak MiB", "×", "parameters"]
    tables = []
    for (device, hidden, batch), block in workloads.groupby(["device_name", "hidden", "batch_size"], sort=True):
        timers = sorted(set(block.loc[block["kind"] == "latency", "timer"]) - {""})
        values: dict[tuple[str, int, str], float] = {}
        params: dict[tuple[str, int], float] = {}
        for r in block.itertuples(index=False):
            name = "ms" if r.kind == "latency" else "mib"
            values[(r.model, r.seq_len, f"{r.phase}:{name}")] = (
                r.median_ms if r.kind == "latency" else r.peak_memory_bytes / MIB)
            if not is_missing(r.n_parameters):
                params.setdefault((r.model, r.seq_len), r.n_parameters)
        quantities = [("train_step:ms", 2), ("inference:ms", 2), ("train_step:mib", 1), ("inference:mib", 1)]
        rows = []
        for seq_len in sorted(set(block["seq_len"])):
            for m in models:
                row = [Cell(str(seq_len)), Cell(model_name(m))]
                for q, digits in quantities:
                    v = values.get((m, seq_len, q), math.nan)
                    row += [Cell(fmt_number(v, digits)),
                            Cell(fmt_ratio(ratio(v, values.get((RATIO_BASE, seq_len, q), math.nan))))]
                row.append(Cell(fmt_count(params.get((m, seq_len), math.nan))))
                rows.append(row)
        timer = f"; timer {', '.join(timers)}" if timers else ""
        tables.append(Table(title=f"{device}, hidden {hidden}, batch {batch}{timer}", columns=columns, rows=rows,
                            align="rl" + "r" * 9,
                            label=f"tab:efficiency-workload-{_slug(set_name)}-{_slug(device)}-h{hidden}-b{batch}"))
    return tables


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text)).strip("-").lower() or "x"
