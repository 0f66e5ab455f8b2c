"""Shared by the kernel benchmark scripts (bench_selective_scan.py, bench_interval_attention.py, bench_conv.py): one
provider's forward + backward timed on the GPU, and its outcome as a result record."""

from __future__ import annotations

from collections.abc import Callable

import torch

from kernels.dispatch import BackendUnavailable
from seqrec.runtime import cuda_event_ms, release_error_memory


def grad_leaves(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inputs with each floating tensor a fresh leaf that takes gradients (the others as they are)."""
    return {k: (v.detach().requires_grad_(True) if v.is_floating_point() else v) for k, v in inputs.items()}


def measure_fwd_bwd(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], dout: torch.Tensor,
                    warmup: int = 25, rep: int = 200, steps: int | None = None) -> tuple[float, int]:
    """(median ms of ``fn(**inputs).backward(dout)``, peak bytes above the inputs) on CUDA: the floating inputs
    are leaves that take gradients; triton.testing.do_bench after a warm-up call (compilation, autotuning).
    ``steps``: instead of do_bench (which first runs 5 calls to size its loop), the median of that many calls,
    each timed with CUDA events: for steps of tens of seconds."""
    import triton.testing

    leaves = grad_leaves(inputs)
    grads = [v for v in leaves.values() if v.requires_grad]

    def step():
        fn(**leaves).backward(dout)

    step()
    torch.cuda.synchronize()
    for v in grads:
        v.grad = None
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    if steps is None:
        return triton.testing.do_bench(step, warmup=warmup, rep=rep, grad_to_none=grads, return_mode="median"), peak
    times = []
    for _ in range(steps):
        for v in grads:
            v.grad = None
        times.append(cuda_event_ms(step))
    return float(torch.tensor(times).median()), peak


def fwd_bwd_host_ms(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], dout: torch.Tensor) -> float:
    """``host_ms`` of ``fn(**inputs).backward(dout)``, the inputs as ``measure_fwd_bwd`` takes them."""
    leaves = grad_leaves(inputs)
    return host_ms(lambda: fn(**leaves).backward(dout))


def fwd_bwd_graph_ms(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], dout: torch.Tensor) -> float:
    """``graph_ms`` of ``fn(**inputs).backward(dout)``, the inputs as ``measure_fwd_bwd`` takes them (their
    gradients cleared before each warm-up call and the capture, so the graph writes them, not adds to them)."""
    leaves = grad_leaves(inputs)
    grads = [v for v in leaves.values() if v.requires_grad]

    def reset():
        for v in grads:
            v.grad = None

    return graph_ms(lambda: fn(**leaves).backward(dout), reset)


def graph_ms(step: Callable[[], object], reset: Callable[[], None] = lambda: None) -> float:
    """Median ms of a replay of ``step`` captured as a CUDA graph (after three warm-up calls on a side stream;
    ``reset`` runs before each and before the capture): the GPU's time for the step with no host work between its
    kernels, what a CUDA-graph training step pays for it. Beside ``host_ms`` and do_bench's median it separates a
    step's launches from its kernels."""
    import triton.testing

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            reset()
            step()
    torch.cuda.current_stream().wait_stream(side)
    reset()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return triton.testing.do_bench(graph.replay, warmup=10, rep=100, return_mode="median")


def graph_record(key: str, time_it: Callable[[], float]) -> dict:
    """``{key: time_it()}`` (a ``graph_ms``), or where the capture fails ``{"graph_error": its message}``, its
    memory released: a case that cannot be captured is recorded and the bench goes on."""
    try:
        return {key: time_it()}
    except RuntimeError as e:
        release_error_memory(e)
        return {"graph_error": str(e)[:300]}


def host_ms(step: Callable[[], object], calls: int = 20) -> float:
    """Host milliseconds a call of ``step``: after one warm-up call, ``calls`` calls issued back to back and timed
    on the host without waiting for the GPU (CUDA queues their launches), over ``calls``; then the queue drains.
    Near a step's GPU time it says the step is bound by its launches (the host), not by the GPU's work."""
    import time

    step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        step()
    seconds = time.perf_counter() - start
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return seconds / calls * 1e3


def print_kernel_profile(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], dout: torch.Tensor,
                         label: str, steps: int = 10, top: int = 12) -> None:
    """Print the ``top`` GPU kernels of ``steps`` calls of ``fn(**inputs).backward(dout)`` by total CUDA time
    (torch.profiler), after one warm-up call: where a provider's time goes, for a kernel we have not yet tuned."""
    from torch.profiler import ProfilerActivity, profile

    leaves = grad_leaves(inputs)
    fn(**leaves).backward(dout)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn(**leaves).backward(dout)
        torch.cuda.synchronize()
    print(f"--- {label}: {steps} fwd+bwd steps, CUDA kernels by total time", flush=True)
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=top, max_name_column_width=70), flush=True)


def record_provider(run: Callable[[], tuple[float, int]]) -> dict:
    """``run()`` -> (ms, peak bytes) as a record: status ok with median_ms and peak_memory_bytes; skipped when the
    provider is unavailable or out of memory; failed with the error otherwise (one provider's failure must not
    lose the others' figures)."""
    try:
        ms, peak = run()
        return {"status": "ok", "median_ms": ms, "peak_memory_bytes": peak}
    except BackendUnavailable as e:
        return {"status": "skipped", "reason": str(e)}
    except torch.OutOfMemoryError as e:
        release_error_memory(e)
        return {"status": "skipped", "reason": f"out of memory: {str(e)[:200]}"}
    except Exception as e:
        release_error_memory(e)
        return {"status": "failed", "reason": f"{type(e).__name__}: {str(e)[:300]}"}
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def fwd_bwd_record(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], dout: torch.Tensor) -> dict:
    """``record_provider`` of ``measure_fwd_bwd(fn, inputs, dout)`` and, where that ran, the kernels' own time
    replayed as a CUDA graph (``graph_record("graph_ms", ...)``: an eager median of small calls is mostly the
    host's launches)."""
    rec = record_provider(lambda: measure_fwd_bwd(fn, inputs, dout))
    if rec["status"] == "ok":
        rec.update(graph_record("graph_ms", lambda: fwd_bwd_graph_ms(fn, inputs, dout)))
    return rec
