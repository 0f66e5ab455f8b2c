"""kernels.ptxas_report: the Triton kernels of a training step compiled for sm_90 without a GPU, with ptxas's
register and spill counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
triton = pytest.importorskip("triton")
PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
pytestmark = pytest.mark.skipif(not PTXAS.exists(), reason="needs the ptxas that Triton ships (Linux x86-64)")


def run_report(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the interpreter replaces the kernels
    done = subprocess.run([sys.executable, "-m", "kernels.ptxas_report", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_report_lists_each_kernel_of_the_step_with_registers():
    out = run_report("--model", "tim4rec", "--batch", "4", "--seq-len", "8", "--hidden", "16", "--n-items", "30",
                     "--amp", "bf16")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip().startswith("_")}
    for name in ("_ssd_fwd_kernel", "_ssd_bwd_kernel", "_conv_fwd_kernel", "_conv_bwd_kernel"):
        assert name in rows, out
        registers = int(rows[name][4])  # kernel, pointers, warps, compile_s, registers, ...
        assert 16 <= registers <= 255, rows[name]
    assert "bf16" in rows["_ssd_fwd_kernel"][1]  # autocast reached the kernels' inputs


def test_report_refuses_the_interpreter():
    done = subprocess.run([sys.executable, "-m", "kernels.ptxas_report", "--model", "sasrec", "--batch", "2",
                           "--seq-len", "4", "--hidden", "8", "--n-items", "10"], cwd=REPO,
                          env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "unset TRITON_INTERPRET" in done.stderr
