"""Synthetic workloads and timers for the latency and memory suites.

Timing follows the project's rule: warm up first (Triton compiles and autotunes on first call; that
first call is timed apart as ``compile_seconds``), then CUDA events around each repetition on a GPU
(``timer = "cuda_events"``) or ``time.perf_counter`` on CPU (``timer = "cpu_perf_counter"``), median
and inter-quartile range over the repetitions.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import models
from seqrec.runtime import cuda_event_ms


@dataclass
class SyntheticBatch:
    """Random full-length sequences: item_seq (B, L) in 1..n_items, seq_len (B,) == L,
    time_seq (B, L) increasing Unix seconds with random gaps, target (B,)."""

    item_seq: torch.Tensor
    seq_len: torch.Tensor
    time_seq: torch.Tensor
    target: torch.Tensor


def synthetic_batch(batch_size: int, seq_len: int, n_items: int, device: str | torch.device,
                    seed: int = 0) -> SyntheticBatch:
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(1, n_items + 1, (batch_size, seq_len), generator=g)
    gaps = torch.randint(0, 86_400 * 30, (batch_size, seq_len), generator=g)
    times = 1_300_000_000 + gaps.cumsum(1)
    lens = torch.full((batch_size,), seq_len, dtype=torch.long)
    target = torch.randint(1, n_items + 1, (batch_size,), generator=g)
    return SyntheticBatch(*(t.to(device) for t in (items, lens, times, target)))


def build_for_workload(model_name: str, hidden_size: int, seq_len: int, n_items: int,
                       device: str | torch.device, backend: str | None = None) -> torch.nn.Module:
    """The model at ``hidden_size`` with position tables (if any) sized for ``seq_len``."""
    defaults = models.default_config(model_name)
    config: dict = {"hidden_size": hidden_size}
    if "max_len" in defaults:
        config["max_len"] = seq_len
    if backend is not None and "backend" in defaults:
        config["backend"] = backend
    return models.build(model_name, config, n_items).to(device)


def train_step_fn(model: torch.nn.Module, batch: SyntheticBatch, lr: float = 1e-3,
                  loss_fn: Callable[..., torch.Tensor] | None = None) -> Callable[[], None]:
    """One optimisation step: forward, cross-entropy over all items (``loss_fn``, default ``model.loss``; a
    compiled one may stand in), backward, Adam update."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_of = loss_fn or model.loss

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_of(batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
        loss.backward()
        opt.step()

    return step


def graphed_train_step_fn(model: torch.nn.Module, batch: SyntheticBatch, lr: float = 1e-3) -> Callable[[], None]:
    """The same step as ``train_step_fn`` (capturable Adam), captured as a CUDA graph (seqrec/cuda_graph.py):
    the first call runs eagerly (compilation, Adam state), the second captures and replays, later calls replay.
    CUDA only; raises ValueError for a model that draws a host seed in its step (``host_rng_in_step``)."""
    from seqrec.cuda_graph import GraphedTrainStep

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    step = GraphedTrainStep(model, opt, batch_size=batch.target.numel(), warmup=1)

    def replay() -> None:
        step(batch)

    return replay


def inference_fn(model: torch.nn.Module, batch: SyntheticBatch, k: int = 50) -> Callable[[], None]:
    """Full-sort inference: scores over all items and the top-k."""
    model.eval()

    @torch.no_grad()
    def infer() -> None:
        scores = model.full_scores(batch.item_seq, batch.seq_len, batch.time_seq)
        scores[:, 0] = float("-inf")
        scores.topk(k, dim=1)

    return infer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    compile_seconds: float
    median_ms: float
    iqr_ms: float
    times_ms: list[float]
    timer: str


def time_fn(fn: Callable[[], None], device: str | torch.device, warmup: int = 3, reps: int = 20) -> Timing:
    """Time ``fn``: the first call apart (compilation), ``warmup`` more calls, then ``reps`` timed calls."""
    device = torch.device(device)
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    compile_seconds = time.perf_counter() - t0
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    if device.type == "cuda":
        times = [cuda_event_ms(fn) for _ in range(reps)]
        timer = "cuda_events"
    else:
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
        timer = "cpu_perf_counter"
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return Timing(compile_seconds, statistics.median(times), q[2] - q[0], times, timer)


def peak_memory(fn: Callable[[], None], device: str | torch.device) -> dict[str, int] | None:
    """Peak CUDA memory of one call of ``fn`` after a warm-up call: total allocated at the peak and the
    part above what was allocated before the call (activations and temporaries). None on CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    fn()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    return {"peak_memory_bytes": peak, "peak_memory_above_start_bytes": peak - before}


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
