"""Kernel benchmarks as suite cases (CUDA only; skipped with the reason otherwise): the time-aware SSD
mixer, the Mamba1 selective scan, TiSASRec's interval attention, the SSM blocks' causal conv and the norms,
forward + backward, ours against the references and mamba-ssm. Each runs the matching ``suites/bench_*.py`` script,
which writes kind "kernel" result files under ``results/<profile>/kernels/``; the scripts can also be run on
their own."""

from __future__ import annotations

import bench_conv
import bench_interval_attention
import bench_norm
import bench_selective_scan
import bench_ssd
import pytest
import torch
from mamba_sdist import find_sdist

SDIST = find_sdist()  # $SEQREC_MAMBA_SDIST or .whl/mamba_ssm-*.tar.gz; None: the mamba-ssm columns are skipped
SDIST_ARGS = ["--mamba-sdist", str(SDIST)] if SDIST is not None and SDIST.is_file() else []

SCRIPTS = {
    "ssd": lambda out: bench_ssd.main(["--out", str(out)] + SDIST_ARGS),
    "selective_scan": lambda out: bench_selective_scan.main(["--out", str(out)] + SDIST_ARGS),
    "interval_attention": lambda out: bench_interval_attention.main(["--out", str(out)]),
    "causal_conv1d": lambda out: bench_conv.main(["--out", str(out)]),
    "norm": lambda out: bench_norm.main(["--out", str(out)]),
}


@pytest.mark.parametrize("kernel", list(SCRIPTS))
def test_kernel_benchmark(benchmark, kernel, results_dir, device):
    if not device.startswith("cuda") or not torch.cuda.is_available():
        pytest.skip("kernel benchmarks need a CUDA device")
    out = results_dir / "kernels"
    rc = benchmark.pedantic(lambda: SCRIPTS[kernel](out), rounds=1, iterations=1)
    assert rc in (0, None)
    assert list(out.glob("*.json")), f"no result file written under {out}"
