"""seqrec.compile_times.CompileClock: sums the Triton compilations it hears (cache misses by kernel, hits counted),
passes each call on to the listener set before it, and gives that listener back when closed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from seqrec.compile_times import CompileClock

knobs = pytest.importorskip("triton.knobs")


def _times(init_us: int, stages_us: list[int], store_us: int):
    return SimpleNamespace(ir_initialization=init_us, lowering_stages=[(f"s{i}", t) for i, t in enumerate(stages_us)],
                           store_results=store_us)


def test_clock_sums_compiles_chains_the_previous_listener_and_restores_it(monkeypatch):
    heard = []

    def previous(**kw):
        heard.append((kw["metadata"]["name"], kw["cache_hit"]))

    monkeypatch.setattr(knobs.compilation, "listener", previous)
    clock = CompileClock()
    assert knobs.compilation.listener == clock.listen
    call = knobs.compilation.listener
    call(src=None, metadata={"name": "_ssd_fwd"}, metadata_group={}, times=_times(100_000, [200_000, 1_000_000],
                                                                                   50_000), cache_hit=False)
    call(src=None, metadata={"name": "_conv_fwd"}, metadata_group={}, times=_times(10_000, [90_000], 0),
         cache_hit=False)
    call(src=None, metadata={"name": "_ssd_fwd"}, metadata_group={}, times=_times(0, [], 0), cache_hit=True)
    jit = clock.summary()["triton_jit"]
    assert jit == {"kernels": 2, "seconds": 1.45, "cache_hits": 1, "slowest": {"_ssd_fwd": 1.35, "_conv_fwd": 0.1}}
    assert heard == [("_ssd_fwd", False), ("_conv_fwd", False), ("_ssd_fwd", True)]
    clock.close()
    assert knobs.compilation.listener is previous
