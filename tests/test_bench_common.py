"""suites/bench_common.py: a kernel benchmark records each provider's outcome and goes on to the next."""

from __future__ import annotations

import sys
import weakref
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))
import bench_common  # noqa: E402
from bench_common import (  # noqa: E402
    fwd_bwd_graph_ms,
    fwd_bwd_host_ms,
    fwd_bwd_record,
    grad_leaves,
    graph_ms,
    host_ms,
    measure_fwd_bwd,
    record_provider,
)

from kernels.dispatch import BackendUnavailable  # noqa: E402


def _raise(e: BaseException):
    def run():
        raise e
    return run


def test_a_fwd_bwd_record_adds_the_graph_time_only_where_the_eager_timing_ran(monkeypatch):
    graphed = []
    monkeypatch.setattr(bench_common, "fwd_bwd_graph_ms", lambda fn, inputs, dout: graphed.append(fn) or 0.5)
    monkeypatch.setattr(bench_common, "measure_fwd_bwd", lambda fn, inputs, dout: (1.5, 1024))
    assert fwd_bwd_record(abs, {}, None) == {"status": "ok", "median_ms": 1.5, "peak_memory_bytes": 1024,
                                             "graph_ms": 0.5}
    assert graphed == [abs]
    monkeypatch.setattr(bench_common, "measure_fwd_bwd", lambda fn, inputs, dout: _raise(
        BackendUnavailable("mamba_ssm is not installed"))())
    assert fwd_bwd_record(abs, {}, None) == {"status": "skipped", "reason": "mamba_ssm is not installed"}
    assert graphed == [abs]  # no capture of what did not run


def test_each_outcome_becomes_a_record():
    assert record_provider(lambda: (1.5, 1024)) == {"status": "ok", "median_ms": 1.5, "peak_memory_bytes": 1024}
    assert record_provider(_raise(BackendUnavailable("mamba_ssm is not installed"))) == {
        "status": "skipped", "reason": "mamba_ssm is not installed"}
    oom = record_provider(_raise(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB")))
    assert oom["status"] == "skipped" and oom["reason"].startswith("out of memory: CUDA out of memory")
    bad = record_provider(_raise(AttributeError("module 'selective_scan_cuda' has no attribute 'fwd'")))
    assert bad == {"status": "failed", "reason": "AttributeError: module 'selective_scan_cuda' has no attribute 'fwd'"}


def test_a_failed_provider_does_not_keep_its_tensors_alive():
    refs = []

    def run():
        held = torch.ones(1000)
        refs.append(weakref.ref(held))
        raise torch.OutOfMemoryError("CUDA out of memory")

    assert record_provider(run)["status"] == "skipped"
    assert refs[0]() is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("steps", [None, 2])
def test_measure_times_forward_and_backward_and_frees_the_gradients(steps):
    inputs = {"a": torch.randn(256, 256, device="cuda"), "idx": torch.arange(4, device="cuda")}
    ms, peak = measure_fwd_bwd(lambda a, idx: (a @ a)[idx], inputs, torch.ones(4, 256, device="cuda"), 2, 10,
                               steps=steps)
    assert ms > 0 and peak > 0


def test_host_time_a_call_counts_the_hosts_work_only():
    import time

    calls = []
    assert host_ms(lambda: calls.append(time.sleep(0.004)), calls=5) >= 4.0 and len(calls) == 6  # warm-up + 5
    assert host_ms(lambda: None, calls=5) < 1.0


def test_forward_backward_host_time_runs_the_backward_on_fresh_leaves():
    inputs = {"a": torch.randn(4), "idx": torch.arange(2)}
    leaves = grad_leaves(inputs)
    assert leaves["a"].requires_grad and leaves["a"] is not inputs["a"] and leaves["idx"] is inputs["idx"]
    seen = []

    def fn(a, idx):
        seen.append(a)
        return a[idx] * 2

    assert fwd_bwd_host_ms(fn, inputs, torch.ones(2)) > 0
    assert len(seen) == 21 and seen[0].grad is not None and not inputs["a"].requires_grad  # warm-up + 20 calls


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_graph_ms_times_replays_of_the_captured_step():
    """The captured step's outputs (static tensors the replays rewrite) equal the eager step's; fwd_bwd_graph_ms
    writes the leaves' gradients rather than adding to them."""
    x = torch.randn(256, 64, device="cuda", requires_grad=True)
    w = torch.randn(64, 64, device="cuda")
    out = {}

    def step():
        out["grad"] = torch.autograd.grad((x @ w).square().sum(), x)[0]

    assert graph_ms(step) > 0
    torch.testing.assert_close(out["grad"], 2 * (x @ w) @ w.t())
    inputs = {"x": x.detach(), "w": w}
    assert fwd_bwd_graph_ms(lambda x, w: (x @ w).square().sum(), inputs, torch.ones((), device="cuda")) > 0
