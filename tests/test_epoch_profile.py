"""seqrec/epoch_profile.py: the trace summary on a hand-made trace, the train loop's SEQREC_PROFILE_EPOCH on CPU,
and on CUDA a graphed run's profiled epoch (each step one graph replay)."""

from __future__ import annotations

import pytest
import torch

from seqrec.epoch_profile import summarize_trace
from seqrec.train import TrainSetupError, train
from tests.test_train import _fake_train, consecutive_dataset, fake_models, tiny_ds  # noqa: F401


def _x(cat, name, ts, dur, corr):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "args": {"correlation": corr}}


def test_summary_splits_idle_time_inside_and_between_graph_replays():
    events = [
        _x("cuda_runtime", "cudaGraphLaunch", 0, 3, 1), _x("cuda_runtime", "cudaLaunchKernel", 25, 2, 2),
        _x("cuda_driver", "cuGraphLaunch", 30, 3, 3), _x("cpu_op", "aten::mm", 0, 90, 9),
        _x("kernel", "_ssd_fwd_kernel", 100, 10, 1), _x("kernel", "cutlass_gemm", 112, 8, 1),  # replay 1: a 2 us gap
        _x("gpu_memcpy", "Memcpy HtoD", 130, 5, 2),  # outside any graph
        _x("kernel", "_ssd_fwd_kernel", 140, 10, 3), _x("kernel", "cutlass_gemm", 145, 15, 3),  # replay 2: no gap
    ]
    s = summarize_trace(events)
    assert s["gpu_events"] == 5 and s["kernels"] == 4
    assert s["gpu_span_s"] == pytest.approx(60e-6)
    assert s["gpu_busy_s"] == pytest.approx((10 + 8 + 5 + 20) * 1e-6)
    assert s["gpu_idle_s"] == pytest.approx(17e-6)
    assert s["graph_replays"] == 2 and s["graph_kernels"] == 4
    assert s["graph_idle_inside_s"] == pytest.approx(2e-6)
    assert s["outside_graph_kernels"] == 1 and s["outside_graph_seconds"] == pytest.approx(5e-6)
    assert s["outside_graph_top"] == [["Memcpy HtoD", pytest.approx(5e-6)]]
    assert s["gpu_top"] == [["cutlass_gemm", pytest.approx(23e-6), 2], ["_ssd_fwd_kernel", pytest.approx(20e-6), 2],
                            ["Memcpy HtoD", pytest.approx(5e-6), 1]]
    assert s["gpu_categories"] == {"sequence mixer (ours)": pytest.approx(20e-6), "GEMM": pytest.approx(23e-6),
                                   "other": pytest.approx(5e-6)}
    assert list(s["gpu_categories"]) == ["sequence mixer (ours)", "GEMM", "other"]  # the anatomy's order
    host_only = summarize_trace([events[3]])  # a CPU run
    assert host_only["gpu_events"] == host_only["graph_replays"] == 0 and host_only["gpu_busy_s"] == 0.0


def test_the_named_epoch_alone_carries_a_gpu_profile(fake_models, tiny_ds, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SEQREC_PROFILE_EPOCH", "2")
    result = _fake_train(tiny_ds, tmp_path, train_config={"epochs": 3, "patience": 0})
    assert [("gpu_profile" in e) for e in result["epochs"]] == [False, True, False]
    assert result["epochs"][1]["gpu_profile"]["gpu_events"] == 0  # CPU: host activity only


@pytest.mark.parametrize("raw", ["-1", "two"])
def test_profile_epoch_must_be_an_epoch_number(fake_models, tiny_ds, tmp_path, monkeypatch, raw):  # noqa: F811
    monkeypatch.setenv("SEQREC_PROFILE_EPOCH", raw)
    with pytest.raises(TrainSetupError, match=f"SEQREC_PROFILE_EPOCH='{raw}'"):
        _fake_train(tiny_ds, tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_graphed_epoch_is_one_replay_a_step(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_PROFILE_EPOCH", "2")
    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8)
    result = train("sasrec", ds, out=tmp_path / "r.json", config={"hidden_size": 16, "max_len": 8}, seed=0,
                   progress=False, device="cuda",
                   train_config={"batch_size": 16, "epochs": 2, "patience": 0, "cuda_graph": True})
    epoch = result["epochs"][1]
    p = epoch["gpu_profile"]
    assert p["graph_replays"] == epoch["train_steps"] and p["graph_kernels"] >= 10 * p["graph_replays"]
    assert 0 < p["gpu_busy_s"] <= p["gpu_span_s"] <= epoch["train_seconds"]
    assert 0 <= p["graph_idle_inside_s"] <= p["gpu_idle_s"]
    assert sum(p["gpu_categories"].values()) >= p["gpu_busy_s"]  # durations, overlaps counted twice
    assert "GEMM" in p["gpu_categories"] and len(p["gpu_top"]) > 1
