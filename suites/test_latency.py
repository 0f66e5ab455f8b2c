"""GPU (or CPU, labelled) latency per model: a training step (forward, backward, Adam) and full-sort
inference over all items, across sequence length, batch and hidden size, on synthetic sequences.
The first call is timed apart (``compile_seconds``); then CUDA events after warm-up, median and IQR."""

from __future__ import annotations

import torch

from seqrec.workloads import n_parameters, time_fn

from conftest import run_case, workload_case_start, workload_fn


def test_latency(benchmark, workload_case, profile, device, results_dir, rerun):
    out, base = workload_case_start("latency", workload_case, profile, results_dir, rerun)
    state = {}

    def measure():
        model, fn = workload_fn(workload_case, profile, device)
        timing = time_fn(fn, device, warmup=profile.warmup, reps=profile.reps)
        state["fn"] = fn
        return {"median_ms": timing.median_ms, "iqr_ms": timing.iqr_ms, "times_ms": timing.times_ms,
                "compile_seconds": timing.compile_seconds, "timer": timing.timer,
                "n_parameters": n_parameters(model)}

    result = run_case(out, base, measure, device)
    fn = state["fn"]

    def call():
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    benchmark.pedantic(call, rounds=min(profile.reps, 5), iterations=1)
    benchmark.extra_info.update({"median_ms_events": result["median_ms"], "timer": result["timer"],
                                 "compile_seconds": result["compile_seconds"]})
    assert result["median_ms"] > 0
