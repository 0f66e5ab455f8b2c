"""k-core fixed point, chronological order with stable ties, leave-one-out split, prefixes, truncation,
device batches: each against a slow pure-Python construction on random data."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch

from seqrec.data import load_dataset
from seqrec.data.dataset import SeqDataset
from seqrec.data.process import build_sequences, k_core


def random_table(rng: random.Random, n: int = 600, users: int = 40, items: int = 30) -> pd.DataFrame:
    return pd.DataFrame({"user": [f"u{rng.randrange(users)}" for _ in range(n)],
                         "item": [f"i{rng.randrange(items)}" for _ in range(n)],
                         "timestamp": np.array([rng.randrange(50) for _ in range(n)], dtype=np.int64)})


def brute_k_core(rows: list[tuple], k: int) -> list[tuple]:
    while True:
        uc, ic = {}, {}
        for u, i, _ in rows:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        kept = [r for r in rows if uc[r[0]] >= k and ic[r[1]] >= k]
        if len(kept) == len(rows):
            return kept
        rows = kept


@pytest.mark.parametrize("k", [2, 5, 8])
def test_k_core_is_the_brute_force_fixed_point(k):
    rng = random.Random()
    df = random_table(rng)
    out = k_core(df, k, k)
    expect = brute_k_core(list(df.itertuples(index=False, name=None)), k)
    assert list(out.itertuples(index=False, name=None)) == expect
    if len(out):
        assert out["user"].value_counts().min() >= k and out["item"].value_counts().min() >= k


def slow_sequences(df: pd.DataFrame) -> dict:
    """user token -> [(item token, time)] in time order, ties in file order."""
    per_user = {}
    for pos, (u, i, t) in enumerate(df.itertuples(index=False, name=None)):
        per_user.setdefault(u, []).append((t, pos, i))
    return {u: [(i, t) for t, _, i in sorted(v)] for u, v in per_user.items()}


def dataset_from_table(df: pd.DataFrame, max_len: int) -> tuple[SeqDataset, object]:
    seqs = build_sequences(df)
    ds = SeqDataset("t", torch.from_numpy(seqs.items), torch.from_numpy(seqs.times), torch.from_numpy(seqs.offsets),
                    seqs.n_items, max_len, "x")
    return ds, seqs


def test_sequences_order_and_remap():
    rng = random.Random()
    df = k_core(random_table(rng), 3, 3)
    ds, seqs = dataset_from_table(df, 10)
    slow = slow_sequences(df)
    # first-appearance remapping, 1-based
    assert list(seqs.item_tokens) == list(dict.fromkeys(df["item"]))
    for u_idx, tok in enumerate(seqs.user_tokens):
        a, b = int(ds.offsets[u_idx]), int(ds.offsets[u_idx + 1])
        got = [(seqs.item_tokens[int(x) - 1], int(t)) for x, t in zip(ds.items[a:b], ds.times[a:b], strict=True)]
        assert got == slow[tok]


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_split_prefixes_truncation_and_batches(max_len):
    rng = random.Random()
    df = k_core(random_table(rng, n=500), 3, 3)
    ds, seqs = dataset_from_table(df, max_len)
    expected = {"train": [], "valid": [], "test": []}
    for u in range(ds.n_users):
        a, b = int(ds.offsets[u]), int(ds.offsets[u + 1])
        items, times = ds.items[a:b].tolist(), ds.times[a:b].tolist()
        n = len(items)
        for t in range(1, n - 2):
            expected["train"].append((u + 1, items[max(0, t - max_len):t], times[max(0, t - max_len):t], items[t]))
        expected["valid"].append((u + 1, items[max(0, n - 2 - max_len):n - 2], times[max(0, n - 2 - max_len):n - 2],
                                  items[n - 2]))
        expected["test"].append((u + 1, items[max(0, n - 1 - max_len):n - 1], times[max(0, n - 1 - max_len):n - 1],
                                 items[n - 1]))
    assert ds.n_samples("train") == len(df) - 3 * ds.n_users
    for split in ("train", "valid", "test"):
        batches = list(ds.train_batches(7, shuffle=False) if split == "train" else ds.eval_batches(split, 7))
        got = []
        for bt in batches:
            assert bt.item_seq.shape[1] == max_len and bt.time_seq.shape == bt.item_seq.shape
            for r in range(bt.user.numel()):
                n = int(bt.seq_len[r])
                assert (bt.item_seq[r, n:] == 0).all() and (bt.time_seq[r, n:] == 0).all()
                got.append((int(bt.user[r]), bt.item_seq[r, :n].tolist(), bt.time_seq[r, :n].tolist(),
                            int(bt.target[r])))
        assert got == expected[split], split


def test_shuffle_is_seeded_and_a_permutation():
    rng = random.Random()
    ds, _ = dataset_from_table(k_core(random_table(rng), 3, 3), 5)
    def targets(seed, epoch):
        return torch.cat([b.target for b in ds.train_batches(16, seed=seed, epoch=epoch)])
    def users(seed, epoch):
        return torch.cat([b.user for b in ds.train_batches(16, seed=seed, epoch=epoch)])
    assert torch.equal(targets(1, 0), targets(1, 0))
    assert not torch.equal(users(1, 0), users(1, 1))
    plain = torch.cat([b.target for b in ds.train_batches(16, shuffle=False)])
    assert sorted(targets(1, 0).tolist()) == sorted(plain.tolist())


def test_processed_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "ml-100k"
    d.mkdir()
    rng = random.Random()
    df = random_table(rng, n=400, users=10, items=8)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"] + [f"{u}\t{i}\t{t}" for u, i, t in
                                                                   df.itertuples(index=False, name=None)]
    (d / "ml-100k.inter").write_text("\n".join(lines) + "\n")
    first = load_dataset("ml-100k", data_dir=tmp_path)
    assert list((tmp_path / "cache" / "processed").glob("ml-100k-*.pt"))
    second = load_dataset("ml-100k", data_dir=tmp_path)
    assert first.checksum == second.checksum and torch.equal(first.items, second.items)
    (d / "ml-100k.inter").write_text("\n".join(lines[:-5]) + "\n")  # changed source -> new key
    assert load_dataset("ml-100k", data_dir=tmp_path).checksum != first.checksum
