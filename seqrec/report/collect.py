"""Result files -> tidy pandas DataFrames, and mean / std over seeds.

Result files are grouped into *sets*: the directory a file lies in, relative to the results root, with
trailing kind folders (``accuracy``, ``latency``, ``memory``, ``ablation``, ``train``, ``kernels``) removed, so
``results/full/accuracy/x.json`` and ``results/full/latency/y.json`` both belong to set ``full`` while
``results/baselines/smoke-cpu/...`` is set ``baselines/smoke-cpu``. Sets are never mixed in one figure or table.
Files under a ``logs`` folder (``results/full/logs/...``: a campaign's diagnostic benches) are not read.

Frames (one row per result file that is used):
  runs       ok ``train`` / ``ablation`` files: set, dataset, hidden, model, variant ("" = none), seed, the
             metrics as ``test:ndcg@10`` / ``valid:ndcg@10`` columns, s_per_epoch (mean), s_per_epoch_steady
             (median from the third epoch on), train_seconds,
             peak_memory_bytes, n_parameters, epochs_run, plus provenance columns;
  workloads  ok ``latency`` / ``memory`` files: set, kind, model, phase, seq_len, batch_size, hidden,
             median_ms, iqr_ms, peak_memory_bytes, n_parameters, timer, plus provenance columns;
  problems   files whose status is not ok: set, file, kind, case, status, reason;
  kernels    ok ``kernel`` files, one row per case and implementation (``seqrec.report.kernels``);
  profiles   ok ``profile`` files (``seqrec anatomy --profile --out``), one row each (``seqrec.report.profiles``);
  superseded files replaced by another file of the same case and set (ok beats not ok, then newest).
Provenance columns: file, git_commit, git_dirty, device, device_name, command.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from seqrec.report import kernels, profiles
from seqrec.results import load_results

MODEL_ORDER = ("sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec")
MODEL_NAMES = {"sasrec": "SASRec", "tisasrec": "TiSASRec", "mamba4rec": "Mamba4Rec", "ssd4rec": "SSD4Rec",
               "tim4rec": "TiM4Rec"}
PROPOSED = "tim4rec"
RATIO_BASE = "sasrec"
FULL_VARIANTS = ("", "full")
KIND_DIRS = {"accuracy", "latency", "memory", "ablation", "train", "kernel", "kernels", "profile"}
RUN_KINDS = ("train", "ablation")
WORKLOAD_KINDS = ("latency", "memory")
LOGS = "logs"  # result files under a folder of this name are a campaign's records, not report input
RUN_KEYS = ["set", "dataset", "hidden", "model", "variant"]
WORKLOAD_KEYS = ["set", "kind", "device_name", "model", "phase", "seq_len", "batch_size", "hidden"]
PROVENANCE_COLUMNS = ["file", "git_commit", "git_dirty", "device", "device_name", "command"]


class ReportInputError(ValueError):
    """A result file that the report cannot read; the message names the file and the field."""


PROVIDER_SEP = "+"  # "tim4rec+mamba_ssm": a workload measured with another kernel provider than ours


def split_provider(model: str) -> tuple[str, str]:
    """``"tim4rec+mamba_ssm"`` -> ("tim4rec", "mamba_ssm"); ``"tim4rec"`` -> ("tim4rec", "")."""
    base, _, provider = model.partition(PROVIDER_SEP)
    return base, provider


def model_sort_key(model: str) -> tuple[int, str]:
    """Fixed model order (sasrec, tisasrec, mamba4rec, ssd4rec, tim4rec), each model's other providers right
    after it, unknown models after all, by name."""
    base, provider = split_provider(model)
    return (MODEL_ORDER.index(base), provider) if base in MODEL_ORDER else (len(MODEL_ORDER), model)


def ordered_models(models) -> list[str]:
    return sorted(set(models), key=model_sort_key)


def model_name(model: str) -> str:
    base, provider = split_provider(model)
    name = MODEL_NAMES.get(base, base)
    return f"{name} ({provider.replace('_', '-')})" if provider else name


def metric_name(metric: str) -> str:
    """``hit@10`` -> ``HR@10``, ``ndcg@10`` -> ``NDCG@10``, ``mrr@10`` -> ``MRR@10``."""
    base, _, k = metric.partition("@")
    return {"hit": "HR", "ndcg": "NDCG", "mrr": "MRR"}.get(base, base.upper()) + (f"@{k}" if k else "")


def result_set(path: Path, root: Path) -> str:
    """The set a result file belongs to (see the module docstring); "." for files directly under ``root``."""
    parts = list(path.parent.relative_to(root).parts)
    while parts and parts[-1] in KIND_DIRS:
        parts.pop()
    return "/".join(parts) or "."


def _get(r: dict[str, Any], dotted: str, required: bool = True, default: Any = None) -> Any:
    value: Any = r
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            if required:
                raise ReportInputError(f"{r['_path']}: field '{dotted}' is missing")
            return default
        value = value[part]
    return value


def _number(r: dict[str, Any], dotted: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportInputError(f"{r['_path']}: field '{dotted}' should be a number, got {value!r}")
    return float(value)


def _optional_number(r: dict[str, Any], dotted: str) -> float:
    value = _get(r, dotted, required=False)
    return math.nan if value is None else _number(r, dotted, value)


def _int(r: dict[str, Any], dotted: str) -> int:
    value = _get(r, dotted)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ReportInputError(f"{r['_path']}: field '{dotted}' should be an integer, got {value!r}")
    return int(value)


def _dataset_name(r: dict[str, Any], required: bool = True) -> str | None:
    ds = r.get("dataset")
    if isinstance(ds, str):
        return ds
    return _get(r, "dataset.name", required=required)


def _variant(r: dict[str, Any]) -> str:
    v = r.get("variant")
    return "" if v is None else str(v)


def _provenance(r: dict[str, Any], rel: str) -> dict[str, Any]:
    prov = r.get("provenance") or {}
    return {"file": rel, "git_commit": prov.get("git_commit") or "", "git_dirty": bool(prov.get("git_dirty")),
            "device": str(prov.get("device") or ""), "device_name": str(prov.get("device_name") or "unknown"),
            "command": str(prov.get("command") or ""), "created_at": str(prov.get("created_at") or "")}


def precision(r: dict[str, Any]) -> str:
    """How a run's training computed: "fp32" (IEEE), "tf32" (fp32 with TF32 products, ``train_config.tf32``) or its
    autocast dtype ("bf16", "fp16"; ``train_config.amp``), with "+tf32" where both were set."""
    tcfg = r.get("train_config") or {}
    amp, tf32 = tcfg.get("amp"), bool(tcfg.get("tf32"))
    if amp:
        return f"{amp}+tf32" if tf32 else str(amp)
    return "tf32" if tf32 else "fp32"


def _run_row(r: dict[str, Any]) -> dict[str, Any]:
    """One run. ``hidden`` is the hidden size the run is compared at: its own, or for an equal-parameter
    variant (``param_match``) the reference's, so that it sits in the reference's ablation table;
    ``model_hidden`` is always its own."""
    own = _int(r, "config.hidden_size")
    match = r.get("param_match")
    hidden = _int(r, "param_match.reference_hidden") if isinstance(match, dict) and "reference_hidden" in match \
        else own
    row: dict[str, Any] = {"dataset": _dataset_name(r), "hidden": hidden, "model_hidden": own,
                           "model": str(_get(r, "model")), "variant": _variant(r), "seed": _int(r, "seed"),
                           "kind": r["kind"], "precision": precision(r)}
    metrics = _get(r, "metrics")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("test"), dict):
        raise ReportInputError(f"{r['_path']}: field 'metrics.test' is missing")
    for split in ("valid", "test"):
        for name, value in sorted((metrics.get(split) or {}).items()):
            row[f"{split}:{name}"] = _number(r, f"metrics.{split}.{name}", value)
    epochs = r.get("epochs") or []
    if not isinstance(epochs, list):
        raise ReportInputError(f"{r['_path']}: field 'epochs' should be a list")
    train_s = [_number(r, f"epochs[{i}].train_seconds", e.get("train_seconds"))
               for i, e in enumerate(epochs) if isinstance(e, dict) and e.get("train_seconds") is not None]
    eval_s = [_number(r, f"epochs[{i}].eval_seconds", e.get("eval_seconds"))
              for i, e in enumerate(epochs) if isinstance(e, dict) and e.get("eval_seconds") is not None]
    epochs_run = _optional_number(r, "epochs_run")
    if math.isnan(epochs_run) and epochs:
        epochs_run = float(len(epochs))
    if train_s:
        total, per_epoch = math.fsum(train_s), math.fsum(train_s) / len(train_s)
    else:  # a total without the per-epoch list
        total = _optional_number(r, "train_seconds_total")
        if math.isnan(total):
            total = _optional_number(r, "train_seconds")
        per_epoch = total / epochs_run if epochs_run and not math.isnan(epochs_run) else math.nan
    row.update(_length_columns(r))
    row.update(_epoch_timings(r, epochs))
    steady = train_s[2:]  # from the third epoch on: the first compiles, the second may capture a CUDA graph
    row.update(train_seconds=total, s_per_epoch=per_epoch,
               s_per_epoch_steady=statistics.median(steady) if steady else math.nan,
               eval_s_per_epoch=math.fsum(eval_s) / len(eval_s) if eval_s else math.nan,
               epochs_run=epochs_run, peak_memory_bytes=_optional_number(r, "peak_memory_bytes"),
               n_parameters=_optional_number(r, "n_parameters"))
    return row


PROFILE_SECONDS = ("gpu_span_s", "gpu_busy_s", "gpu_idle_s", "graph_idle_inside_s", "outside_graph_seconds")
PROFILE_COUNTS = ("graph_replays", "graph_kernels", "outside_graph_kernels")


def _epoch_timings(r: dict[str, Any], epochs: list) -> dict[str, Any]:
    """``step_timeline``: [(epoch, [seconds of each step])] of the epochs with ``step_seconds``
    (SEQREC_STEP_TIMES); ``gpu_profiles``: [(epoch, train_steps, {PROFILE_SECONDS, PROFILE_COUNTS and
    categories: {category: seconds}, empty where the file has none})] of
    those with ``gpu_profile`` (SEQREC_PROFILE_EPOCH). Both empty for most runs."""
    steps, profiles = [], []
    for i, e in enumerate(epochs):
        if not isinstance(e, dict):
            continue
        epoch = int(e.get("epoch", i + 1))
        if e.get("step_seconds") is not None:
            secs = e["step_seconds"]
            if not isinstance(secs, list) or not secs:
                raise ReportInputError(f"{r['_path']}: field 'epochs[{i}].step_seconds' should be a list of seconds")
            steps.append((epoch, [_number(r, f"epochs[{i}].step_seconds[{j}]", s) for j, s in enumerate(secs)]))
        if e.get("gpu_profile") is not None:
            prof = e["gpu_profile"]
            if not isinstance(prof, dict):
                raise ReportInputError(f"{r['_path']}: field 'epochs[{i}].gpu_profile' should be a mapping")
            fields = {k: _number(r, f"epochs[{i}].gpu_profile.{k}", prof.get(k)) for k in PROFILE_SECONDS}
            fields.update({k: int(_number(r, f"epochs[{i}].gpu_profile.{k}", prof.get(k))) for k in PROFILE_COUNTS})
            cats = prof.get("gpu_categories") or {}  # absent before 2026-11-28's part 16
            if not isinstance(cats, dict):
                raise ReportInputError(f"{r['_path']}: field 'epochs[{i}].gpu_profile.gpu_categories' should be a "
                                       "mapping of category to seconds")
            fields["categories"] = {k: _number(r, f"epochs[{i}].gpu_profile.gpu_categories.{k}", v)
                                    for k, v in cats.items()}
            profiles.append((epoch, int(e.get("train_steps") or 0), fields))
    return {"step_timeline": steps, "gpu_profiles": profiles, "cold_start": _cold_start(r, epochs)}


def _cold_start(r: dict[str, Any], epochs: list) -> dict[str, Any] | None:
    """Where the run's first epoch went, where it recorded that (``epochs[0].compile_seconds`` with
    ``step_seconds``: SEQREC_STEP_TIMES, seqrec/compile_times.py): epoch_s, first_step_s, forward_compile_s (dynamo
    and the forward's compile), backward_compile_s, triton_kernels / triton_s / cache_hits (Triton kernels compiled
    in the training process, and found compiled), and from the result's ``cold_start`` (runs from part 29 on, else
    NaN) prewarm_ready_s (its last process's report) and first_epoch_after_prewarm_s; compile_ahead (train config),
    compiled_from_epoch (None: never, or not compiled) and switch_epoch_s (a compile-ahead run's first compiled
    epoch, where it compiled from the cache: NaN without a switch). Else None."""
    first = epochs[0] if epochs and isinstance(epochs[0], dict) else {}
    times = first.get("compile_seconds")
    if times is None or not first.get("step_seconds") or int(first.get("epoch", 1)) != 1:
        return None
    field = "epochs[0].compile_seconds"
    torch_s, jit = (times.get("torch"), times.get("triton_jit")) if isinstance(times, dict) else (None, None)
    if not isinstance(torch_s, dict) or not isinstance(jit, dict):
        raise ReportInputError(f"{r['_path']}: field '{field}' should be a mapping with 'torch' and 'triton_jit'")
    metric = {"forward_compile_s": "_compile.compile_inner", "backward_compile_s": "backward._backward_impl"}
    out = {k: _number(r, f"{field}.torch.{m}", torch_s.get(m, 0.0)) for k, m in metric.items()}
    out.update(triton_kernels=_number(r, f"{field}.triton_jit.kernels", jit.get("kernels")),
               triton_s=_number(r, f"{field}.triton_jit.seconds", jit.get("seconds")),
               cache_hits=_number(r, f"{field}.triton_jit.cache_hits", jit.get("cache_hits")),
               epoch_s=_number(r, "epochs[0].train_seconds", first.get("train_seconds")),
               first_step_s=_number(r, "epochs[0].step_seconds[0]", first["step_seconds"][0]))
    started = r.get("cold_start") or {}
    if not isinstance(started, dict):
        raise ReportInputError(f"{r['_path']}: field 'cold_start' should be a mapping")
    ready = [_number(r, f"cold_start.prewarm_processes[{i}].ready_seconds", p.get("ready_seconds"))
             for i, p in enumerate(started.get("prewarm_processes") or [])]
    out["prewarm_ready_s"] = max(ready) if ready else math.nan
    lead = started.get("first_epoch_after_prewarm_seconds")
    out["first_epoch_after_prewarm_s"] = math.nan if lead is None else _number(
        r, "cold_start.first_epoch_after_prewarm_seconds", lead)
    out["compile_ahead"] = bool((r.get("train_config") or {}).get("compile_ahead"))
    switch = out["compiled_from_epoch"] = r.get("compiled_from_epoch")
    out["switch_epoch_s"] = math.nan
    if out["compile_ahead"] and isinstance(switch, int) and 1 < switch <= len(epochs):
        at = epochs[switch - 1]
        out["switch_epoch_s"] = _number(r, f"epochs[{switch - 1}].train_seconds", at.get("train_seconds"))
    return out


LENGTH_PREFIX = "len"  # "len100:test:ndcg@10": the trained model evaluated with histories cut to 100 steps


def _length_columns(r: dict[str, Any]) -> dict[str, Any]:
    """The training max_len (``train_max_len``) and, for a run also evaluated at other max_len
    (``eval_at_max_len``: {length: {status, metrics} | {status, reason}, trained_max_len, ...}),
    ``len<L>:<split>:<metric>`` per metric and ``len<L>:status`` ("ok" or why it could not run, e.g. a
    fixed-length time MLP)."""
    cols: dict[str, Any] = {}
    max_len = (r.get("config") or {}).get("max_len")
    if max_len is not None:
        cols["train_max_len"] = _number(r, "config.max_len", max_len)
    evals = r.get("eval_at_max_len")
    if evals is None:
        return cols
    if not isinstance(evals, dict):
        raise ReportInputError(f"{r['_path']}: field 'eval_at_max_len' should be a mapping of lengths")
    if "trained_max_len" in evals:
        cols["train_max_len"] = _number(r, "eval_at_max_len.trained_max_len", evals["trained_max_len"])
    for length, entry in evals.items():
        if not str(length).isdigit():  # trained_max_len, reproduced_test_max_abs_diff: facts about the run
            continue
        if not isinstance(entry, dict):
            raise ReportInputError(f"{r['_path']}: field 'eval_at_max_len.{length}' should be a record")
        key = f"{LENGTH_PREFIX}{int(length)}"
        metrics = entry.get("metrics")
        if isinstance(metrics, dict):
            cols[f"{key}:status"] = "ok"
            for split in ("valid", "test"):
                for name, value in sorted((metrics.get(split) or {}).items()):
                    cols[f"{key}:{split}:{name}"] = _number(r, f"eval_at_max_len.{length}.metrics.{split}.{name}",
                                                            value)
        else:
            cols[f"{key}:status"] = str(entry.get("reason") or entry.get("status") or "not run")
    return cols


def _workload_row(r: dict[str, Any]) -> dict[str, Any]:
    """One latency/memory case; ``model`` carries the kernel provider when it is not ours ("auto"), and
    ``+cuda_graph`` for a training step replayed as a CUDA graph (phase ``train_step_graph``, shown as a
    training step of that label)."""
    backend = str(r.get("backend") or "auto")
    model = str(_get(r, "model")) + ("" if backend == "auto" else PROVIDER_SEP + backend)
    phase = str(_get(r, "phase"))
    if phase == "train_step_graph":
        phase, model = "train_step", model + PROVIDER_SEP + "cuda_graph"
    row = {"kind": r["kind"], "model": model, "phase": phase,
           "seq_len": _int(r, "seq_len"), "batch_size": _int(r, "batch_size"), "hidden": _int(r, "hidden_size"),
           "median_ms": _optional_number(r, "median_ms"), "iqr_ms": _optional_number(r, "iqr_ms"),
           "peak_memory_bytes": _optional_number(r, "peak_memory_bytes"),
           "n_parameters": _optional_number(r, "n_parameters"), "timer": str(r.get("timer") or "")}
    if row["phase"] not in ("train_step", "inference"):
        raise ReportInputError(f"{r['_path']}: field 'phase' should be train_step, train_step_graph or inference, "
                               f"got {r.get('phase')!r}")
    needed = "median_ms" if r["kind"] == "latency" else "peak_memory_bytes"
    if math.isnan(row[needed]):
        raise ReportInputError(f"{r['_path']}: field '{needed}' is missing")
    return row


def _case_label(r: dict[str, Any]) -> str:
    """A short human-readable name of the case a (possibly failed) result file was for."""
    kind = r.get("kind")
    if kind in RUN_KINDS:
        hidden = (r.get("config") or {}).get("hidden_size")
        parts = [r.get("model"), _dataset_name(r, required=False), f"h{hidden}" if hidden is not None else None,
                 f"s{r['seed']}" if r.get("seed") is not None else None, _variant(r) or None]
    else:
        parts = [r.get("model"), r.get("phase"), f"L{r['seq_len']}" if r.get("seq_len") is not None else None,
                 f"B{r['batch_size']}" if r.get("batch_size") is not None else None,
                 f"h{r['hidden_size']}" if r.get("hidden_size") is not None else None,
                 r.get("backend") if r.get("backend") not in (None, "auto") else None]
    return "-".join(str(p) for p in parts if p not in (None, ""))


def _case_key(r: dict[str, Any], set_name: str) -> tuple:
    kind = r.get("kind")
    if kind in RUN_KINDS:
        return (set_name, "run", _case_label(r))
    return (set_name, kind, _case_label(r), str((r.get("provenance") or {}).get("device_name") or ""))


@dataclass
class Collected:
    """Everything the report draws on; see the module docstring for the columns."""

    root: Path
    runs: pd.DataFrame
    workloads: pd.DataFrame
    problems: pd.DataFrame
    kernels: pd.DataFrame = field(default_factory=pd.DataFrame)  # kind "kernel": seqrec.report.kernels rows
    profiles: pd.DataFrame = field(default_factory=pd.DataFrame)  # kind "profile": seqrec.report.profiles rows
    superseded: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # files of kinds the report does not draw
    n_files: int = 0

    @property
    def sets(self) -> list[str]:
        names = set(self.runs["set"]) | set(self.workloads["set"]) | set(self.problems["set"])
        for extra in (self.kernels, self.profiles):
            if not extra.empty:
                names |= set(extra["set"])
        return sorted(names)

    @property
    def empty(self) -> bool:
        return self.n_files == 0


def _frame(rows: list[dict[str, Any]], columns: list[str], sort_by: list[str]) -> pd.DataFrame:
    columns = list(dict.fromkeys(columns))  # device_name is a workload key and a provenance column
    df = pd.DataFrame(rows)
    for col in columns:
        if col not in df.columns:
            df[col] = pd.Series(dtype=object)
    if df.empty:
        return df[columns + [c for c in df.columns if c not in columns]]
    df["_model_rank"] = [model_sort_key(m) for m in df["model"]] if "model" in df.columns else 0
    order = [c if c != "model" else "_model_rank" for c in sort_by] + ["file"]
    return df.sort_values(order, kind="mergesort").drop(columns="_model_rank").reset_index(drop=True)


def collect_results(root: str | Path) -> Collected:
    """Read every result file under ``root`` into frames. A missing ``root`` reads as no results.
    Raises ``ReportInputError`` (naming file and field) for an ok result file that lacks what it needs."""
    root = Path(root)
    results = load_results(root) if root.is_dir() else []
    chosen: dict[tuple, dict[str, Any]] = {}
    superseded: list[str] = []
    unused: list[str] = []
    kernel_rows: list[dict[str, Any]] = []
    profile_rows: list[dict[str, Any]] = []
    for r in results:
        rel = Path(r["_path"]).relative_to(root).as_posix()
        r["_rel"] = rel
        if LOGS in Path(rel).parts[:-1]:  # a campaign's raw material (diagnostic benches beside its logs)
            continue
        if r.get("kind") in ("kernel", "profile") and r.get("status", "ok") == "ok":
            where = {"set": result_set(Path(r["_path"]), root), **_provenance(r, rel)}
            where["device_name"] = str(r.get("device_name") or where["device_name"])  # the GPU the file names
            if r["kind"] == "kernel":
                kernel_rows += [{**row, **where} for row in kernels.kernel_rows(r)]
            else:
                profile_rows.append({**profiles.profile_row(r), **where})
            continue
        if r.get("kind") not in RUN_KINDS + WORKLOAD_KINDS:
            unused.append(rel)
            continue
        key = _case_key(r, result_set(Path(r["_path"]), root))
        best = chosen.get(key)
        if best is None or _preference(r) > _preference(best):
            if best is not None:
                superseded.append(best["_rel"])
            chosen[key] = r
        else:
            superseded.append(rel)
    runs, workloads, problems = [], [], []
    for key, r in sorted(chosen.items(), key=lambda kv: kv[1]["_rel"]):
        set_name = key[0]
        prov = _provenance(r, r["_rel"])
        status = r.get("status", "ok")
        if status != "ok":
            reason = str(r.get("reason") or "(no reason given)").strip()
            problems.append({"set": set_name, "file": r["_rel"], "kind": r.get("kind"), "case": _case_label(r),
                             "status": str(status), "reason": reason})
        elif r["kind"] in RUN_KINDS:
            runs.append({"set": set_name, **_run_row(r), **prov})
        else:
            workloads.append({"set": set_name, **_workload_row(r), **prov})
    return Collected(
        root=root,
        runs=_frame(runs, RUN_KEYS + ["seed", "kind", "model_hidden"] + PROVENANCE_COLUMNS, RUN_KEYS + ["seed"]),
        workloads=_frame(workloads, WORKLOAD_KEYS + PROVENANCE_COLUMNS, WORKLOAD_KEYS),
        problems=_frame(problems, ["set", "file", "kind", "case", "status", "reason"], ["set", "file"]),
        kernels=_kernel_frame(kernel_rows),
        profiles=pd.DataFrame(profile_rows, columns=["set", *profiles.PROFILE_COLUMNS, *PROVENANCE_COLUMNS]),
        superseded=sorted(superseded), unused=sorted(unused), n_files=len(results))


def _kernel_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["set", *kernels.KERNEL_COLUMNS, *PROVENANCE_COLUMNS]
    df = pd.DataFrame(rows, columns=columns)
    return kernels.fill_floors(df.sort_values(["set", "op", "file"], kind="mergesort").reset_index(drop=True))


def _preference(r: dict[str, Any]) -> tuple:
    """Which of two files of the same case wins: ok first, then the newest, then the later path."""
    return (r.get("status", "ok") == "ok", str((r.get("provenance") or {}).get("created_at") or ""), r["_rel"])


def main_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Train runs of the models as configured (no ablation variant)."""
    return runs[(runs["kind"] == "train") & (runs["variant"] == "")] if not runs.empty else runs


def ablation_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Ablation runs: kind "ablation", or train runs carrying a variant."""
    return runs[(runs["kind"] == "ablation") | (runs["variant"] != "")] if not runs.empty else runs


def seed_stats(runs: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for one seed) and number of seeds of ``value`` per group of ``by``.
    NaN values (a metric a run did not record) are left out; a group with none has n = 0 and NaN mean."""
    if runs.empty or value not in runs.columns:
        return pd.DataFrame(columns=by + ["mean", "std", "n"])
    rows = []
    for key, group in runs.groupby(by, sort=True, dropna=False):
        values = [float(v) for v in group.sort_values("seed")[value] if not pd.isna(v)]
        n = len(values)
        mean = math.fsum(values) / n if n else math.nan
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                     "mean": mean, "std": std, "n": n})
    return pd.DataFrame(rows, columns=by + ["mean", "std", "n"])


def per_seed(runs: pd.DataFrame, value: str) -> dict[int, float]:
    """``{seed: value}`` of the runs of one case (NaN dropped)."""
    if runs.empty or value not in runs.columns:
        return {}
    return {int(s): float(v) for s, v in zip(runs["seed"], runs[value], strict=True) if not pd.isna(v)}


def axis_values(df: pd.DataFrame, column: str) -> list:
    """Sorted distinct values of a column (the shared axis of a figure or the sections of a table)."""
    return sorted(set(df[column])) if not df.empty else []

