"""RecBole sequential semantics on an interaction table: iterative k-core filtering, chronological
order per user (ties keep file order), id remapping to 1..n (0 = padding), flat per-user sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def k_core(df: pd.DataFrame, min_user: int = 5, min_item: int = 5) -> pd.DataFrame:
    """Drop users with fewer than ``min_user`` and items with fewer than ``min_item`` interactions,
    repeatedly, until nothing changes (the k-core fixed point; file order kept)."""
    while True:
        user_counts = df["user"].map(df["user"].value_counts())
        item_counts = df["item"].map(df["item"].value_counts())
        keep = (user_counts >= min_user) & (item_counts >= min_item)
        if keep.all():
            return df
        df = df[keep.to_numpy()]


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


def table_stats(df: pd.DataFrame) -> dict:
    """Users, items, interactions, sequence lengths, sparsity and time span of an interaction table."""
    n = len(df)
    n_users, n_items = int(df["user"].nunique()), int(df["item"].nunique())
    lengths = df["user"].value_counts()
    t = df["timestamp"]
    return {
        "users": n_users, "items": n_items, "interactions": n,
        "avg_length": float(lengths.mean()) if n else 0.0, "max_length": int(lengths.max()) if n else 0,
        "min_length": int(lengths.min()) if n else 0,
        "sparsity": 1.0 - n / (n_users * n_items) if n else 1.0,
        "first_timestamp": int(t.min()) if n else None, "last_timestamp": int(t.max()) if n else None,
    }
