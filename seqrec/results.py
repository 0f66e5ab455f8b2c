"""Result files: one JSON file per run, written atomically, with full provenance.

Every result file is a JSON object with at least these keys::

    schema      int, RESULT_SCHEMA
    kind        "train" | "latency" | "memory" | "kernel" | "ablation"
    status      "ok" | "failed" | "skipped" (with "reason" when not ok)
    model       registry name ("sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec") where it applies
    provenance  {git_commit, git_dirty, source_sha256 (see source_digest), python, torch, triton, cuda, device,
                 device_name, hostname, command, created_at}

``kind == "train"`` adds::

    dataset       {name, checksum, n_users, n_items, max_len}
    config        model config (hidden_size, n_layers, ... exactly as built)
    train_config  {lr, batch_size, eval_batch_size, epochs, patience, backend, device, ...}
    seed          int
    metrics       {"valid": {"hit@10": ..., "ndcg@10": ..., "mrr@10": ..., ...}, "test": {...}}
    best_epoch, epochs_run
    epochs        [{"epoch", "train_loss", "train_seconds", "eval_seconds", "valid": {...}}, ...]
    peak_memory_bytes (GPU peak, null on CPU), n_parameters

``kind == "latency" | "memory"`` adds: phase ("train_step" | "inference"), batch_size, seq_len,
hidden_size, n_items, median_ms / iqr_ms or peak_memory_bytes, compile_seconds, n_parameters, timer
("cuda_events" | "cpu_perf_counter").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seqrec.atomic import atomic_open

RESULT_SCHEMA = 1
REPO_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


SOURCE_DIRS = ("seqrec", "models", "kernels", "suites")
DECLARED_COMMIT_ENV = "SEQREC_GIT_COMMIT"  # commit of a copied tree, named by whoever sent it (source_sha256 checks)


@functools.cache
def source_digest(root: str | os.PathLike | None = None) -> str:
    """sha256 over the project's code as it is on disk (each ``*.py`` / ``*.toml`` under SOURCE_DIRS and
    pyproject.toml: relative path and content sha256, sorted). It names the code that ran even where the git
    metadata is missing or stale (a copied working tree); check a commit with ``git checkout C`` and
    ``python -c "from seqrec.results import source_digest; print(source_digest())"``."""
    base = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    files = [base / "pyproject.toml"] + [p for d in SOURCE_DIRS for ext in ("*.py", "*.toml")
                                         for p in (base / d).rglob(ext)]
    h = hashlib.sha256()
    for p in sorted(f for f in files if f.is_file() and "__pycache__" not in f.parts):
        h.update(f"{p.relative_to(base).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def provenance(device: str | None = None) -> dict[str, Any]:
    """Library versions, git commit, source digest, device name and command line of this process."""
    import torch

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_cuda = str(dev).startswith("cuda") and torch.cuda.is_available()
    declared = os.environ.get(DECLARED_COMMIT_ENV)
    from kernels.dispatch import REFERENCE_OPS_ENV, reference_ops

    kept = sorted(reference_ops())
    if declared:  # a copied tree whose .git lags (the GPU host): the launcher names the commit it sent
        commit, dirty = declared, None
    else:
        status = _git("status", "--porcelain", "--untracked-files=no")
        commit, dirty = _git("rev-parse", "HEAD"), bool(status) if status is not None else None
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        **({"git_commit_declared_by": DECLARED_COMMIT_ENV} if declared else {}),
        "source_sha256": source_digest(),
        **({"reference_ops": kept, "reference_ops_set_by": REFERENCE_OPS_ENV} if kept else {}),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton_version,
        "cuda": torch.version.cuda,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(torch.device(dev)) if on_cuda else platform.processor()
        or platform.machine(),
        "hostname": socket.gethostname(),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` via a temporary file and ``os.replace``: readers never see a
    half-written file, and an interrupted write leaves the old file in place."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
        f.write("\n")
    return Path(path)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_result(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    """Write one run's result file atomically, filling in ``schema`` and ``provenance``."""
    result = dict(result)
    result.setdefault("schema", RESULT_SCHEMA)
    result.setdefault("status", "ok")
    if "provenance" not in result:
        result["provenance"] = provenance(result.get("train_config", {}).get("device"))
    return write_json_atomic(path, result)


def load_results(root: str | os.PathLike, kind: str | None = None) -> list[dict[str, Any]]:
    """Every result file (``*.json`` with a ``schema`` key) under ``root``, optionally of one kind.

    Each dict gets ``_path`` (where it was read from). A file that is not valid JSON raises a
    ``ValueError`` naming the file and line.
    """
    out = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            obj = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e
        if not isinstance(obj, dict) or "schema" not in obj:
            continue  # pytest-benchmark's own JSON and other files
        if kind is not None and obj.get("kind") != kind:
            continue
        obj["_path"] = str(path)
        out.append(obj)
    return out
