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


def test_without_a_frame_of_ours_a_files_frame_names_the_launch_before_a_builtins():
    """The autograd engine's thread runs the backward with torch's frames only: the builtin method named nothing
    (part 20's anatomy), the file that called it does."""
    events = [
        span("python_function", "/venv/lib/site-packages/torch/_functorch/wrappers.py(9): backward", 0, 50, tid=3),
        span("python_function", "<built-in method sum of Tensor object at 0x1>", 10, 20, tid=3),
        span("cpu_op", "aten::sum", 12, 10, tid=3),
        span("cuda_runtime", "cudaLaunchKernel", 14, 2, tid=3, correlation=11),
        span("python_function", "<built-in method sum of Tensor object at 0x1>", 60, 20, tid=4),
        span("cuda_runtime", "cudaLaunchKernel", 64, 2, tid=4, correlation=12),
    ]
    assert launch_sources(events) == {
        11: "aten::sum < /venv/lib/site-packages/torch/_functorch/wrappers.py(9): backward",
        12: "<built-in method sum of Tensor object at 0x1>"}


def test_an_inductor_modules_frame_names_the_launch_before_torchs_own():
    """Part 21: Inductor's wrapper code finished its mix-order reductions with aten sums, under a frame of torch's
    (``torch/_ops.py``, relative as the profiler gives installed files): the generated module names them."""
    events = [
        span("python_function", "/tmp/inductor/sl/csl.py(4056): call", 0, 50, tid=5),
        span("python_function", "torch/_ops.py(869): redispatch", 5, 40, tid=5),
        span("cpu_op", "aten::sum", 12, 10, tid=5),
        span("cuda_runtime", "cudaLaunchKernel", 14, 2, tid=5, correlation=13),
        span("python_function", "torch/_ops.py(869): redispatch", 60, 20, tid=6),
        span("cuda_runtime", "cudaLaunchKernel", 64, 2, tid=6, correlation=14),
    ]
    assert launch_sources(events) == {13: "aten::sum < /tmp/inductor/sl/csl.py(4056): call",
                                      14: "torch/_ops.py(869): redispatch"}
