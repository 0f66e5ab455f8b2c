"""RecBole sequential semantics on an interaction table: iterative k-core filtering, chronological
order per user (ties keep file order), id remapping to 1..n (0 = padding), flat per-user sequences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd


def k_core_mask(user_codes: np.ndarray, item_codes: np.ndarray, min_user: int = 5, min_item: int = 5) -> np.ndarray:
    """(N,) bool: the rows kept by iterative filtering of users with fewer than ``min_user`` and items with
    fewer than ``min_item`` interactions, both counted on the rows still kept, repeated until nothing changes
    (RecBole's ``[min, inf)`` interval filters). Codes are dense non-negative ints (e.g. ``pd.factorize``)."""
    keep = np.ones(len(user_codes), dtype=bool)
    n_users = int(user_codes.max()) + 1 if len(user_codes) else 0
    n_items = int(item_codes.max()) + 1 if len(item_codes) else 0
    while True:
        u, i = user_codes[keep], item_codes[keep]
        ok = (np.bincount(u, minlength=n_users) >= min_user)[u] & (np.bincount(i, minlength=n_items) >= min_item)[i]
        if ok.all():
            return keep
        keep[np.flatnonzero(keep)[~ok]] = False


def k_core(df: pd.DataFrame, min_user: int = 5, min_item: int = 5) -> pd.DataFrame:
    """The rows of ``df`` (columns user, item, ...) in the k-core fixed point, in file order."""
    keep = k_core_mask(pd.factorize(df["user"])[0], pd.factorize(df["item"])[0], min_user, min_item)
    return df if keep.all() else df[keep]


@dataclass
class Sequences:
    """Flat per-user sequences: ``items``/``times`` (N,) int64 with user u at ``offsets[u]:offsets[u+1]``
    (users 0..n_users-1 here; user ids in the data are 1..n_users), items remapped to 1..n_items."""

    items: np.ndarray
    times: np.ndarray
    offsets: np.ndarray
    n_items: int
    user_tokens: np.ndarray
    item_tokens: np.ndarray


def build_sequences(df: pd.DataFrame) -> Sequences:
    """Remap tokens in order of first appearance (as RecBole), then order each user's interactions by
    timestamp, keeping file order for ties."""
    user_ids, user_tokens = pd.factorize(df["user"], sort=False)
    item_ids, item_tokens = pd.factorize(df["item"], sort=False)
    times = df["timestamp"].to_numpy(dtype=np.int64)
    order = np.lexsort((np.arange(len(df)), times, user_ids))  # user, then time, then file position
    users_sorted = user_ids[order]
    counts = np.bincount(users_sorted, minlength=len(user_tokens))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Sequences(items=(item_ids[order] + 1).astype(np.int64), times=times[order], offsets=offsets,
                     n_items=len(item_tokens), user_tokens=np.asarray(user_tokens, dtype=object),
                     item_tokens=np.asarray(item_tokens, dtype=object))


def iso_date(ts: int | None) -> str | None:
    """Unix seconds -> ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table_stats(df: pd.DataFrame) -> dict:
    """Users, items, interactions, per-user sequence lengths, sparsity and time span of an interaction table."""
    n = len(df)
    n_users, n_items = int(df["user"].nunique()), int(df["item"].nunique())
    lengths = np.bincount(pd.factorize(df["user"])[0]) if n else np.zeros(0, dtype=np.int64)
    first = int(df["timestamp"].min()) if n else None
    last = int(df["timestamp"].max()) if n else None
    return {
        "users": n_users, "items": n_items, "interactions": n,
        "avg_length": float(lengths.mean()) if n else 0.0, "max_length": int(lengths.max()) if n else 0,
        "min_length": int(lengths.min()) if n else 0,
        "sparsity": 1.0 - n / (n_users * n_items) if n else 1.0,
        "first_timestamp": first, "last_timestamp": last, "first_date": iso_date(first), "last_date": iso_date(last),
        "time_span_days": (last - first) / 86400 if n else 0.0,
    }
