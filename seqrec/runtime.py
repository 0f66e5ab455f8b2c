"""Run-time plumbing for training and measuring: device choice, seeding, determinism, RNG state
capture/restore, CUDA-synchronised timers and peak-memory helpers.

    device = resolve_device("auto")            # cuda when available, else cpu; "cuda" without CUDA -> ValueError
    seed_everything(0)                         # random, numpy, torch (CPU and every CUDA device)
    with deterministic(device.type == "cpu"):  # torch.use_deterministic_algorithms, restored on exit
        with Stopwatch(device) as sw: ...      # sw.seconds, CUDA-synchronised at both ends
    reset_peak_memory(device); ...; peak_memory_bytes(device)   # None on CPU
    except RuntimeError as e: release_error_memory(e)    # a failed case's tensors freed before the next case
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None -> cuda when available else cpu; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given.

    Raises ``ValueError`` (one line) for an unknown device string or a CUDA device that is not there.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {str(device)!r}; use one of {', '.join(DEVICE_CHOICES)} or cuda:N") from e
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(f"unsupported device {str(device)!r}; use one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available on this machine")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Within the block, ``torch.use_deterministic_algorithms(enabled, warn_only=True)``; the previous
    setting is restored on exit (the flag is process-global, so it must not leak into other code).

    ``warn_only`` keeps ops without a deterministic implementation usable (they warn instead of raising).
    """
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


@contextlib.contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """With ``enabled``, within the block ``torch.backends.cuda.matmul.allow_tf32 = True`` (CUDA fp32 matmuls as
    TF32 products), the previous setting restored on exit (process-global, like ``deterministic``); else nothing is
    touched: setting it False would change torch's matmul precision from unset to "ieee", which is part of inductor's
    cache key (a background compilation, seqrec/compile_ahead.py, then missed the cache it filled)."""
    if not enabled:
        yield
        return
    # the legacy flag, which our SSD kernels read (kernels/ssd/fused.py _precision): after torch's newer
    # fp32_precision is set, reading it raises. Restored as False, the precision reads "ieee" afterwards, not unset
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def rng_state() -> dict[str, Any]:
    """Every global RNG state the training loop consumes (dropout, shuffles in user code), as plain
    Python values and tensors so that ``torch.load(weights_only=True)`` accepts it."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"bit_generator": np_state["bit_generator"], "key": np_state["state"]["key"].tolist(),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured (CUDA states only when CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"],
                         "state": {"key": np.asarray(n["key"], dtype=np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


def synchronize(device: torch.device | str) -> None:
    """Wait for queued CUDA work on ``device``; a no-op on CPU."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class Stopwatch:
    """Wall-clock seconds of a block, CUDA-synchronised at entry and exit so that queued GPU work is
    counted where it was issued::

        with Stopwatch(device) as sw:
            run_epoch()
        sw.seconds
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Within: ``os.environ`` updated with ``values``; after: each of their keys as before (unset where it was)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def child_env(**overrides: str) -> dict[str, str]:
    """This process's environment for a Python child process started from the repository: the repository first on
    PYTHONPATH (``python -m seqrec...`` / ``kernels...`` import from any working directory), then ``overrides``."""
    repo = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join([repo, *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, **overrides}


def cuda_event_ms(fn) -> float:
    """Milliseconds of one ``fn()`` on the current CUDA stream, timed with CUDA events (waits for it to end)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a fresh peak-memory window on a CUDA device (no-op on CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def peak_memory_bytes(device: torch.device | str) -> int | None:
    """``torch.cuda.max_memory_allocated`` since the last reset; None on CPU."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(dev))


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameter elements."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def release_error_memory(error: BaseException) -> None:
    """Free what a caught ``error`` keeps alive: its traceback holds the frames of the code that raised, and their
    locals (a failed benchmark case's tensors, GBs of GPU memory) stay allocated as long as the exception or
    pytest's report does, so the next case runs out of memory. Clears those frames (the traceback keeps its
    lines), collects, and returns the freed blocks to the device."""
    traceback.clear_frames(error.__traceback__)
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            traceback.clear_frames(linked.__traceback__)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
