"""seqrec.inductor_pool: a compiled CUDA run starts inductor's compile workers at its start; nothing else does."""

from __future__ import annotations

import pytest
import torch
import torch._inductor.async_compile as async_compile

from seqrec import inductor_pool
from seqrec.train import TrainSetupError, train


@pytest.fixture
def warmed(monkeypatch) -> list[int]:
    """The calls of inductor's pool warm-up (replaced: none starts a process here)."""
    calls: list[int] = []
    monkeypatch.setattr(async_compile, "maybe_warm_pool", lambda: calls.append(1))
    monkeypatch.delenv(inductor_pool.POOL_EARLY_ENV, raising=False)
    return calls


def test_only_a_cuda_run_that_compiles_now_starts_the_pool(warmed, monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert inductor_pool.warm_early(cuda, True) and warmed == [1]
    assert not inductor_pool.warm_early(cpu, True)  # inductor's CPU kernels are C++: no Triton workers
    assert not inductor_pool.warm_early(cuda, False)  # eager, or compile_ahead (its own process compiles)
    monkeypatch.setenv(inductor_pool.POOL_EARLY_ENV, "0")
    assert not inductor_pool.warm_early(cuda, True)
    assert warmed == [1]


def test_a_bad_switch_stops_the_run_before_it_loads_anything(warmed, monkeypatch):
    monkeypatch.setenv(inductor_pool.POOL_EARLY_ENV, "yes")
    with pytest.raises(ValueError, match="SEQREC_INDUCTOR_POOL_EARLY='yes'"):
        inductor_pool.pool_early()
    monkeypatch.setattr("seqrec.train._resolve_dataset", lambda *a: pytest.fail("the data should not load"))
    with pytest.raises(TrainSetupError, match="SEQREC_INDUCTOR_POOL_EARLY"):
        train("sasrec", "any", train_config={"epochs": 1}, progress=False)


class Stop(Exception):
    pass


@pytest.mark.parametrize("tcfg,compiles_now", [({"compile": True}, True),
                                                ({"compile": True, "compile_ahead": True}, False), ({}, False)])
def test_train_asks_for_the_pool_when_it_compiles_from_its_first_step(monkeypatch, tcfg, compiles_now):
    asked = []

    def record(device, now):
        asked.append((device.type, now))
        raise Stop  # before the data loads: nothing else of the run is needed here

    monkeypatch.setattr(inductor_pool, "warm_early", record)
    with pytest.raises(Stop):
        train("sasrec", "any", train_config={"epochs": 1, **tcfg}, device="cpu", progress=False)
    assert asked == [("cpu", compiles_now)]
