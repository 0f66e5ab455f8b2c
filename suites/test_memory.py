"""Peak GPU memory per model for the latency grid (training step and inference) and the parameter
count. Without CUDA the case records the parameter count and is skipped with that reason."""

from __future__ import annotations

import pytest
import torch

from seqrec.results import provenance, write_result
from seqrec.workloads import build_for_workload, n_parameters, peak_memory

from conftest import run_case, workload_case_start, workload_fn


def test_memory(benchmark, workload_case, profile, device, results_dir, rerun):
    model_name, _, seq_len, _, hidden, _ = workload_case
    out, base = workload_case_start("memory", workload_case, profile, results_dir, rerun)
    if not device.startswith("cuda"):
        model = build_for_workload(model_name, hidden, seq_len, profile.n_items, "cpu")
        write_result(out, {**base, "status": "skipped", "reason": "no CUDA device: GPU memory not measured",
                           "n_parameters": n_parameters(model), "provenance": provenance("cpu")})
        pytest.skip("no CUDA device: parameter count recorded, GPU memory not measured")

    def measure():
        torch.cuda.empty_cache()
        model, fn = workload_fn(workload_case, profile, device)
        mem = peak_memory(fn, device)
        return {**mem, "n_parameters": n_parameters(model)}

    result = benchmark.pedantic(lambda: run_case(out, base, measure, device), rounds=1, iterations=1)
    benchmark.extra_info.update({"peak_memory_bytes": result["peak_memory_bytes"]})
    assert result["peak_memory_bytes"] > 0
