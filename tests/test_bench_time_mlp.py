"""suites/bench_time_mlp.py: its reference is TiM4Rec's MLP (fp32, and bf16 autocast's nn.Linear path); the bench
writes one result file a case and dtype with both providers (on CUDA)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))
import bench_time_mlp  # noqa: E402


def test_reference_is_the_models_mlp():
    inputs = bench_time_mlp.make_inputs(batch=2, seqlen=5, heads=4, width=16, dtype=torch.float32, device="cpu")
    mlp = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.SiLU(), torch.nn.Linear(16, 1))
    with torch.no_grad():
        for p, name in zip(mlp.parameters(), ("w1", "b1", "w2", "b2"), strict=True):
            p.copy_(inputs[name])
    want = mlp(inputs["g"].unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(bench_time_mlp.reference(**inputs, autocast=False), want)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path: the bench needs CUDA")
def test_without_cuda_the_bench_says_so(tmp_path, capsys):
    assert bench_time_mlp.main(["--out", str(tmp_path)]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_bench_writes_both_providers(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_time_mlp, "CASES", [dict(batch=64, seqlen=50, heads=4, width=16)])
    assert bench_time_mlp.main(["--out", str(tmp_path), "--dtypes", "bfloat16"]) == 0
    (path,) = tmp_path.glob("kernel-time_mlp-*.json")
    impls = json.loads(path.read_text())["impls"]
    assert set(impls) == {"triton", "torch_ref"} and all(r["status"] == "ok" for r in impls.values())
