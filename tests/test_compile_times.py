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


def test_clock_gives_torch_metrics_and_cache_counters_since_it_was_made(monkeypatch):
    """Compiles before the clock (an earlier run in the process, the eager epochs before a compile-ahead switch) are
    left out: its metrics are differences, and only the cache counters that moved since are listed."""
    from torch._dynamo.utils import counters

    from seqrec import compile_times

    metrics = {"_compile.compile_inner": 10.0, "bytecode_tracing": 2.0}
    monkeypatch.setattr(compile_times, "_torch_metrics", lambda: dict(metrics))
    counters["inductor"]["fxgraph_cache_miss"] += 3
    counters["aot_autograd"]["autograd_cache_miss"] += 1
    clock = CompileClock()
    metrics.update({"_compile.compile_inner": 12.5, "bytecode_tracing": 2.004, "backward._backward_impl": 1.0})
    counters["inductor"]["fxgraph_cache_hit"] += 2
    counters["aot_autograd"]["autograd_cache_miss"] += 1
    summary = clock.summary()
    clock.close()
    assert summary["torch"] == {"_compile.compile_inner": 2.5, "backward._backward_impl": 1.0}  # 0.004 s: below
    assert summary["caches"] == {"autograd_cache_miss": 1, "fxgraph_cache_hit": 2}
