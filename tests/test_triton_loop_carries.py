"""Triton compiled for sm_90 (Triton IR, no GPU needed) carries across the time loop every value the sequential
conv backward rotates through its windows.

Triton carries a name across a loop only where the body's dry run leaves it a value other than the one it entered
with, so ``dz3, dz2 = dz2, dz1`` starting from one shared zero would never be carried: dz[t+2], dz[t+3] stay zero
on a GPU (part 21's H200 tests: dx wrong by 70% of its scale), while the interpreter, plain Python, gets them right.
The CPU tests run the interpreter, so this compiles the kernel instead."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytest.importorskip("triton")

SCRIPT = """
import sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from kernels.conv import fused

fn = fused._conv_bwd_seq_k4_kernel
types = ["*fp32"] * 6 + ["i32"] * 11 + ["constexpr", "constexpr", "i32", "constexpr", "constexpr"]
signature = dict(zip(fn.arg_names, types, strict=True))
constexprs = {"HAS_BIAS": True, "SILU": sys.argv[1] == "silu", "BLOCK_C": 16, "BLOCK_K": 4}
src = ASTSource(fn, signature, constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()})
print(triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 1}).asm["ttir"])
"""


def loop_carried_names(ttir: str, bound: str) -> set[str]:
    """Names (SSA suffixes dropped) of the iter_args of the scf.for loops running to ``%bound``."""
    names = set()
    for line in ttir.splitlines():
        loop = re.search(rf"scf\.for .* to %{bound} step .*iter_args\(([^)]*)\)", line)
        if loop:
            names |= {re.sub(r"_\d+$", "", m) for m in re.findall(r"%(\w+) = %", loop.group(1))}
    return names


@pytest.mark.parametrize("activation", ["silu", "none"])
def test_sequential_conv_backward_carries_its_windows(activation):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the interpreter replaces the kernels
    done = subprocess.run([sys.executable, "-c", SCRIPT, activation], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    carried = loop_carried_names(done.stdout, "L")
    want = {"dz1", "dz2", "dz3", "x0", "xm1", "xm2", "xm3", "a0", "a1", "a2", "a3", "adb"}
    assert want <= carried, f"not carried across the time loop: {sorted(want - carried)} (carried: {sorted(carried)})"
