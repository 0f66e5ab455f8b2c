"""Accuracy and ablation tables in the paper's layout.

Accuracy (per dataset and hidden size): a row per metric (HR/NDCG/MRR @10/20/50 on the test split), a
column per model with mean ± std over seeds, the best in bold and the second underlined, then the relative
improvement of TiM4Rec over the best baseline (by mean) and a two-sided paired t-test of TiM4Rec against that
baseline over the seeds both have (t, p, n pairs). A last row gives the number of seeds per model.

Ablation (per dataset and hidden size): a row per variant (full TiM4Rec first), mean ± std per metric, the
relative change of NDCG@10 against full TiM4Rec and the paired t-test against it, matched by seed.
"""

from __future__ import annotations

import statistics

import pandas as pd

from seqrec.report.collect import (
    FULL_VARIANTS,
    LENGTH_PREFIX,
    PROPOSED,
    ablation_runs,
    main_runs,
    metric_name,
    model_name,
    model_sort_key,
    ordered_models,
    per_seed,
    seed_stats,
)
from seqrec.report.stats import PairedTest, paired_t_test_by_seed
from seqrec.report.tables import (
    MISSING,
    Cell,
    Table,
    fmt_mean_std,
    fmt_number,
    fmt_p,
    fmt_percent,
    is_missing,
    rank_styles,
)

SPLIT = "test"
TABLE_METRICS = tuple(f"{m}@{k}" for k in (10, 20, 50) for m in ("hit", "ndcg", "mrr"))
ABLATION_METRICS = ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20")
PRIMARY_METRIC = "ndcg@10"

ACCURACY_NOTE = (f"{SPLIT.capitalize()} split; mean ± sample std (ddof 1) over seeds, the mean alone for one seed; "
                 "bold best, underlined second best (as displayed); – no result. Improv.: TiM4Rec vs the best "
                 "baseline (vs) by mean; t, p: two-sided paired t-test of TiM4Rec vs that baseline over the n "
                 "seeds both have (df = n - 1).")
ABLATION_NOTE = (f"{SPLIT.capitalize()} split; mean ± sample std over seeds; Δ: relative change of "
                 f"{metric_name(PRIMARY_METRIC)} vs full TiM4Rec over the n seeds both have (with none, of the "
                 f"means); t, p: two-sided paired t-test of {metric_name(PRIMARY_METRIC)} (variant - full) over "
                 "those n seeds; – no result.")


LENGTH_NOTE = (f"{metric_name(PRIMARY_METRIC)} on the {SPLIT} split, mean ± sample std over seeds, of the models "
               "trained at the training max_len and evaluated with every history cut (or allowed) to another "
               "max_len; \"cannot run\": the variant refuses that length (the official fixed-length time MLP); "
               "– not evaluated.")


def present_metrics(runs: pd.DataFrame, metrics: tuple[str, ...]) -> list[str]:
    """The metrics (of ``metrics``, in that order) that at least one run recorded."""
    return [m for m in metrics if f"{SPLIT}:{m}" in runs.columns and runs[f"{SPLIT}:{m}"].notna().any()]


def relative_change(new: float, base: float) -> float:
    return (new - base) / base * 100.0 if not (is_missing(new) or is_missing(base)) and base != 0 else float("nan")


def matched_change(variant: dict[int, float], full: dict[int, float], full_mean: float) -> float:
    """Relative change (%) of the mean of ``variant``'s {seed: value} against ``full``'s over the seeds both have
    (a variant with seed 0 alone against full seed 0, not the full runs' mean); with none shared, of the variant's
    mean against ``full_mean``."""
    shared = sorted(set(variant) & set(full))
    if shared:
        return relative_change(statistics.fmean(variant[s] for s in shared), statistics.fmean(full[s] for s in shared))
    return relative_change(statistics.fmean(variant.values()) if variant else float("nan"), full_mean)


def _test_cells(test: PairedTest | None) -> list[Cell]:
    if test is None or test.n == 0:
        return [Cell(MISSING), Cell(MISSING), Cell(MISSING)]
    return [Cell(fmt_number(test.t, 2)), Cell(fmt_p(test.p)), Cell(str(test.n))]


def accuracy_tables(runs: pd.DataFrame, set_name: str) -> list[Table]:
    main = main_runs(runs)
    if main.empty:
        return []
    models = ordered_models(main["model"])
    metrics = present_metrics(main, TABLE_METRICS)
    columns = ["Metric"] + [model_name(m) for m in models] + ["Improv.", "vs", "t", "p", "n"]
    tables = []
    for (dataset, hidden), block in main.groupby(["dataset", "hidden"], sort=True):
        rows = []
        for metric in metrics:
            col = f"{SPLIT}:{metric}"
            stats = seed_stats(block, col, ["model"]).set_index("model")
            means = {m: float(stats.at[m, "mean"]) if m in stats.index else float("nan") for m in models}
            styles = rank_styles(means)
            row = [Cell(metric_name(metric))]
            for m in models:
                std = float(stats.at[m, "std"]) if m in stats.index else float("nan")
                row.append(Cell(fmt_mean_std(means[m], std), styles[m]))
            baselines = [m for m in models if m != PROPOSED and not is_missing(means[m])]
            best = max(baselines, key=lambda m: (means[m], -model_sort_key(m)[0])) if baselines else None
            test = None
            if best is not None and not is_missing(means.get(PROPOSED, float("nan"))):
                test = paired_t_test_by_seed(per_seed(block[block["model"] == PROPOSED], col),
                                             per_seed(block[block["model"] == best], col))
                row += [Cell(fmt_percent(relative_change(means[PROPOSED], means[best]))), Cell(model_name(best))]
            else:
                row += [Cell(MISSING), Cell(MISSING)]
            rows.append(row + _test_cells(test))
        seeds = block.groupby("model")["seed"].nunique()
        rows.append([Cell("seeds")] + [Cell(str(int(seeds.get(m, 0))) if seeds.get(m, 0) else MISSING)
                                       for m in models] + [Cell("")] * 5)
        tables.append(Table(title=f"{dataset}, hidden {hidden}", columns=columns, rows=rows,
                            align="l" + "r" * len(models) + "rlrrr",
                            label=_label("accuracy", set_name, dataset, hidden), notes=precision_notes(block)))
    return tables


def precision_notes(block: pd.DataFrame) -> list[str]:
    """A note naming how a table's runs computed where any did not in IEEE fp32 (``collect.precision``)."""
    if "precision" not in block.columns or set(block["precision"]) <= {"fp32"}:
        return []
    counts = block["precision"].value_counts()
    parts = [f"{name} {int(counts[name])}" for name in sorted(counts.index)]
    return [f"Runs by training precision: {', '.join(parts)} (tf32: fp32 with TF32 matmul products; bf16, fp16: "
            "autocast)."]


def _label(*parts) -> str:
    return "tab:" + "-".join(str(p).replace("/", "-").replace("_", "-").replace(" ", "-") for p in parts)


def variant_label(model: str, variant: str) -> str:
    if model == PROPOSED and variant in FULL_VARIANTS:
        return f"{model_name(model)} (full)"
    return f"{model_name(model)}: {variant}" if variant else model_name(model)


def ablation_tables(runs: pd.DataFrame, set_name: str) -> list[Table]:
    abl = ablation_runs(runs)
    if abl.empty:
        return []
    main = main_runs(runs)
    metrics = present_metrics(abl, ABLATION_METRICS)
    primary = f"{SPLIT}:{PRIMARY_METRIC}"
    columns = ["Variant"] + [metric_name(m) for m in metrics] + [f"Δ {metric_name(PRIMARY_METRIC)}", "t", "p", "n"]
    tables = []
    for (dataset, hidden), block in abl.groupby(["dataset", "hidden"], sort=True):
        is_full = (block["model"] == PROPOSED) & block["variant"].isin(FULL_VARIANTS)
        reference, source = block[is_full], "ablation runs"
        if reference.empty and not main.empty:
            reference = main[(main["model"] == PROPOSED) & (main["dataset"] == dataset) & (main["hidden"] == hidden)]
            source = "the main training runs"
        variants = block[~is_full]
        groups = [((PROPOSED, ""), reference)] + sorted(
            variants.groupby(["model", "variant"], sort=True),
            key=lambda kv: (model_sort_key(kv[0][0]), kv[0][1]))
        ref_seeds = per_seed(reference, primary)
        ref_mean = seed_stats(reference, primary, ["hidden"])["mean"].max() if not reference.empty else float("nan")
        rows = []
        for i, ((model, variant), group) in enumerate(groups):
            own = sorted(set(group["model_hidden"].dropna().astype(int))) if "model_hidden" in group else []
            suffix = f" (hidden {', '.join(map(str, own))})" if own and own != [hidden] else ""
            row = [Cell(variant_label(model, variant) + suffix)]
            for metric in metrics:
                s = seed_stats(group, f"{SPLIT}:{metric}", ["hidden"])
                row.append(Cell(fmt_mean_std(float(s["mean"].iloc[0]), float(s["std"].iloc[0]))
                                if len(s) else MISSING))
            if i == 0:
                row += [Cell("")] * 4
            else:
                own_seeds = per_seed(group, primary)
                test = paired_t_test_by_seed(own_seeds, ref_seeds) if ref_seeds else None
                row += [Cell(fmt_percent(matched_change(own_seeds, ref_seeds, ref_mean)))] + _test_cells(test)
            rows.append(row)
        notes = [f"Full TiM4Rec from {source}."] if not reference.empty else ["No full TiM4Rec result to compare."]
        notes += precision_notes(pd.concat([reference, variants]))
        tables.append(Table(title=f"{dataset}, hidden {hidden}", columns=columns, rows=rows,
                            align="l" + "r" * (len(metrics) + 4), label=_label("ablation", set_name, dataset, hidden),
                            notes=notes))
    return tables


def length_tables(runs: pd.DataFrame, set_name: str) -> list[Table]:
    """Per (dataset, hidden): each ablation variant that was also evaluated at other max_len, its primary metric at
    the training length and at each other length."""
    abl = ablation_runs(runs)
    status_cols = sorted((c for c in abl.columns if c.startswith(LENGTH_PREFIX) and c.endswith(":status")),
                         key=lambda c: int(c.split(":")[0][len(LENGTH_PREFIX):]))
    if abl.empty or not status_cols:
        return []
    primary = f"{SPLIT}:{PRIMARY_METRIC}"
    tables = []
    for (dataset, hidden), block in abl.groupby(["dataset", "hidden"], sort=True):
        block = block[block[status_cols].notna().any(axis=1)]
        lengths = [c.split(":")[0] for c in status_cols if block[c].notna().any()]
        if block.empty or not lengths:
            continue
        train_lens = sorted({int(x) for x in block["train_max_len"].dropna()}) if "train_max_len" in block else []
        trained_at = f"trained max_len ({', '.join(map(str, train_lens))})" if train_lens else "trained max_len"
        columns = ["Variant", trained_at] + [f"max_len {k[len(LENGTH_PREFIX):]}" for k in lengths] + ["n"]
        rows = []
        groups = sorted(block.groupby(["model", "variant"], sort=True),
                        key=lambda kv: (kv[0][1] not in FULL_VARIANTS, model_sort_key(kv[0][0]), kv[0][1]))
        for (model, variant), group in groups:
            row = [Cell(variant_label(model, variant)), Cell(_mean_std_cell(group, primary))]
            for key in lengths:
                status = group[f"{key}:status"].dropna()
                if len(status) and (status != "ok").all():
                    row.append(Cell("cannot run"))
                else:
                    row.append(Cell(_mean_std_cell(group[group[f"{key}:status"] == "ok"], f"{key}:{primary}")))
            rows.append(row + [Cell(str(group["seed"].nunique()))])
        tables.append(Table(title=f"{dataset}, hidden {hidden}", columns=columns, rows=rows,
                            align="l" + "r" * (len(columns) - 1),
                            label=_label("length", set_name, dataset, hidden), notes=[]))
    return tables


def _mean_std_cell(group: pd.DataFrame, column: str) -> str:
    if group.empty or column not in group or group[column].isna().all():
        return MISSING
    values = group[column].dropna()
    return fmt_mean_std(float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None)
