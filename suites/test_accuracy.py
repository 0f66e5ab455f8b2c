"""Accuracy across hidden dimensions: each case trains one model on one dataset with early stopping and
records HR/NDCG/MRR@{10,20,50} on validation and test, epochs and train seconds (one result file per
case, ``results/<profile>/accuracy/<model>-<dataset>-h<hidden>-s<seed>.json``)."""

from __future__ import annotations

import json

import pytest

import models
from seqrec.run_claim import RunClaimed
from seqrec.train import train

from conftest import already_done


def test_accuracy(benchmark, accuracy_case, profile, device, execution, results_dir, rerun):
    model, dataset, hidden, seed = accuracy_case
    out = results_dir / "accuracy" / f"{model}-{dataset}-h{hidden}-s{seed}.json"
    if already_done(out, rerun):
        pytest.skip(f"done: {out} (use --rerun to train again)")
    config = {"hidden_size": hidden}
    train_config = {"epochs": profile.epochs, "patience": profile.patience, **execution}
    if profile.batch_size:
        train_config["batch_size"] = profile.batch_size
        train_config["eval_batch_size"] = max(profile.batch_size, 1024)
    dataset_options = {}
    if profile.max_len:
        dataset_options["max_len"] = profile.max_len
        if "max_len" in models.default_config(model):
            config["max_len"] = profile.max_len

    def run():
        return train(model, dataset, config=config, train_config=train_config, seed=seed, device=device,
                     out=out, progress=False, max_steps_per_epoch=profile.max_steps_per_epoch,
                     dataset_options=dataset_options, extra={"profile": profile.name, "suite": "accuracy"})

    try:
        result = benchmark.pedantic(run, rounds=1, iterations=1)
    except RunClaimed as e:  # another process trains this case and writes its result
        pytest.skip(f"left to another process: {e}")
    written = json.loads(out.read_text())
    assert written["status"] == "ok"
    test = result["metrics"]["test"]
    for key in ("hit@10", "ndcg@10", "mrr@10", "hit@50"):
        assert 0.0 <= test[key] <= 1.0, key
    benchmark.extra_info.update({"test_" + k: v for k, v in test.items()})
    benchmark.extra_info["epochs_run"] = result["epochs_run"]
