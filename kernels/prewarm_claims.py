"""Kernel claims between a training run and its prewarm processes (``kernels/prewarm.py``), so that each of our
Triton kernel specializations compiles once, wherever it compiles first, and nobody waits longer than it must.

Without claims, the prewarm's processes split the launches by a hash of their signature and each compiles its share
in the dry step's order, while the training process compiles, one after another, every kernel its first step needs
that is not in Triton's cache yet: on an H200 (part 28, results/full-amp-compile-cuda-graph-cold-prewarm-pool/),
TiM4Rec's first step with ``--compile-ahead`` compiled 12 of its 16 kernels itself (9.1 s), the prewarm then
compiling the same ones again. With claims, a kernel is compiled by the first process to claim it: a file created
exclusively in the run's prewarm folder, named by the kernel and Triton's own specialization key (the key Triton's
in-memory cache uses, so a claim matches exactly the specialization a launch needs), and marked done once it and its
C launcher are in Triton's cache. Every prewarm process walks the whole dry step and claims what nobody has, so the
kernels compile in parallel in the order a step needs them; the training process, at a kernel it lacks, waits for
it where a prewarm process holds its claim (then Triton finds it in its cache), claims and compiles it itself where
nobody does, and stops waiting when the processes have all ended or after ``WAIT_LIMIT_S``. It changes where and
when kernels compile, never what runs.

``SEQREC_PREWARM_CLAIMS``: 1 or 0 (the default: hash shares, as before, until measured on a GPU).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from models.switches import env_flag

CLAIMS_ENV = "SEQREC_PREWARM_CLAIMS"
WAIT_LIMIT_S = 60.0  # at most this long for one kernel: a prewarm process that hangs costs no more
POLL_S = 0.01


def claims_on() -> bool:
    """``SEQREC_PREWARM_CLAIMS`` (1 or 0, default 0); another value is a ValueError naming it."""
    return env_flag(CLAIMS_ENV, default=False)


def marker(folder: Path, kernel: str, key: str) -> Path:
    """The claim's path stem in ``folder`` for a kernel's specialization (Triton's cache key)."""
    return folder / f"{kernel}-{zlib.crc32(key.encode()):08x}"


def claim(stem: Path) -> bool:
    """Whether this process took the claim (``stem``.claim created exclusively: exactly one process does)."""
    try:
        os.close(os.open(f"{stem}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def mark_done(stem: Path) -> None:
    Path(f"{stem}.done").touch()


def is_done(stem: Path) -> bool:
    return Path(f"{stem}.done").exists()


def wait_done(stem: Path, alive: Callable[[], bool], limit_s: float = WAIT_LIMIT_S) -> bool:
    """Wait until ``stem`` is done; False where the claim's holders stopped (``alive()`` false) or ``limit_s``
    passed first."""
    deadline = time.monotonic() + limit_s
    while not is_done(stem):
        if not alive() or time.monotonic() > deadline:
            return is_done(stem)
        time.sleep(POLL_S)
    return True


def _chained(hook: Callable[..., bool | None]) -> Callable[[], None]:
    """Install ``hook`` as Triton's ``jit_cache_hook`` (called when a launch's specialization is not in the
    process's memory, before it compiles; True skips the compilation), in front of the one there; returns the undo."""
    from triton import knobs

    previous = knobs.runtime.jit_cache_hook

    def chained(**kwargs):
        if hook(**kwargs):
            return True
        return previous(**kwargs) if previous else False

    knobs.runtime.jit_cache_hook = chained

    def undo() -> None:
        if knobs.runtime.jit_cache_hook is chained:
            knobs.runtime.jit_cache_hook = previous

    return undo


@contextmanager
def prewarm_side(folder: Path):
    """Within (a prewarm process, around ``ptxas_report.compile_only``): a launch whose specialization another
    process has claimed is skipped; one this process claims compiles. Yields the callback to call once a compiled
    kernel's launcher is cached too (``compile_only``'s ``on_compiled``): it marks the claim done."""
    held: list[Path] = []

    def hook(*, key, fn, **_) -> bool:
        stem = marker(folder, fn.name, str(key))
        if not claim(stem):
            return True  # another process's: skip it
        held.append(stem)
        return False

    def on_compiled() -> None:
        while held:
            mark_done(held.pop())

    undo = _chained(hook)
    try:
        yield on_compiled
    finally:
        undo()


def trainer_side(folder: Path, alive: Callable[[], bool], stats: dict) -> Callable[[], None]:
    """Install the training process's side (until the returned undo is called): a kernel it lacks that a prewarm
    process has claimed is waited for; one nobody has claimed is claimed and compiled here. ``stats`` counts
    ``claimed`` (compiled here), ``waited`` and ``wait_seconds``, ``found_done``."""
    for k in ("claimed", "waited", "found_done"):
        stats.setdefault(k, 0)
    stats.setdefault("wait_seconds", 0.0)

    def hook(*, key, fn, **_) -> bool:
        stem = marker(folder, fn.name, str(key))
        if is_done(stem):
            stats["found_done"] += 1
        elif claim(stem):
            stats["claimed"] += 1
        else:
            start = time.perf_counter()
            wait_done(stem, alive)
            stats["waited"] += 1
            stats["wait_seconds"] = round(stats["wait_seconds"] + time.perf_counter() - start, 3)
        return False  # compile: a cache hit where the prewarm finished it

    return _chained(hook)
