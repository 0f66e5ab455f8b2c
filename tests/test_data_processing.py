"""k-core fixed point, chronological order with stable ties, id remapping, leave-one-out split, prefixes,
truncation, device batches and the processed cache: each against a slow pure-Python construction on fresh
random data (the seed is in the failure message)."""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
import pandas as pd
import pytest
import torch

from seqrec.data import Batch, DataError, SeqDataset, load_dataset
from seqrec.data import cli as data_cli
from seqrec.data.process import build_sequences, k_core


def random_table(rng: random.Random, n: int = 600, users: int = 40, items: int = 30, times: int = 50) -> pd.DataFrame:
    return pd.DataFrame({"user": [f"u{rng.randrange(users)}" for _ in range(n)],
                         "item": [f"i{rng.randrange(items)}" for _ in range(n)],
                         "timestamp": np.array([rng.randrange(times) for _ in range(n)], dtype=np.int64)})


def fresh_rng() -> tuple[random.Random, int]:
    seed = random.randrange(10**9)
    return random.Random(seed), seed


# ----------------------------------------------------------------------------------------------- k-core
def brute_k_core(rows: list[tuple], min_user: int, min_item: int) -> list[tuple]:
    """Drop users, then recount and drop items, one at a time, until nothing changes (a different order from
    the implementation's simultaneous rounds: the k-core is the same fixed point either way)."""
    while True:
        uc: dict = {}
        for u, _, _ in rows:
            uc[u] = uc.get(u, 0) + 1
        rows2 = [r for r in rows if uc[r[0]] >= min_user]
        ic: dict = {}
        for _, i, _ in rows2:
            ic[i] = ic.get(i, 0) + 1
        rows2 = [r for r in rows2 if ic[r[1]] >= min_item]
        if len(rows2) == len(rows):
            return rows2
        rows = rows2


@pytest.mark.parametrize("min_user, min_item", [(2, 2), (5, 5), (8, 3), (3, 9), (0, 0)])
def test_k_core_is_the_brute_force_fixed_point(min_user, min_item):
    rng, seed = fresh_rng()
    df = random_table(rng, n=rng.randrange(100, 700))
    out = k_core(df, min_user, min_item)
    expect = brute_k_core(list(df.itertuples(index=False, name=None)), min_user, min_item)
    assert list(out.itertuples(index=False, name=None)) == expect, seed  # same rows, file order kept
    if len(out):  # a fixed point: filtering again changes nothing
        assert out["user"].value_counts().min() >= min_user and out["item"].value_counts().min() >= min_item, seed
        assert len(k_core(out, min_user, min_item)) == len(out), seed


# ----------------------------------------------------------------------------------------------- sequences
def slow_sequences(df: pd.DataFrame) -> dict:
    """user token -> [(item token, time)] in time order, ties in file order."""
    per_user: dict = {}
    for pos, (u, i, t) in enumerate(df.itertuples(index=False, name=None)):
        per_user.setdefault(u, []).append((t, pos, i))
    return {u: [(i, t) for t, _, i in sorted(v)] for u, v in per_user.items()}


def dataset_from_table(df: pd.DataFrame, max_len: int) -> tuple[SeqDataset, object]:
    seqs = build_sequences(df)
    ds = SeqDataset("t", torch.from_numpy(seqs.items), torch.from_numpy(seqs.times), torch.from_numpy(seqs.offsets),
                    seqs.n_items, max_len, "x")
    return ds, seqs


def test_sequences_order_ties_and_remap():
    rng, seed = fresh_rng()
    df = k_core(random_table(rng, times=8), 3, 3)  # few distinct times: many ties
    ds, seqs = dataset_from_table(df, 10)
    slow = slow_sequences(df)
    # ids 1..n in order of first appearance in the filtered file (RecBole), 0 never used
    assert list(seqs.item_tokens) == list(dict.fromkeys(df["item"])), seed
    assert list(seqs.user_tokens) == list(dict.fromkeys(df["user"])), seed
    assert int(ds.items.min()) == 1 and int(ds.items.max()) == ds.n_items == df["item"].nunique()
    assert ds.items.dtype == ds.times.dtype == ds.offsets.dtype == torch.int64
    for u_idx, tok in enumerate(seqs.user_tokens):
        a, b = int(ds.offsets[u_idx]), int(ds.offsets[u_idx + 1])
        got = [(seqs.item_tokens[int(x) - 1], int(t)) for x, t in zip(ds.items[a:b], ds.times[a:b], strict=True)]
        assert got == slow[tok], seed


def slow_samples(ds: SeqDataset, max_len: int) -> dict[str, list]:
    """Leave-one-out by hand: (user id, input items, input times, target) per sample, in split order."""
    out: dict[str, list] = {"train": [], "valid": [], "test": []}
    for u in range(ds.n_users):
        a, b = int(ds.offsets[u]), int(ds.offsets[u + 1])
        items, times = ds.items[a:b].tolist(), ds.times[a:b].tolist()
        n = len(items)
        # input s_1..s_t (0-based: items[:t]) truncated to the last max_len items, target items[t]
        samples = [(u + 1, items[max(0, t - max_len):t], times[max(0, t - max_len):t], items[t]) for t in range(n)]
        out["train"] += samples[1:n - 2]
        if n >= 3:
            out["valid"].append(samples[n - 2])
            out["test"].append(samples[n - 1])
    return out


def unpack(batches, max_len: int) -> list:
    got = []
    for bt in batches:
        assert isinstance(bt, Batch)
        assert bt.item_seq.shape == bt.time_seq.shape == (bt.user.numel(), max_len)
        assert all(x.dtype == torch.int64 for x in bt)
        assert int(bt.seq_len.min()) >= 1 and int(bt.seq_len.max()) <= max_len
        for r in range(bt.user.numel()):
            n = int(bt.seq_len[r])
            assert (bt.item_seq[r, n:] == 0).all() and (bt.time_seq[r, n:] == 0).all()  # right padding
            assert (bt.item_seq[r, :n] > 0).all()
            got.append((int(bt.user[r]), bt.item_seq[r, :n].tolist(), bt.time_seq[r, :n].tolist(),
                        int(bt.target[r])))
    return got


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_split_prefixes_truncation_and_batches(max_len):
    rng, seed = fresh_rng()
    df = k_core(random_table(rng, n=500), 2, 2)  # users of length 2 too: no valid/test, no train samples
    ds, _ = dataset_from_table(df, max_len)
    expected = slow_samples(ds, max_len)
    lengths = (ds.offsets[1:] - ds.offsets[:-1]).tolist()
    assert ds.n_samples("train") == sum(max(n - 3, 0) for n in lengths), seed
    for split in ("train", "valid", "test"):
        batch_size = rng.randrange(1, 20)
        batches = ds.train_batches(batch_size, shuffle=False) if split == "train" else ds.eval_batches(split,
                                                                                                      batch_size)
        assert unpack(batches, max_len) == expected[split], (split, seed)
        assert ds.n_samples(split) == len(expected[split])


def test_shuffle_is_seeded_and_a_permutation():
    rng, seed = fresh_rng()
    ds, _ = dataset_from_table(k_core(random_table(rng), 3, 3), 5)

    def run(s, e):
        return unpack(ds.train_batches(16, seed=s, epoch=e), 5)

    plain = unpack(ds.train_batches(16, shuffle=False), 5)
    assert run(1, 0) == run(1, 0), seed  # same (seed, epoch): same order
    assert run(1, 0) != run(1, 1) and run(1, 0) != run(2, 0), seed
    assert sorted(run(1, 0)) == sorted(plain), seed  # every sample exactly once
    # the permutation is drawn on CPU from (seed, epoch): the same on any device
    g = torch.Generator().manual_seed(1 * 1_000_003 + 0)
    order = torch.randperm(len(plain), generator=g).tolist()
    assert run(1, 0) == [plain[i] for i in order], seed


def test_make_batch_is_vectorised_gather_of_any_index():
    rng, seed = fresh_rng()
    ds, _ = dataset_from_table(k_core(random_table(rng), 3, 3), 4)
    plain = unpack(ds.eval_batches("test", 1000), 4)
    index = torch.tensor([rng.randrange(len(plain)) for _ in range(9)])
    assert unpack([ds.make_batch("test", index)], 4) == [plain[i] for i in index.tolist()], seed


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_on_gpu_equal_cpu():
    rng, seed = fresh_rng()
    ds, _ = dataset_from_table(k_core(random_table(rng), 3, 3), 6)
    gpu = ds.to("cuda")
    assert gpu.items.is_cuda and gpu.device.type == "cuda"
    for a, b in zip(ds.train_batches(8, seed=3, epoch=2), gpu.train_batches(8, seed=3, epoch=2), strict=True):
        assert all(y.is_cuda and torch.equal(x, y.cpu()) for x, y in zip(a, b, strict=True)), seed


# ----------------------------------------------------------------------------------------------- cache
def write_inter(path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"] + [f"{u}\t{i}\t{t}" for u, i, t in
                                                                   df.itertuples(index=False, name=None)]
    path.write_text("\n".join(lines) + "\n")


def _must_not_process(*args, **kwargs):
    raise AssertionError("the raw files were processed again instead of read from the cache")


def test_processed_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    rng, seed = fresh_rng()
    df = random_table(rng, n=400, users=10, items=8)
    write_inter(tmp_path / "ml-100k" / "ml-100k.inter", df)
    first = load_dataset("ml-100k", data_dir=tmp_path)
    files = list((tmp_path / "cache" / "processed").glob("ml-100k-*.pt"))
    assert len(files) == 1 and not list((tmp_path / "cache" / "processed").glob(".*")), "no temporary files left"
    with monkeypatch.context() as patched:  # the second load reads the cache
        patched.setattr("seqrec.data.registry._process", _must_not_process)
        second = load_dataset("ml-100k", data_dir=tmp_path, max_len=7)
    assert first.checksum == second.checksum and len(first.checksum) == 64
    assert torch.equal(first.items, second.items) and torch.equal(first.times, second.times)
    assert (first.max_len, second.max_len) == (200, 7)
    assert first.stats() == {**second.stats(), "max_len": 200}
    # the processed data equal a fresh build from the same table
    expect, _ = dataset_from_table(k_core(df, 5, 5), 200)
    assert torch.equal(first.items, expect.items) and torch.equal(first.offsets, expect.offsets), seed
    # other options, other key; changed source bytes, other key
    assert load_dataset("ml-100k", data_dir=tmp_path, min_user_inter=2, min_item_inter=2).checksum != first.checksum
    write_inter(tmp_path / "ml-100k" / "ml-100k.inter", df.iloc[:-5])
    assert load_dataset("ml-100k", data_dir=tmp_path).checksum != first.checksum
    # a corrupt cache file is rebuilt, not trusted
    files[0].write_bytes(b"garbage")
    write_inter(tmp_path / "ml-100k" / "ml-100k.inter", df)
    assert torch.equal(load_dataset("ml-100k", data_dir=tmp_path).items, first.items)


def test_stats_and_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    rng, seed = fresh_rng()
    df = random_table(rng, n=500, users=12, items=10)
    write_inter(tmp_path / "ml-100k" / "ml-100k.inter", df)
    ds = load_dataset("ml-100k", data_dir=tmp_path, max_len=4)
    stats = ds.stats()
    kept = k_core(df, 5, 5)
    b, a = stats["before_filtering"], stats["after_filtering"]
    assert (b["users"], b["items"], b["interactions"]) == (df["user"].nunique(), df["item"].nunique(), len(df)), seed
    assert (a["users"], a["items"], a["interactions"]) == (kept["user"].nunique(), kept["item"].nunique(), len(kept))
    assert a["max_length"] == kept["user"].value_counts().max()
    assert a["sparsity"] == pytest.approx(1 - len(kept) / (a["users"] * a["items"]))
    assert (a["first_timestamp"], a["last_timestamp"]) == (kept["timestamp"].min(), kept["timestamp"].max())
    assert a["first_date"] == f"1970-01-01T00:00:{kept['timestamp'].min():02d}Z"
    assert (a["train_samples"], a["valid_samples"], a["test_samples"]) == (len(kept) - 3 * a["users"], a["users"],
                                                                          a["users"])
    args = argparse.Namespace(dataset="ml-100k", json=True, data_dir=str(tmp_path), max_len=4, min_inter=5)
    assert data_cli.run(args) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(stats))
    args.json = False
    assert data_cli.run(args) == 0
    table = capsys.readouterr().out
    for label in ("users", "items", "interactions", "average length", "max length", "sparsity", "first interaction",
                  "last interaction", "train samples", "valid samples", "test samples"):
        assert label in table
    assert f"{a['train_samples']:,}" in table
    args.dataset = "nope"
    assert data_cli.run(args) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_bad_options(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    write_inter(tmp_path / "ml-100k" / "ml-100k.inter", random_table(random.Random(0)))
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        load_dataset("ml-100k", data_dir=tmp_path, max_len=0)
    ds = load_dataset("ml-100k", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        ds.n_samples("dev")
    with pytest.raises(DataError):
        load_dataset("ml-100k", data_dir=tmp_path, min_user_inter=10**6)
