"""Where a training epoch's GPU time goes, from a profiler trace of the epoch as it trains: busy, idle inside the
CUDA graph's replays (gaps between its kernels) and idle between them (the host's share), and the kernels that run
outside the graph. ``SEQREC_PROFILE_EPOCH=N`` profiles epoch N of a run (seqrec/train.py) and stores the summary in
that epoch's record as ``gpu_profile`` (that epoch's own ``train_seconds`` then include the profiler's cost).

    with EpochProfiler(device) as prof: ...one epoch...
    prof.summary   # {"gpu_busy_s": ..., "graph_replays": ..., ...}
    summarize_trace(events)   # events: the chrome trace's "traceEvents" (Kineto), times in us

Issue #4: part 16 found the compiled, graphed TiM4Rec epoch busy on the GPU 94% of its span (results/full/README.md):
what shortens it is kernel time, which the categories and the longest kernels break down.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import torch

from seqrec.step_profile import CATEGORIES, OTHER, categorize

PROFILE_EPOCH_ENV = "SEQREC_PROFILE_EPOCH"
GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
GRAPH_LAUNCHES = ("cudaGraphLaunch", "cuGraphLaunch")  # the runtime's and the driver's
TOP_OUTSIDE = 10  # kernels outside the graph listed by time
TOP_GPU = 30  # GPU activities (kernels, copies, sets) listed by time, inside the graph or not


def profile_epoch() -> int:
    """``SEQREC_PROFILE_EPOCH``: the epoch (1-based) to profile; 0 (the default) profiles none."""
    raw = os.environ.get(PROFILE_EPOCH_ENV, "0").strip() or "0"
    if not raw.isdigit():
        raise ValueError(f"{PROFILE_EPOCH_ENV}={raw!r}: expected an epoch number >= 0")
    return int(raw)


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals, us -> s."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total * 1e-6


def summarize_trace(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The GPU side of a trace: span (first GPU activity's start to the last one's end), busy (the union of
    kernels, copies and sets), idle (span - busy), split into idle inside graph replays (a replay's span - its busy
    time: gaps between the graph's kernels) and outside them; graph replays (launches whose correlation id GPU work
    carries) and their kernels; kernels launched outside a graph, their seconds and the longest of them; every GPU
    activity's seconds by category (``seqrec.step_profile.categorize``: the anatomy's categories) and the
    ``TOP_GPU`` longest by name, with their calls."""
    gpu = [e for e in events if e.get("ph") == "X" and e.get("cat") in GPU_CATEGORIES]
    launches = {e.get("args", {}).get("correlation"): e["name"] for e in events
                if e.get("ph") == "X" and e.get("cat") in ("cuda_runtime", "cuda_driver")}
    spans = [(float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0.0))) for e in gpu]
    span = (max((b for _, b in spans), default=0.0) - min((a for a, _ in spans), default=0.0)) * 1e-6
    busy = _union_seconds(spans)
    replays: dict[Any, list[tuple[float, float]]] = defaultdict(list)
    outside: Counter[str] = Counter()
    by_name: Counter[str] = Counter()
    n_outside = 0
    for e, (start, end) in zip(gpu, spans, strict=True):
        corr = e.get("args", {}).get("correlation")
        seconds = float(e.get("dur", 0.0)) * 1e-6
        by_name[e["name"]] += seconds
        if launches.get(corr) in GRAPH_LAUNCHES:
            replays[corr].append((start, end))
        else:
            outside[e["name"]] += seconds
            n_outside += 1
    calls = Counter(e["name"] for e in gpu)
    categories: Counter[str] = Counter()
    for name, seconds in by_name.items():
        categories[categorize(name)] += seconds
    order = [c for c, _ in CATEGORIES] + [OTHER]
    inside_idle = sum((max(b for _, b in r) - min(a for a, _ in r)) * 1e-6 - _union_seconds(r)
                      for r in replays.values())
    return {"gpu_events": len(gpu), "kernels": sum(e["cat"] == "kernel" for e in gpu),
            "gpu_span_s": span, "gpu_busy_s": busy, "gpu_idle_s": span - busy,
            "graph_replays": len(replays), "graph_kernels": sum(map(len, replays.values())),
            "graph_idle_inside_s": inside_idle, "outside_graph_kernels": n_outside,
            "outside_graph_seconds": sum(outside.values()),
            "outside_graph_top": [[name, s] for name, s in outside.most_common(TOP_OUTSIDE)],
            "gpu_categories": {c: categories[c] for c in order if c in categories},
            "gpu_top": [[name, s, calls[name]] for name, s in by_name.most_common(TOP_GPU)]}


class EpochProfiler:
    """Profiles what runs inside it (the host and, on CUDA, the device) and leaves ``summary``
    (``summarize_trace``) once it exits, with ``device`` synchronised first so that the epoch's kernels are in."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.summary: dict[str, Any] | None = None
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self._prof = torch.profiler.profile(activities=activities)

    def __enter__(self) -> EpochProfiler:
        self._prof.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._prof.__exit__(*exc)
        if exc[0] is not None:
            return
        self.summary = summarize_trace(trace_events(self._prof))


def trace_events(prof: torch.profiler.profile) -> list[dict[str, Any]]:
    """A finished profiler's chrome-trace events ("traceEvents"), through a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        return json.loads(path.read_text()).get("traceEvents", [])
