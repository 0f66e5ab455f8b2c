"""The ablation suite's named variants and grids (data), and how they become cases.

A variant is a plain dict:
  model          registry name ("tim4rec", "ssd4rec", ...)
  config         overrides of the model's config (models/configs/<model>.toml), without hidden_size / max_len
  group          what the variant is compared within (report: one question per group)
  hiddens        "default" (the grid's ablation hidden size; default) | "backbone" (every backbone hidden size)
  match          optional name of a variant whose parameter count this one matches: its hidden size is chosen
                 (multiples of MATCH_STEP) so that the total parameter count, computed with models.build for the
                 dataset's n_items and max_len, is closest to the reference variant's at the grid's hidden size
  dataset_options  optional keyword arguments of seqrec.data.load_dataset (max_len comes from the profile)
  eval_max_len   optional factors of the training max_len at which the trained model is also evaluated
                 (length generalisation; see suites/test_ablation.py)
  note           what it tests

"full" is TiM4Rec as configured (the reference of every table). It runs at every hidden size another selected
variant runs at, so each (dataset, hidden) table has its reference. A variant whose resolved config equals
full's on a dataset (e.g. time_residual_point on amazon-beauty, where point-to-point is the dataset default) is
not run there.

Grids: ``smoke`` (ml-100k, one seed, 8 tiny cases) and ``full`` (amazon-beauty and ml-1m, seeds 0-2, every
variant). The training protocol (epochs, patience, steps, batch size, max_len) comes from the suite profile of
the same name (suites/conftest.py); a grid may cap epochs and steps further (smoke: 2 epochs of 5 steps).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

import models
from seqrec.train import EXECUTION_ONLY

REFERENCE = "full"
EVAL_LEN_FACTORS = (0.5, 2.0)
MATCH_STEP = 4  # hidden sizes tried for equal-parameter variants: multiples of this (and of the model's n_heads)
MATCH_TOLERANCE = 0.10  # |params - reference params| / reference params allowed for an equal-parameter variant
VARIANTS_ENV = "SEQREC_ABLATION_VARIANTS"  # comma list of variant or group names narrowing the grid

VARIANTS: dict[str, dict[str, Any]] = {
    # --- reference
    "full": {"model": "tim4rec", "config": {}, "group": "reference", "eval_max_len": EVAL_LEN_FACTORS,
             "note": "TiM4Rec as configured (corrected, causal, length-independent time path)"},
    # --- parts of TiM4Rec
    "no_time_path": {"model": "tim4rec", "config": {"time_path": False}, "group": "components",
                     "note": "time path off: exactly SSD4Rec (same parameters and computation)"},
    "no_ffn": {"model": "tim4rec", "config": {"ffn": False}, "group": "components",
               "note": "no position-wise FFN after each block"},
    "time_residual_shared": {"model": "tim4rec", "config": {"time_residual": "shared"}, "group": "time_residual",
                             "note": "one gate per layer for the gated time residual (official p2p_residual=False)"},
    "time_residual_point": {"model": "tim4rec", "config": {"time_residual": "point"}, "group": "time_residual",
                            "note": "point-to-point gate per position (official p2p_residual=True)"},
    "layers_1": {"model": "tim4rec", "config": {"n_layers": 1}, "group": "layers", "note": "1 layer (full: 2)"},
    "layers_3": {"model": "tim4rec", "config": {"n_layers": 3}, "group": "layers", "note": "3 layers (full: 2)"},
    "time_feature_log_gap": {"model": "tim4rec", "config": {"time_feature": "log_gap"}, "group": "time_feature",
                             "note": "sign(gap) log(1 + |gap|) instead of the raw gap"},
    "time_feature_user_norm_gap": {"model": "tim4rec", "config": {"time_feature": "user_norm_gap"},
                                   "group": "time_feature", "note": "gap / the user's mean gap so far"},
    "time_feature_none": {"model": "tim4rec", "config": {"time_feature": "none"}, "group": "time_feature",
                          "note": "zeros: the time path's parameters without time information"},
    "time_dt_init_neutral": {"model": "tim4rec", "config": {"time_dt_init": "neutral"}, "group": "components",
                             "note": "time_dt ~ 1 at init (step = SSD4Rec's) instead of the official init's ~0"},
    # --- the official code's behaviour
    "official": {"model": "tim4rec", "config": {"official_padding": True, "time_mlp": "positions"},
                 "group": "official", "eval_max_len": EVAL_LEN_FACTORS,
                 "note": "the official code: raw gaps over the padded row and fixed-length (max_len-sized) time "
                         "LayerNorm / MLP / gate; evaluated at other lengths: shorter histories padded to the "
                         "training max_len, longer ones cannot run"},
    "official_time_mlp": {"model": "tim4rec", "config": {"time_mlp": "positions"}, "group": "official",
                          "eval_max_len": EVAL_LEN_FACTORS,
                          "note": "the official fixed-length time LayerNorm / MLP / gate with corrected gaps (0 at "
                                  "padding): the length-independent pointwise path is the full model"},
    # --- backbones (no time), over hidden sizes: the low-dimension degradation
    "backbone_ssd": {"model": "ssd4rec", "config": {}, "group": "backbone", "hiddens": "backbone",
                     "note": "SSD (Mamba-2) backbone: SSD4Rec as configured"},
    "backbone_ssm": {"model": "mamba4rec", "config": {"n_layers": 2}, "group": "backbone", "hiddens": "backbone",
                     "note": "SSM (Mamba-1) backbone: Mamba4Rec with 2 layers like the others (its config: 1)"},
    "backbone_attention": {"model": "sasrec", "config": {}, "group": "backbone", "hiddens": "backbone",
                           "note": "attention backbone: SASRec as configured"},
    # --- step-size modulation vs interval embeddings, at equal parameter counts
    "matched_sasrec": {"model": "sasrec", "config": {}, "group": "time_mechanism", "match": REFERENCE,
                       "note": "SASRec (no time) with full TiM4Rec's parameter count"},
    "matched_tisasrec": {"model": "tisasrec", "config": {}, "group": "time_mechanism", "match": REFERENCE,
                         "note": "TiSASRec (interval embeddings) with full TiM4Rec's parameter count"},
}
VARIANT_KEYS = {"model", "config", "group", "hiddens", "match", "dataset_options", "eval_max_len", "note"}


@dataclass(frozen=True)
class AblationGrid:
    name: str
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    hidden: int  # hidden size of the component ablations and of the equal-parameter reference
    backbone_hiddens: tuple[int, ...]
    variants: tuple[str, ...]
    # training caps over the profile's (None: the profile's): the smoke grid trains less than the smoke
    # profile so that its 8 cases take about a minute on a 2-core CPU
    epochs: int | None = None
    max_steps_per_epoch: int | None = None


SMOKE_VARIANTS = ("full", "no_time_path", "time_residual_point", "time_feature_log_gap", "layers_1", "official",
                  "backbone_attention", "matched_tisasrec")
GRIDS = {
    "smoke": AblationGrid(name="smoke", datasets=("ml-100k",), seeds=(0,), hidden=32, backbone_hiddens=(32,),
                          variants=SMOKE_VARIANTS, epochs=2, max_steps_per_epoch=5),
    "full": AblationGrid(name="full", datasets=("amazon-beauty", "ml-1m"), seeds=(0, 1, 2), hidden=64,
                         backbone_hiddens=(16, 32, 64, 128), variants=tuple(VARIANTS)),
}


@dataclass(frozen=True)
class AblationCase:
    """One training run of the ablation suite; ``config`` is what goes to ``train(config=...)``."""

    variant: str
    model: str
    group: str
    dataset: str
    hidden: int
    seed: int
    config: dict[str, Any] = field(hash=False)
    dataset_options: dict[str, Any] = field(default_factory=dict, hash=False)
    eval_len_factors: tuple[float, ...] = ()
    param_match: dict[str, Any] | None = field(default=None, hash=False)
    problem: str | None = None  # why the case cannot run (recorded as skipped)

    @property
    def id(self) -> str:
        return f"{self.variant}-{self.dataset}-h{self.hidden}-s{self.seed}"


def check_variant(name: str, spec: dict[str, Any]) -> None:
    """Structural check of one table entry (switch names are checked by building it: tests)."""
    unknown = set(spec) - VARIANT_KEYS
    if unknown:
        raise ValueError(f"variant {name!r}: unknown key(s) {sorted(unknown)}; known: {sorted(VARIANT_KEYS)}")
    if spec.get("model") not in models.MODELS:
        raise ValueError(f"variant {name!r}: unknown model {spec.get('model')!r}")
    if {"hidden_size", "max_len"} & set(spec.get("config", {})):
        raise ValueError(f"variant {name!r}: hidden_size / max_len come from the grid, not the variant")
    if spec.get("hiddens", "default") not in ("default", "backbone"):
        raise ValueError(f"variant {name!r}: hiddens must be 'default' or 'backbone'")
    if "match" in spec and spec["match"] not in VARIANTS:
        raise ValueError(f"variant {name!r}: match refers to unknown variant {spec['match']!r}")


def variant_config(name: str, hidden: int, max_len: int | None) -> dict[str, Any]:
    """The overrides passed to train for variant ``name`` at ``hidden`` (and max_len when the profile sets it
    and the model has the key)."""
    spec = VARIANTS[name]
    config = {**spec.get("config", {}), "hidden_size": hidden}
    if max_len is not None and "max_len" in models.default_config(spec["model"]):
        config["max_len"] = max_len
    return config


def resolved_config(name: str, dataset: str, hidden: int, max_len: int | None) -> dict[str, Any]:
    """Variant ``name``'s full model config on ``dataset`` (defaults, dataset overrides, variant, hidden)."""
    return {**models.default_config(VARIANTS[name]["model"], dataset), **variant_config(name, hidden, max_len)}


def same_as(a: str, b: str, dataset: str, hidden: int, max_len: int | None) -> bool:
    """Whether variants ``a`` and ``b`` would train the same model on ``dataset`` at ``hidden``."""
    va, vb = VARIANTS[a], VARIANTS[b]
    return (va["model"] == vb["model"] and va.get("dataset_options", {}) == vb.get("dataset_options", {})
            and resolved_config(a, dataset, hidden, max_len) == resolved_config(b, dataset, hidden, max_len))


PRECISION_KEYS = ("amp", "tf32", "compile")  # train-config keys that change a run's numbers when set on one side only


def _precision(train_config: dict[str, Any], key: str) -> Any:
    """``train_config[key]`` with unset, None and False read alike (files older than a key lack it)."""
    return train_config.get(key) or None


def reusable_accuracy_result(case: AblationCase, accuracy_dir: Path, train_config: dict[str, Any],
                             max_steps: int | None, max_len: int | None) -> tuple[Path, dict[str, Any]] | None:
    """(path, result) of the accuracy suite's run that is the same training run as ``case``, else None.

    A variant that is a model exactly as configured (SSD4Rec or SASRec as the backbone rows) at a hidden size of
    the accuracy grid trains what the accuracy suite trained: same model, resolved config, dataset, max_len,
    seed, epochs, patience, batch size and steps, precision (``PRECISION_KEYS``: amp, TF32 and compile, set or not
    on either side), with or without a CUDA graph (``EXECUTION_ONLY``). The suite then records that run
    (``reused_from``) instead of training it twice. Variants with overrides, extra evaluations or
    matched parameters are never reused."""
    spec = VARIANTS[case.variant]
    if spec.get("config") or case.dataset_options or case.eval_len_factors or case.param_match is not None:
        return None
    path = accuracy_dir / f"{case.model}-{case.dataset}-h{case.hidden}-s{case.seed}.json"
    try:
        r = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    config, tc, ds = r.get("config") or {}, r.get("train_config") or {}, r.get("dataset") or {}
    want = resolved_config(case.variant, case.dataset, case.hidden, max_len)
    same = (r.get("status") == "ok" and r.get("kind") == "train" and r.get("model") == case.model
            and not r.get("variant") and r.get("seed") == case.seed and ds.get("name") == case.dataset
            and all(config.get(k) == v for k, v in want.items())
            and all(tc.get(k) == v for k, v in train_config.items() if k not in EXECUTION_ONLY)
            and all(_precision(tc, k) == _precision(train_config, k) for k in PRECISION_KEYS)
            and tc.get("max_steps_per_epoch") == max_steps
            and (max_len is None or ds.get("max_len") == max_len))
    return (path, r) if same else None


def parameter_count(model: str, config: dict[str, Any], n_items: int, dataset: str | None = None) -> int:
    """Parameters of ``models.build(model, config, n_items, dataset)`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        built = models.build(model, config, n_items, dataset=dataset)
    return sum(p.numel() for p in built.parameters())


def match_parameters(name: str, dataset: str, n_items: int, max_len: int, ref_hidden: int,
                     max_hidden: int = 1024) -> dict[str, Any]:
    """Hidden size of equal-parameter variant ``name`` closest (in total parameters) to its reference variant at
    ``ref_hidden`` on ``dataset`` with ``n_items`` items and sequences of ``max_len``; the counts, recorded."""
    spec = VARIANTS[name]
    ref = spec["match"]

    def count(variant: str, hidden: int) -> int:
        cfg = {**resolved_config(variant, dataset, hidden, None)}
        if "max_len" in cfg:
            cfg["max_len"] = max_len
        return parameter_count(VARIANTS[variant]["model"], cfg, n_items, dataset)

    target = count(ref, ref_hidden)
    heads = int(models.default_config(spec["model"], dataset).get("n_heads", 1))
    step = MATCH_STEP * heads // _gcd(MATCH_STEP, heads)
    best: tuple[float, int, int, int] | None = None  # (relative difference, distance to ref_hidden, hidden, n)
    for hidden in range(step, max_hidden + 1, step):
        n = count(name, hidden)
        key = (abs(n - target) / target, abs(hidden - ref_hidden), hidden, n)
        if best is None or key < best:
            best = key
        if n > target:  # parameters grow with the hidden size: no closer one above
            break
    assert best is not None
    rel, _, hidden, n = best
    return {"reference": ref, "reference_model": VARIANTS[ref]["model"], "reference_hidden": ref_hidden,
            "reference_parameters": target, "hidden": hidden, "parameters": n,
            "relative_difference": (n - target) / target, "n_items": n_items, "max_len": max_len,
            "within_tolerance": rel <= MATCH_TOLERANCE}


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@cache
def dataset_shape(dataset: str, max_len: int | None, options: tuple = ()) -> tuple[int, int]:
    """(n_items, max_len) of ``dataset`` as the suite loads it (processed cache: fast after the first time)."""
    from seqrec.data import load_dataset

    ds = load_dataset(dataset, max_len=max_len, **dict(options))
    return int(ds.n_items), int(ds.max_len)


def selected_variants(grid: AblationGrid, models_: Iterable[str] | None = None,
                      names: Iterable[str] | None = None) -> list[str]:
    """The grid's variants, narrowed to ``models_`` and to ``names`` (variant or group names; None: all;
    default: $SEQREC_ABLATION_VARIANTS). The reference is kept whenever anything is selected."""
    if names is None:
        raw = os.environ.get(VARIANTS_ENV, "")
        names = [v.strip() for v in raw.split(",") if v.strip()] or None
    chosen = list(grid.variants)
    if names is not None:
        names = set(names)
        unknown = names - set(VARIANTS) - {v["group"] for v in VARIANTS.values()}
        if unknown:
            raise ValueError(f"{VARIANTS_ENV}: unknown variant or group name(s) {sorted(unknown)}")
        chosen = [v for v in chosen if v in names or VARIANTS[v]["group"] in names]
    if models_ is not None:
        chosen = [v for v in chosen if VARIANTS[v]["model"] in set(models_)]
    if chosen and REFERENCE in grid.variants and REFERENCE not in chosen:
        chosen.insert(0, REFERENCE)
    return chosen


def ablation_cases(grid: AblationGrid, max_len: int | None, *, datasets: Iterable[str] | None = None,
                   seeds: Iterable[int] | None = None, hiddens: Iterable[int] | None = None,
                   models_: Iterable[str] | None = None, names: Iterable[str] | None = None,
                   shape: Callable[[str, int | None, tuple], tuple[int, int]] = dataset_shape) -> list[AblationCase]:
    """Every case of ``grid`` (narrowed by the arguments), in a stable order: dataset, hidden, variant, seed.

    ``max_len`` is the profile's (None: the dataset's default). ``shape(dataset, max_len, options)`` gives
    (n_items, max_len) for equal-parameter matching; when it fails, those cases carry the reason as
    ``problem`` and are recorded as skipped by the suite."""
    variants = selected_variants(grid, models_, names)
    hidden_filter = set(hiddens) if hiddens is not None else None
    out: list[AblationCase] = []
    for dataset in (grid.datasets if datasets is None else tuple(datasets)):
        runs: list[tuple[str, int, dict | None, str | None]] = []  # (variant, hidden, param_match, problem)
        for name in variants:
            spec = VARIANTS[name]
            if name == REFERENCE:
                continue
            if "match" in spec:
                if hidden_filter is not None and grid.hidden not in hidden_filter:
                    continue
                options = tuple(sorted(spec.get("dataset_options", {}).items()))
                try:
                    n_items, length = shape(dataset, max_len, options)
                    match = match_parameters(name, dataset, n_items, length, grid.hidden)
                    runs.append((name, match["hidden"], match, None))
                except Exception as e:  # data not at hand: the case is recorded as skipped
                    runs.append((name, grid.hidden, None, f"parameter matching needs the dataset: "
                                                          f"{type(e).__name__}: {str(e).splitlines()[0]}"))
                continue
            for hidden in (grid.backbone_hiddens if spec.get("hiddens") == "backbone" else (grid.hidden,)):
                if hidden_filter is not None and hidden not in hidden_filter:
                    continue
                if same_as(name, REFERENCE, dataset, hidden, max_len):
                    continue
                runs.append((name, hidden, None, None))
        if REFERENCE in variants:
            ref_hiddens = {grid.hidden} | {h for _, h, m, _ in runs if m is None}
            if hidden_filter is not None:
                ref_hiddens &= hidden_filter
            runs += [(REFERENCE, h, None, None) for h in ref_hiddens]
        order = {v: i for i, v in enumerate(variants)}
        runs.sort(key=lambda r: (r[2]["reference_hidden"] if r[2] else r[1], order[r[0]], r[1]))
        for name, hidden, match, problem in runs:
            spec = VARIANTS[name]
            for seed in (grid.seeds if seeds is None else tuple(seeds)):
                out.append(AblationCase(
                    variant=name, model=spec["model"], group=spec["group"], dataset=dataset, hidden=hidden,
                    seed=seed, config=variant_config(name, hidden, max_len),
                    dataset_options=dict(spec.get("dataset_options", {})),
                    eval_len_factors=tuple(spec.get("eval_max_len", ())), param_match=match, problem=problem))
    return out


for _name, _spec in VARIANTS.items():
    check_variant(_name, _spec)
for _grid in GRIDS.values():
    if unknown_ := set(_grid.variants) - set(VARIANTS):
        raise ValueError(f"grid {_grid.name!r}: unknown variant(s) {sorted(unknown_)}")
