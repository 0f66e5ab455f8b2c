"""One process at a time trains a run: it holds an exclusive lock on ``<checkpoint>.lock`` from before it reads the
run's checkpoint until its result file is written.

Two processes that both pick up the same case (two sweeps or suites over one results folder, one per GPU) would
otherwise both train it, resuming from and overwriting each other's checkpoint, and the later result file would
replace the earlier. The lock is ``fcntl.flock``: the system releases it when its holder exits, crashed or killed,
so a stale lock file never blocks a run. Where the platform has no ``fcntl`` (Windows) runs are not claimed.
A process that holds a run may claim it again inside (the ablation suite claims a case before it keeps a copy of
its checkpoint, then calls ``train``, which claims it too).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

EXIT_CODE = 75  # EX_TEMPFAIL: what ``seqrec train`` exits with when another process holds the run


_HELD: dict[Path, int] = {}  # this process's claims: lock file -> how deep


class RunClaimed(RuntimeError):
    """Another process is training this run (it holds the run's lock file)."""


def lock_path(checkpoint: str | os.PathLike) -> Path:
    """``<checkpoint>.lock``, beside the checkpoint."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".lock")


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def claimed(checkpoint: str | os.PathLike | None) -> Iterator[None]:
    """Hold the run whose checkpoint is ``checkpoint`` for the block; raise ``RunClaimed`` (naming the lock file and
    its holder) at once when another process holds it. Inside a claim of this process on the same run it holds
    nothing more. None (a run without a checkpoint) claims nothing."""
    if checkpoint is None or fcntl is None:
        yield
        return
    path = lock_path(checkpoint).resolve()
    if path in _HELD:  # this process holds it already: the outer claim keeps it
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunClaimed(f"{path}: another process is training this run ({_holder(path)}); it is left to "
                             f"that process") from None
        try:  # the holder we waited on may have finished and removed the file we opened: lock the current one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    _HELD[path] = 1
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        del _HELD[path]
        path.unlink(missing_ok=True)  # while still held: a process that opened it retries on the new file
        os.close(fd)
