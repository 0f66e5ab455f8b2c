"""suites/bench_sdpa.py: SASRec's attention through each SDPA backend (its timings come from the GPU)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))
import bench_sdpa  # noqa: E402

from models.sasrec import causal_key_mask  # noqa: E402


def test_the_math_backend_is_sasrecs_attention_without_dropout():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 4, generator=g) for _ in range(3))
    mask = causal_key_mask(torch.tensor([7, 3, 1]), 7)
    got = bench_sdpa.attention(bench_sdpa.backends()["math"], 0.0)(q, k, v, mask)
    scores = (q @ k.transpose(-1, -2) / 2.0).masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(got, scores.softmax(-1) @ v)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path: the bench needs CUDA")
def test_without_cuda_the_bench_says_so(tmp_path, capsys):
    assert bench_sdpa.main(["--out", str(tmp_path)]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err and not list(tmp_path.iterdir())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("tf32, tolerance", [(False, 1e-5), (True, 1e-2)])
def test_every_backend_times_the_same_attention(tmp_path, monkeypatch, tf32, tolerance):
    monkeypatch.setattr(bench_sdpa, "CASES", [dict(batch=8, heads=2, seqlen=50, head_dim=32)])
    assert bench_sdpa.main(["--out", str(tmp_path)] + ["--tf32"] * tf32) == 0
    (path,) = tmp_path.glob("kernel-sasrec_attention-*.json")
    assert path.stem.endswith("-tf32") == tf32
    result = json.loads(path.read_text())
    impls = result["impls"]
    assert {"efficient", "math", "default"} <= set(impls) and result["tf32"] is tf32
    for name in ("efficient", "math"):
        assert impls[name]["status"] == "ok" and impls[name]["graph_ms"] > 0, impls[name]
        assert impls[name]["max_abs_diff_no_dropout"] < tolerance, impls[name]
    assert not torch.backends.cuda.matmul.allow_tf32  # restored
