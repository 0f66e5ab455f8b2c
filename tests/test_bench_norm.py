"""suites/bench_norm.py's launch grid for our layer norm (its timings come from the GPU)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))
import bench_norm  # noqa: E402

from kernels.norm import fused  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path: the bench needs CUDA")
def test_without_cuda_the_grid_says_so(capsys):
    assert bench_norm.main(["--ln-grid"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_grid_times_each_setting_and_restores_the_defaults(capsys):
    defaults = {k: getattr(fused, k) for k in bench_norm.LN_GRID}
    grid = {"TILE": (2048, 8192), "NUM_WARPS": (4,), "MAX_BWD_PROGRAMS": (512,)}
    assert bench_norm.ln_grid(["bfloat16"], [64, 256], grid) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "graph_ms" in line]
    assert len(lines) == 4 and all("'status': 'ok'" in line for line in lines)
    assert sum("(2048, 50, 64)" in line for line in lines) == 2
    assert {k: getattr(fused, k) for k in bench_norm.LN_GRID} == defaults

