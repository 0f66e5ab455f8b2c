"""Ablation of TiM4Rec's parts: each case trains one named variant (suites/ablation_variants.py) on one dataset
with the profile's protocol and writes ``results/<profile>/ablation/<variant>-<dataset>-h<hidden>-s<seed>.json``
(kind "ablation", key "variant"; otherwise laid out like a train result, so the report reads it as such).

Cases come from the ``smoke`` or ``full`` grid of the active profile, narrowed by the profile options
(``--datasets``, ``--seeds``, ``--hidden``, ``--models``) and by ``$SEQREC_ABLATION_VARIANTS`` (comma list of
variant or group names). Variants with ``eval_max_len`` are also evaluated, after training, at max_len x factor
(``eval_at_max_len`` in the result): the corrected TiM4Rec runs at any length; the official one only at its
training length, so shorter histories are right-padded to it and longer ones are recorded as not runnable.
Equal-parameter variants record the counts (``param_match``). Resume, skip and failure recording as the other
suites (conftest.run_case).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from ablation_variants import GRIDS, VARIANTS, AblationCase, ablation_cases, reusable_accuracy_result

import models
from seqrec import run_claim, runtime
from seqrec.checkpoint import best_weights, checkpoint_path, load_checkpoint
from seqrec.results import provenance, write_result
from seqrec.train import evaluate, train

from conftest import PROFILES, already_done, run_case


def _narrowed(prof, attr: str):
    """The profile's value when the user narrowed it (differs from the named profile's), else None."""
    value = getattr(prof, attr)
    return value if value != getattr(PROFILES[prof.name], attr) else None


def pytest_generate_tests(metafunc):
    if "ablation_case" not in metafunc.fixturenames:
        return
    prof = metafunc.config._seqrec_profile
    cases = ablation_cases(GRIDS[prof.name], prof.max_len, datasets=_narrowed(prof, "datasets"),
                           seeds=_narrowed(prof, "seeds"), hiddens=_narrowed(prof, "hidden_sizes"),
                           models_=_narrowed(prof, "models"))
    metafunc.parametrize("ablation_case", cases, ids=[c.id for c in cases])


class _PaddedTo:
    """A dataset view whose evaluation batches are right-padded (items and times 0) to ``length``: shorter
    histories for a model tied to one sequence length."""

    def __init__(self, ds, length: int):
        self.ds, self.length = ds, length

    def eval_batches(self, split: str, batch_size: int):
        for b in self.ds.eval_batches(split, batch_size):
            pad = (0, self.length - b.item_seq.size(1))
            yield b._replace(item_seq=F.pad(b.item_seq, pad), time_seq=F.pad(b.time_seq, pad))


def _keep_checkpoint(ckpt: Path, keep: Path) -> None:
    """Keep the run's latest checkpoint (its best weights) at ``keep``: train() deletes its own at the end.
    A hard link costs nothing (the checkpoint is replaced, not rewritten, each epoch); else a copy."""
    if not ckpt.exists():
        return
    keep.unlink(missing_ok=True)
    try:
        os.link(ckpt, keep)
    except OSError:
        import shutil

        shutil.copyfile(ckpt, keep)


def _evaluate_at_lengths(case: AblationCase, result: dict[str, Any], ds, weights: dict[str, torch.Tensor],
                         device: str) -> dict[str, Any]:
    """Test/valid metrics of the trained weights at max_len x each of ``case.eval_len_factors``, plus a check
    that the restored weights reproduce the recorded test metrics at the training length."""
    dev = runtime.resolve_device(device)
    model = models.build(case.model, result["config"], ds.n_items, dataset=ds.name)
    model.load_state_dict(weights)
    model.to(dev).eval()
    tc = result["train_config"]
    bs, mask = tc["eval_batch_size"], tc["mask_history"]
    trained = int(result["dataset"]["max_len"])
    base = ds.to(dev)
    again = evaluate(model, base.with_max_len(trained), "test", bs, mask)
    out: dict[str, Any] = {"trained_max_len": trained, "reproduced_test_max_abs_diff": max(
        abs(again[k] - v) for k, v in result["metrics"]["test"].items())}
    tied = bool(getattr(model, "tied_to_max_len", False))
    for factor in case.eval_len_factors:
        length = max(1, round(trained * factor))
        view, mode = base.with_max_len(length), "native"
        if tied and length < trained:
            view, mode = _PaddedTo(view, trained), f"padded_to_{trained}"
        try:
            metrics = {split: evaluate(model, view, split, bs, mask) for split in ("valid", "test")}
        except ValueError as e:  # the official model is tied to its training length
            out[str(length)] = {"status": "cannot_run", "factor": factor, "reason": f"{type(e).__name__}: {e}"}
            continue
        out[str(length)] = {"status": "ok", "factor": factor, "mode": mode, "metrics": metrics}
    return out


def test_ablation(benchmark, ablation_case: AblationCase, profile, device, execution, results_dir, rerun):
    case = ablation_case
    out = results_dir / "ablation" / f"{case.id}.json"
    if already_done(out, rerun):
        pytest.skip(f"done: {out} (use --rerun to train again)")
    extra = {"kind": "ablation", "profile": profile.name, "suite": "ablation", "group": case.group,
             "variant_note": VARIANTS[case.variant].get("note", ""), "variant_overrides": case.config}
    if case.param_match is not None:
        extra["param_match"] = case.param_match
    base = {**extra, "model": case.model, "variant": case.variant, "seed": case.seed,
            "dataset": {"name": case.dataset}, "config": dict(case.config)}
    if case.problem is not None:
        write_result(out, {**base, "status": "skipped", "reason": case.problem, "provenance": provenance(device)})
        pytest.skip(f"recorded as skipped: {case.problem}")

    grid = GRIDS[profile.name]
    epochs = min(profile.epochs, grid.epochs or profile.epochs)
    steps = min(x for x in (profile.max_steps_per_epoch, grid.max_steps_per_epoch) if x) if (
        profile.max_steps_per_epoch or grid.max_steps_per_epoch) else None
    train_config = {"epochs": epochs, "patience": profile.patience, **execution}
    if profile.batch_size:
        train_config["batch_size"] = profile.batch_size
        train_config["eval_batch_size"] = max(profile.batch_size, 1024)
    reuse = reusable_accuracy_result(case, results_dir / "accuracy", train_config, steps, profile.max_len)
    if reuse is not None:
        path, same_run = reuse
        write_result(out, {**same_run, **extra, "variant": case.variant, "reused_from": f"accuracy/{path.name}"})
        pytest.skip(f"recorded from {path}: the accuracy suite's run is this variant's training run")
    run_name = f"{case.model}-{case.dataset}-h{case.hidden}-s{case.seed}-{case.variant}"
    ckpt = checkpoint_path(out, None, run_name)
    keep = out.with_name(out.name + ".weights")

    def fields() -> dict[str, Any]:
        from seqrec.data import load_dataset

        ds = load_dataset(case.dataset, max_len=profile.max_len, **case.dataset_options)
        hook = (lambda record: _keep_checkpoint(ckpt, keep)) if case.eval_len_factors else None
        with run_claim.claimed(ckpt):  # the case is this process's before its copy is touched (train claims it too)
            if case.eval_len_factors:
                _keep_checkpoint(ckpt, keep)  # a run resumed after its last epoch calls no epoch hook
            result = train(case.model, ds, config=case.config, train_config=train_config, seed=case.seed,
                           device=device, out=out, progress=False, max_steps_per_epoch=steps,
                           variant=case.variant, extra=extra, on_epoch_end=hook)
        if case.param_match is not None and result["n_parameters"] != case.param_match["parameters"]:
            result["param_match"] = {**case.param_match, "parameters_trained": result["n_parameters"]}
        if case.eval_len_factors:
            weights = best_weights(load_checkpoint(keep))
            result["eval_at_max_len"] = _evaluate_at_lengths(case, result, ds, weights, device)
            keep.unlink(missing_ok=True)
        return {k: v for k, v in result.items() if k not in ("status", "provenance")}

    result = benchmark.pedantic(lambda: run_case(out, base, fields, device), rounds=1, iterations=1)
    written = json.loads(out.read_text())
    assert written["status"] == "ok" and written["kind"] == "ablation" and written["variant"] == case.variant
    test = result["metrics"]["test"]
    for key in ("hit@10", "ndcg@10", "mrr@10", "hit@50"):
        assert 0.0 <= test[key] <= 1.0, key
    if "eval_at_max_len" in result:
        assert result["eval_at_max_len"]["reproduced_test_max_abs_diff"] < 1e-4, result["eval_at_max_len"]
    benchmark.extra_info.update({"test_" + k: v for k, v in test.items()})
    benchmark.extra_info.update(variant=case.variant, model=case.model, epochs_run=result["epochs_run"],
                                n_parameters=result["n_parameters"])
