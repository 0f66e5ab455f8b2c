"""seqrec.inductor_pool: a compiled CUDA run starts inductor's compile workers at its start; nothing else does."""

from __future__ import annotations

import time

import pytest
import torch
import torch._inductor.async_compile as async_compile

from seqrec import inductor_pool, run_claim
from seqrec.run_claim import RunClaimed
from seqrec.train import TrainSetupError, train
from tests.test_run_claim import hold_in_another_process
from tests.test_train import consecutive_dataset


@pytest.fixture
def warmed(monkeypatch) -> list[int]:
    """The calls of inductor's pool warm-up (replaced: none starts a process here)."""
    calls: list[int] = []
    monkeypatch.setattr(async_compile, "maybe_warm_pool", lambda: calls.append(1))
    monkeypatch.delenv(inductor_pool.POOL_EARLY_ENV, raising=False)
    return calls


def test_only_a_cuda_run_that_compiles_now_starts_the_pool(warmed, monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert inductor_pool.warm_early(cuda, True, prewarming=False) and warmed == [1]
    assert not inductor_pool.warm_early(cpu, True, False)  # inductor's CPU kernels are C++: no Triton workers
    assert not inductor_pool.warm_early(cuda, False, False)  # eager, or compile_ahead (its own process compiles)
    monkeypatch.setenv(inductor_pool.POOL_EARLY_ENV, "0")
    assert not inductor_pool.warm_early(cuda, True, False)
    assert warmed == [1]


def test_beside_the_prewarm_the_pool_starts_early_only_when_asked(warmed, monkeypatch):
    """Part 28: started beside the prewarm's processes, the early pool slowed dynamo's tracing 1.8x."""
    cuda = torch.device("cuda")
    assert not inductor_pool.warm_early(cuda, True, prewarming=True) and warmed == []
    monkeypatch.setenv(inductor_pool.POOL_EARLY_ENV, "1")
    assert inductor_pool.warm_early(cuda, True, prewarming=True) and warmed == [1]


def test_a_bad_switch_stops_the_run_before_it_starts_anything(warmed, monkeypatch, tmp_path):
    monkeypatch.setenv(inductor_pool.POOL_EARLY_ENV, "yes")
    with pytest.raises(ValueError, match="SEQREC_INDUCTOR_POOL_EARLY='yes'"):
        inductor_pool.pool_early(prewarming=False)
    monkeypatch.setattr(run_claim, "claimed", lambda *a: pytest.fail("the run should not be claimed"))
    with pytest.raises(TrainSetupError, match="SEQREC_INDUCTOR_POOL_EARLY"):
        train("sasrec", consecutive_dataset(), train_config={"epochs": 1}, out=tmp_path / "r.json", progress=False)


class Stop(Exception):
    pass


@pytest.mark.parametrize("tcfg,compiles_now", [({"compile": True}, True),
                                                ({"compile": True, "compile_ahead": True}, False), ({}, False)])
def test_train_asks_for_the_pool_once_the_run_is_its_own(monkeypatch, tmp_path, tcfg, compiles_now):
    """After the claim (a run left to another process starts no pool), when it compiles from its first step."""
    asked = []

    def record(device, now, prewarming):
        assert run_claim.lock_path(tmp_path / "r.json.ckpt").exists()  # held
        asked.append((device.type, now, prewarming))
        raise Stop  # nothing else of the run is needed here

    monkeypatch.setattr(inductor_pool, "warm_early", record)
    with pytest.raises(Stop):
        train("sasrec", consecutive_dataset(), train_config={"epochs": 1, **tcfg}, device="cpu",
              out=tmp_path / "r.json", progress=False)
    assert asked == [("cpu", compiles_now, False)]  # a CPU run prewarms nothing
    holder = hold_in_another_process(tmp_path / "r.json.ckpt")
    try:
        with pytest.raises(RunClaimed):
            train("sasrec", consecutive_dataset(), train_config={"epochs": 1, **tcfg}, device="cpu",
                  out=tmp_path / "r.json", progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert len(asked) == 1


def test_the_result_says_what_the_run_started_for_its_cold_start(monkeypatch, tmp_path):
    from kernels import prewarm

    run = dict(train_config={"epochs": 1}, device="cpu", progress=False)
    result = train("sasrec", consecutive_dataset(), out=tmp_path / "cpu.json", **run)
    assert result["cold_start"] == {"prewarm": False, "inductor_pool_early": False}  # a CPU run starts neither
    report = {"share": "0/1", "kernels": 3, "compile_seconds": 2.5, "imported_seconds": 1.0, "ready_seconds": 4.0}
    monkeypatch.setattr(prewarm, "start", lambda *a, **k: prewarm.Prewarm(["proc"], time.time()))
    monkeypatch.setattr(prewarm, "finish", lambda warm: [report] if warm.procs else [])
    monkeypatch.setattr(inductor_pool, "warm_early", lambda *a: True)
    result = train("sasrec", consecutive_dataset(), out=tmp_path / "started.json", **run)
    lead = result["cold_start"].pop("first_epoch_after_prewarm_seconds")
    assert 0 <= lead < 60
    assert result["cold_start"] == {"prewarm": True, "inductor_pool_early": True, "prewarm_processes": [report]}
    stats = {"claimed": 2, "waited": 5, "wait_seconds": 3.5, "found_done": 9}  # kernels/prewarm_claims.py
    monkeypatch.setattr(prewarm, "start", lambda *a, **k: prewarm.Prewarm(["proc"], time.time(), claim_stats=stats))
    result = train("sasrec", consecutive_dataset(), out=tmp_path / "claims.json", **run)
    assert result["cold_start"]["prewarm_claims"] == stats
