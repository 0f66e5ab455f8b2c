"""Start inductor's compile workers when a compiled CUDA run starts, not when its first step reaches inductor.

Inductor compiles its Triton kernels in a pool of worker processes, but only once the pool answers
(``torch._inductor.async_compile.AsyncCompile.use_process_pool``): until then it compiles each kernel in the training
process, one after another, on the first step's critical path. The pool is started by the first call of the inductor
backend (``maybe_warm_pool``), after dynamo has traced the loss, and its workers must each import torch first. On an
H200 (part 27, results/full-amp-compile-cuda-graph-cold-breakdown/) TiM4Rec's cold first step compiled 10-16 of
inductor's kernels in the process that way (up to 0.97 s one). ``warm_early`` starts the pool once the run is
this process's (``seqrec.run_claim``), before it moves its data to the device and builds its model, so that it is
ready sooner; it changes when kernels compile, never what runs.

Not beside the prewarm (``kernels/prewarm.py``): on an H200 (part 28,
results/full-amp-compile-cuda-graph-cold-prewarm-pool/) the early pool left no inductor kernel to compile in the
process, but started beside the prewarm's processes it slowed dynamo's tracing 1.8x, a cold first epoch of 24.4 s
against 20.9 s with the pool left to inductor; without the prewarm its tracing was as quick as ever.

``SEQREC_INDUCTOR_POOL_EARLY``: 1 or 0 (the pool starts where inductor starts it); unset, 1 only where the run does
not prewarm.
"""

from __future__ import annotations

import torch

from models.switches import env_flag

POOL_EARLY_ENV = "SEQREC_INDUCTOR_POOL_EARLY"


def pool_early(prewarming: bool) -> bool:
    """``SEQREC_INDUCTOR_POOL_EARLY`` (1 or 0; unset: ``not prewarming``, whether the run prewarms our kernels);
    another value is a ValueError naming it."""
    return env_flag(POOL_EARLY_ENV, default=not prewarming)


def warm_early(device: torch.device, compiles_now: bool, prewarming: bool) -> bool:
    """Start inductor's worker pool (it returns at once: the workers start in the background) for a run on
    ``device`` that compiles in this process from its first step (``compiles_now``: train config ``compile``
    without ``compile_ahead``). Only on CUDA, where inductor's kernels are Triton's, and only with
    ``pool_early(prewarming)``. Whether it started the pool."""
    if not pool_early(prewarming) or device.type != "cuda" or not compiles_now:  # the switch checked on every run
        return False
    try:
        from torch._inductor.async_compile import maybe_warm_pool
    except ImportError:  # a private API: where it is gone, inductor starts its pool itself as before
        return False
    maybe_warm_pool()  # inductor's own: it honours TORCH_WARM_POOL=0 and a single compile thread
    return True
