"""Training checkpoints: one file per run, rewritten atomically after every epoch.

A checkpoint is a dict of tensors and plain Python values (model and optimizer state, best weights (None where
they are the model's: ``best_weights``), early-stopping counters, per-epoch history, RNG states, and a
``fingerprint`` of what the run is), so it loads with ``torch.load(weights_only=True)``. It is written to a
temporary file in the same folder, flushed to disk and moved into place with ``os.replace``: a crash mid-write
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from seqrec.atomic import atomic_open

CHECKPOINT_FORMAT = 1


def checkpoint_path(out: str | os.PathLike | None, checkpoint_dir: str | os.PathLike | None,
                    run_name: str) -> Path | None:
    """Where a run keeps its checkpoint: ``<checkpoint_dir>/<result file name>.ckpt`` when a folder is
    given, else ``<out>.ckpt`` next to the result file; None when neither is given (no checkpointing).
    ``run_name`` names the file when only ``checkpoint_dir`` is known."""
    if checkpoint_dir is not None:
        name = Path(out).name if out is not None else f"{run_name}.json"
        return Path(checkpoint_dir) / f"{name}.ckpt"
    if out is not None:
        out = Path(out)
        return out.with_name(out.name + ".ckpt")
    return None


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + fsync + ``os.replace``)."""
    with atomic_open(path, "wb") as f:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
    return Path(path)


def best_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The best epoch's weights: ``best_state``, or the model's own where the checkpoint was written at the best
    epoch so far (``best_state`` None, a quarter of the file saved)."""
    return ckpt["model"] if ckpt["best_state"] is None else ckpt["best_state"]


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint at ``path`` (tensors on CPU), or None when there is none. A file that cannot be
    read as a checkpoint raises ``ValueError`` naming it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or unsafe content
        raise ValueError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {e}); "
                         f"delete it to start the run afresh") from e
    found = state.get("format") if isinstance(state, dict) else None
    if found != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {found!r} (expected {CHECKPOINT_FORMAT}); "
                         f"delete it to start the run afresh")
    return state


def remove_checkpoint(path: str | os.PathLike | None) -> None:
    """Delete the checkpoint (after the result file is written); missing is fine."""
    if path is not None:
        Path(path).unlink(missing_ok=True)
