"""Where a cold start's compile time goes, for the epochs that ``SEQREC_STEP_TIMES`` times: torch's own compile
metrics (dynamo's trace, AOT autograd, inductor's lowering and codegen, the wait for its Triton workers, the
backward's compile) and the Triton kernels this process JIT-compiles itself: ours, at their first launch, and those
of inductor's that it compiles in this process rather than in its workers (part 27 on an H200: 10-16 of them in a
cold first step, before its worker pool answered; ``seqrec.inductor_pool``).

    clock = CompileClock()          # listens to Triton's compiles from here on
    ...                             # the timed epoch
    record["compile_seconds"] = clock.summary()   # {"torch": {metric: s}, "triton_jit": {...}, "caches": {...}}
    clock.close()

Everything a summary holds happened since the clock was made: a ``--compile-ahead`` run's switch to the compiled loss
gets a clock of its own, whose ``caches`` (torch's cache counters: inductor's FX graph cache, AOT autograd's) say
whether that compile found what the background process left (part 30 on an H200: both graphs missed, a 17-19.5 s
switch epoch, against part 11's 3.3 s; the background model lacked the run's dropout masks,
``seqrec.train.adapt_precision``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

MIN_SECONDS = 0.01  # torch's metrics below this are left out of a summary
SLOWEST = 8  # the Triton kernels named in a summary


CACHE_GROUPS = ("inductor", "aot_autograd")  # torch's counters that hold its compile caches' hits and misses


def _torch_metrics() -> dict[str, float]:
    try:
        from torch._dynamo.utils import compile_times

        headers, values = compile_times(repr="csv", aggregate=True)
    except Exception:  # a private API: its absence costs the record, never the run
        return {}
    return {h: float(v) for h, v in zip(headers, values, strict=True)}


def torch_compile_seconds(since: dict[str, float] | None = None) -> dict[str, float]:
    """torch's compile metrics in this process so far, less ``since`` (an earlier ``_torch_metrics()``)
    ({metric: seconds}, summed over compilations, those of ``MIN_SECONDS`` or more, largest first):
    ``torch._dynamo.utils.compile_times``. Metrics nest (``fx_codegen_and_compile`` holds ``async_compile.wait``):
    they do not add up. Empty where nothing was compiled or torch lacks the API."""
    since = since or {}
    seconds = {h: round(v - since.get(h, 0.0), 3) for h, v in _torch_metrics().items()}
    return dict(sorted(((h, v) for h, v in seconds.items() if v >= MIN_SECONDS), key=lambda kv: -kv[1]))


def cache_counters() -> dict[str, int]:
    """torch's compile-cache counters in this process so far ({name: count}: ``fxgraph_cache_hit`` / ``_miss`` /
    ``_bypass``, inductor's FX graph cache; ``autograd_cache_hit`` / ``_miss`` / ``_bypass``..., AOT autograd's):
    ``torch._dynamo.utils.counters``. Empty where torch lacks them."""
    try:
        from torch._dynamo.utils import counters
    except Exception:  # a private API, as above
        return {}
    return {k: int(v) for group in CACHE_GROUPS for k, v in counters[group].items() if "cache" in k}


class CompileClock:
    """Sums the Triton compilations of this process while open (``triton.knobs.compilation.listener``, chained to
    any listener already set): how many kernels compiled, how long, and how many came from Triton's cache; and
    torch's compile metrics and cache counters since it was made."""

    def __init__(self) -> None:
        self._torch_since, self._caches_since = _torch_metrics(), cache_counters()
        self.compiled = 0
        self.cache_hits = 0
        self.seconds = 0.0
        self.by_kernel: dict[str, float] = defaultdict(float)
        self._knobs = self._previous = None
        try:
            from triton import knobs
        except ImportError:
            return
        self._knobs, self._previous = knobs, knobs.compilation.listener
        knobs.compilation.listener = self.listen

    def listen(self, *, src: Any, metadata: dict, metadata_group: Any, times: Any, cache_hit: bool) -> None:
        """Triton's listener call: ``times`` in microseconds (``ir_initialization``, ``lowering_stages``,
        ``store_results``)."""
        if cache_hit:
            self.cache_hits += 1
        else:
            s = (times.ir_initialization + sum(t for _, t in times.lowering_stages) + times.store_results) / 1e6
            self.compiled += 1
            self.seconds += s
            self.by_kernel[str(metadata.get("name", "?"))] += s
        if self._previous is not None:
            self._previous(src=src, metadata=metadata, metadata_group=metadata_group, times=times,
                           cache_hit=cache_hit)

    def summary(self) -> dict[str, Any]:
        """``{"torch": {metric: s}, "triton_jit": {kernels, seconds, cache_hits, slowest}, "caches": {counter: n}}``,
        each since the clock was made (``caches``: the counters that moved)."""
        slowest = sorted(self.by_kernel.items(), key=lambda kv: -kv[1])[:SLOWEST]
        caches = {k: n - self._caches_since.get(k, 0) for k, n in cache_counters().items()}
        return {"torch": torch_compile_seconds(self._torch_since),
                "triton_jit": {"kernels": self.compiled, "seconds": round(self.seconds, 3),
                               "cache_hits": self.cache_hits, "slowest": {k: round(v, 3) for k, v in slowest}},
                "caches": {k: n for k, n in sorted(caches.items()) if n}}

    def close(self) -> None:
        """Give Triton its previous listener back (if this clock is still the one set)."""
        if self._knobs is not None and self._knobs.compilation.listener == self.listen:
            self._knobs.compilation.listener = self._previous
        self._knobs = None
