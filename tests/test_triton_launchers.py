"""kernels.triton_launchers: the C launchers (and the driver's module) a launch of our kernels would build, built
into Triton's cache ahead, where Triton's own ``CudaLauncher`` then finds them: checked against Triton's code with
its build replaced by a failure, on a stub libcuda (no GPU here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
triton = pytest.importorskip("triton")
PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
pytestmark = pytest.mark.skipif(not PTXAS.exists(), reason="needs the ptxas that Triton ships (Linux x86-64)")

SCRIPT = r"""
import json, sys, types
import torch
import triton.runtime.build as build
from triton.backends.nvidia import driver as nv
import kernels.triton_launchers as tl_
from kernels.ptxas_report import compile_only
from kernels.norm.fused import layer_norm_fused

prefill = sys.argv[1] == "prefill"
kernels = []
real = tl_.cache_launcher
if prefill:
    tl_.cache_launcher = lambda k: kernels.append(k) or real(k)
x = torch.randn(6, 16, requires_grad=True)
w, b = torch.ones(16, requires_grad=True), torch.zeros(16, requires_grad=True)
with compile_only(90, 132, cold=False, launchers=prefill, take=None) as compiled:
    layer_norm_fused(x, w, b, 1e-5).sum().backward()
if not prefill:  # the kernels alone, compiled into the same cache: their launchers were never built
    import triton.runtime.jit as jit
    kernels = []
    run = jit.JITFunction.run
    with compile_only(90, 132, cold=False) as compiled:
        jit.JITFunction.run = lambda self, *a, grid, warmup, **k: kernels.append(
            run(self, *a, grid=grid, warmup=True, **k))
        layer_norm_fused(x, w, b, 1e-5).sum().backward()

def no_build(name, *a, **k):
    raise RuntimeError(f"built {name}")
build._build = no_build  # from here on, a module not in the cache fails
dummy = types.SimpleNamespace(launch=None, PyCUtensorMap=None, load_binary=None, get_device_properties=None,
                              cuOccupancyMaxActiveClusters=None, set_printf_fifo_size=None, fill_tma_descriptor=None)
build._load_module_from_path = lambda name, path: dummy
found, missing = 0, []
for k in kernels:
    try:
        nv.CudaLauncher(k.src, k.metadata)
        found += 1
    except RuntimeError as e:
        missing.append(str(e))
try:
    nv.CudaUtils()
    utils = True
except RuntimeError:
    utils = False
print(json.dumps({"kernels": len(kernels), "found": found, "missing": missing, "utils": utils}))
"""


def run_script(mode: str, cache: Path, libcuda: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the interpreter replaces the kernels
    env.update(TRITON_CACHE_DIR=str(cache), TRITON_LIBCUDA_PATH=str(libcuda), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def stub_libcuda(tmp_path) -> Path:
    """A folder holding a libcuda.so.1 that defines nothing: enough to link a launcher, not to load it."""
    d = tmp_path / "libcuda"
    d.mkdir()
    (d / "stub.c").write_text("void seqrec_stub(void) {}\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(d / "libcuda.so.1"), str(d / "stub.c")], check=True)
    return d


def test_prebuilt_launchers_are_the_ones_triton_looks_up(tmp_path, stub_libcuda):
    prefilled = run_script("prefill", tmp_path / "a", stub_libcuda)
    assert prefilled["kernels"] >= 2  # the layer norm's forward and backward
    assert prefilled["found"] == prefilled["kernels"] and not prefilled["missing"] and prefilled["utils"]
    bare = run_script("bare", tmp_path / "b", stub_libcuda)  # kernels compiled, launchers not: Triton would build
    assert bare["kernels"] == prefilled["kernels"] and bare["found"] == 0 and not bare["utils"]
    assert all("__triton_launcher" in m for m in bare["missing"])


def test_nothing_is_built_without_libcuda(tmp_path, monkeypatch):
    from triton.backends.nvidia import driver as nv

    from kernels.triton_launchers import cache_cuda_utils

    monkeypatch.setenv("TRITON_LIBCUDA_PATH", str(tmp_path))  # no libcuda.so.1 there
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "cache"))
    nv.libcuda_dirs.cache_clear()
    nv.library_dirs.cache_clear()
    try:
        assert cache_cuda_utils() is False
        assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.so"))
    finally:
        nv.libcuda_dirs.cache_clear()
        nv.library_dirs.cache_clear()
