"""seqrec.kernel_sources: which code launched each kernel of a profiler trace (synthetic chrome-trace events)."""

import pytest

from seqrec.kernel_sources import REPO, kernel_sources, launch_sources, main_source


def span(cat, name, ts, dur, tid=1, **args):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "pid": 0, "tid": tid, "args": args}


def trace():
    """Thread 1: an Inductor module's call (inside it our conv_grads frame, a site-packages frame that is not ours
    although its path has kernels/, and aten::sum, which launches a reduce
    kernel) then, after both closed, an aten::mm straight under the Inductor frame; thread 2: a launch outside any
    span. Spans given out of order."""
    return [
        span("cpu_op", "aten::sum", 20, 10),
        span("python_function", "/tmp/torchinductor/ab/cab.py(40): call", 0, 100),
        span("python_function", "/venv/lib/site-packages/triton/kernels/x.py(5): run", 16, 18),
        span("python_function", f"{REPO}kernels/conv/fused.py(347): conv_grads", 15, 20),
        span("cuda_runtime", "cudaLaunchKernel", 22, 2, correlation=7),
        span("kernel", "reduce_kernel", 30, 5, tid=99, correlation=7),
        span("cpu_op", "aten::mm", 50, 10),
        span("cuda_runtime", "cudaLaunchKernel", 52, 2, correlation=8),
        span("kernel", "gemm", 60, 3, tid=99, correlation=8),
        span("cuda_runtime", "cuLaunchKernel", 70, 1, tid=2, correlation=9),
        span("kernel", "reduce_kernel", 80, 15, tid=99, correlation=9),
        span("gpu_memset", "Memset", 90, 1, tid=99, correlation=10),
    ]


def test_each_launch_takes_the_innermost_aten_op_and_frame_of_ours():
    assert launch_sources(trace()) == {7: "aten::sum < kernels/conv/fused.py(347): conv_grads",
                                       8: "aten::mm < /tmp/torchinductor/ab/cab.py(40): call", 9: "?"}


def test_kernels_sum_their_seconds_by_source_and_the_main_one_says_what_else():
    sources = kernel_sources(trace())
    assert sources["reduce_kernel"] == pytest.approx({"aten::sum < kernels/conv/fused.py(347): conv_grads": 5e-6,
                                                      "?": 15e-6})
    assert sources["Memset"] == {"?": pytest.approx(1e-6)}  # its launch is not in the trace
    assert main_source(sources["reduce_kernel"]) == "? (+1 more, 25% of the time)"
    assert main_source(sources["gemm"]) == "aten::mm < /tmp/torchinductor/ab/cab.py(40): call"
