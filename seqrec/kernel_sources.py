"""Which code launched each GPU kernel of a profiler trace: the innermost aten op around the launch and the innermost
Python frame of this repository's code (or, failing that, any Python frame: an Inductor module's ``call``).

    sources = kernel_sources(events)   # events: a chrome trace's "traceEvents" (torch.profiler with_stack=True)
    sources["void at::native::reduce_kernel<...>"]   # {"aten::sum < kernels/conv/fused.py(347): conv_grads": s, ...}

Issue #4: part 18's profile of the compiled, graphed TiM4Rec step showed 12 aten sum kernels a step (0.17 ms) that no
kernel name places; a CUDA graph's replays carry no host stack, so they are looked up in a step run without one
(``seqrec.anatomy.profile_train_step``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

HOST_SPANS = ("cpu_op", "python_function")
LAUNCHES = ("cuda_runtime", "cuda_driver")
GPU_WORK = ("kernel", "gpu_memcpy", "gpu_memset")
OUR_CODE = ("models/", "kernels/", "seqrec/")  # in a frame's file name, outside site-packages
REPO = f"{Path(__file__).resolve().parents[1]}/"  # left out of the frames' names


def _library(frame: str) -> bool:
    """A frame of an installed package: under site-packages, or a path the profiler gives relative to it
    (``torch/_ops.py(869): redispatch``); ours and Inductor's generated modules have absolute paths."""
    return "site-packages" in frame or not frame.startswith("/")


def _source(stack: list[dict[str, Any]]) -> str:
    """'<innermost aten op> < <innermost frame of ours, else of a file outside the installed packages (an Inductor
    module's ``call``), else of any file, else the innermost Python frame>' over the open spans. Part 20's 12 aten
    sums a step came from '<built-in method sum of Tensor object>' with no frame of ours, which names nothing; part
    21's from ``torch/_ops.py(869): redispatch``, which names little: they were Inductor's wrapper code finishing its
    mix-order reductions (results/full/README.md, part 21)."""
    op = next((e["name"] for e in reversed(stack) if e["cat"] == "cpu_op"), None)
    frames = [e["name"] for e in reversed(stack) if e["cat"] == "python_function"]
    files = [f for f in frames if not f.startswith("<")]
    ours = [f for f in files if any(p in f for p in OUR_CODE) and "site-packages" not in f]
    generated = [f for f in files if not _library(f)]
    frame = next(iter(ours + generated + files + frames), None)
    return " < ".join(x.replace(REPO, "") for x in (op, frame) if x) or "?"


def launch_sources(events: list[dict[str, Any]]) -> dict[Any, str]:
    """{launch correlation id: source} for every kernel launch (runtime or driver) of the trace, from the host
    spans (aten ops, Python frames) open on the launching thread when it was made."""
    by_thread: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in HOST_SPANS + LAUNCHES:
            by_thread[(e.get("pid"), e.get("tid"))].append(e)
    out: dict[Any, str] = {}
    for spans in by_thread.values():
        # outer spans first at equal starts (longer first), launches after the spans that open with them
        spans.sort(key=lambda e: (float(e["ts"]), e["cat"] in LAUNCHES, -float(e.get("dur", 0.0))))
        stack: list[dict[str, Any]] = []
        for e in spans:
            start = float(e["ts"])
            while stack and float(stack[-1]["ts"]) + float(stack[-1].get("dur", 0.0)) < start:
                stack.pop()
            if e["cat"] in LAUNCHES:
                corr = e.get("args", {}).get("correlation")
                if corr is not None:
                    out[corr] = _source(stack)
            else:
                stack.append(e)
    return out


def kernel_sources(events: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{GPU activity name: {source: seconds}} over the trace's kernels, copies and sets (``launch_sources``)."""
    by_launch = launch_sources(events)
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in GPU_WORK:
            source = by_launch.get(e.get("args", {}).get("correlation"), "?")
            out[e["name"]][source] += float(e.get("dur", 0.0)) * 1e-6
    return {name: dict(sources) for name, sources in out.items()}


def main_source(sources: dict[str, float]) -> str:
    """The source with the most seconds, with the share of the rest where there are others."""
    ranked = sorted(sources.items(), key=lambda kv: -kv[1])
    total = sum(sources.values())
    name, seconds = ranked[0]
    if len(ranked) == 1 or total <= 0:
        return name
    return f"{name} (+{len(ranked) - 1} more, {1 - seconds / total:.0%} of the time)"
