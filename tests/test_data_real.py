"""The published statistics of the real datasets, processed from scratch into a fresh cache (skipped when
../shared/data/raw, or $SEQREC_DATA, is absent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from seqrec.data import load_dataset

# (users, items, interactions) before and after 5-core; (train, valid, test) samples
EXPECTED = {
    "ml-100k": ((943, 1682, 100_000), (943, 1349, 99_287), (96_458, 943, 943)),
    "ml-1m": ((6040, 3706, 1_000_209), (6040, 3416, 999_611), (981_491, 6040, 6040)),
    "amazon-beauty": ((22_363, 12_101, 198_502), (22_363, 12_101, 198_502), (131_413, 22_363, 22_363)),
    "amazon-sports": ((35_598, 18_357, 296_337), (35_598, 18_357, 296_337), (189_543, 35_598, 35_598)),
}


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory):
    old = os.environ.get("SEQREC_CACHE")
    os.environ["SEQREC_CACHE"] = str(tmp_path_factory.mktemp("seqrec-cache"))
    yield os.environ["SEQREC_CACHE"]
    if old is None:
        del os.environ["SEQREC_CACHE"]
    else:
        os.environ["SEQREC_CACHE"] = old


@pytest.mark.parametrize("name", list(EXPECTED))
def test_published_statistics(name, raw_data_dir, fresh_cache):
    if not (raw_data_dir / name).is_dir():
        pytest.skip(f"{raw_data_dir / name} absent")
    ds = load_dataset(name, data_dir=raw_data_dir)
    stats = ds.stats()
    before, after, samples = EXPECTED[name]
    b, a = stats["before_filtering"], stats["after_filtering"]
    assert (b["users"], b["items"], b["interactions"]) == before
    assert (a["users"], a["items"], a["interactions"]) == after
    assert (a["train_samples"], a["valid_samples"], a["test_samples"]) == samples
    assert ds.max_len == (200 if name.startswith("ml-") else 50)
    assert (ds.n_users, ds.n_items, ds.items.numel()) == after
    lengths = ds.offsets[1:] - ds.offsets[:-1]
    first, last = ds.times[ds.offsets[:-1]], ds.times[ds.offsets[1:] - 1]
    assert bool((lengths >= 5).all()) and bool((last >= first).all())
    starts = torch.zeros(ds.items.numel(), dtype=torch.bool)
    starts[ds.offsets[:-1]] = True
    assert bool((ds.times[1:] >= ds.times[:-1])[~starts[1:]].all())  # chronological within each user


def test_second_load_of_beauty_reads_the_cache(raw_data_dir, fresh_cache, monkeypatch):
    if not (raw_data_dir / "amazon-beauty").is_dir():
        pytest.skip("amazon-beauty absent")
    first = load_dataset("amazon-beauty", data_dir=raw_data_dir)

    def must_not_process(*args, **kwargs):
        raise AssertionError("amazon-beauty was processed again instead of read from the cache")

    monkeypatch.setattr("seqrec.data.registry._process", must_not_process)
    second = load_dataset("amazon-beauty", data_dir=raw_data_dir)
    assert second.checksum == first.checksum and torch.equal(second.items, first.items)


def test_cli_stats_json(raw_data_dir, fresh_cache):
    out = subprocess.run([sys.executable, "-m", "seqrec", "data", "stats", "ml-100k", "--json",
                          "--data-dir", str(raw_data_dir)], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["before_filtering"]["interactions"] == 100_000
    assert stats["after_filtering"]["items"] == 1349
    assert stats["after_filtering"]["train_samples"] == 96_458
    assert stats["before_filtering"]["first_date"] == "1997-09-20T03:05:10Z"
