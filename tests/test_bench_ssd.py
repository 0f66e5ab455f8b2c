"""suites/bench_ssd.py's command line: every variant it documents is accepted (part 17's GPU run of
``--variants triton,triton_bf16_product`` stopped at ``unknown ['triton_bf16_product']``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))
import bench_ssd  # noqa: E402


def test_every_variant_has_an_availability():
    got = bench_ssd.variants(list(bench_ssd.VARIANTS))
    assert list(got) == list(bench_ssd.VARIANTS) and got["torch"] is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path: on a GPU main times every variant")
def test_each_variant_passes_the_command_lines_check(tmp_path):
    for name in bench_ssd.VARIANTS:
        assert bench_ssd.main(["--out", str(tmp_path / name), "--variants", f"triton,{name}"]) == 0
        assert (tmp_path / name / "bench_ssd-cpu.json").exists()


def test_an_unknown_variant_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench_ssd.main(["--out", str(tmp_path), "--variants", "triton,tritn"])
    assert "unknown ['tritn']" in capsys.readouterr().err
