"""mamba-ssm from its source distribution (PyPI ships no wheel): unpack the sdist and put its Python package
on ``sys.path`` so that ``import mamba_ssm`` works (its Triton SSD kernels need nothing compiled; our dispatch
stubs the CUDA selective scan it imports unconditionally). ``bench_selective_scan.py`` also compiles that
CUDA scan from the same tree."""

from __future__ import annotations

import importlib
import os
import sys
import tarfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
SDIST_ENV = "SEQREC_MAMBA_SDIST"  # path of the sdist; default: the newest .whl/mamba_ssm-*.tar.gz of the repo


def default_workdir() -> Path:
    """Where the sdist is unpacked and its CUDA scan built: $TMPDIR/mamba (reused across processes)."""
    return Path(os.environ.get("TMPDIR", "/tmp")) / "mamba"


def unpack_mamba_sdist(sdist: Path, workdir: Path) -> Path:
    """Unpack ``sdist`` (``mamba_ssm-<version>.tar.gz``) under ``workdir`` once, put the tree on sys.path and
    forget any cached "mamba_ssm does not import"; returns the tree's root."""
    from kernels import dispatch

    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / sdist.name.removesuffix(".tar.gz")
    if not root.is_dir():
        with tarfile.open(sdist) as tar:
            tar.extractall(workdir, filter="data")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    dispatch.mamba_ssm_status.cache_clear()
    return root


MAMBA_NVCC_FLAGS = ["-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
                    "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
                    "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
                    "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "-lineinfo"]


def build_mamba_selective_scan(sdist: Path, workdir: Path) -> str | None:
    """Compile mamba-ssm's selective_scan_cuda for this card's arch only and put the sdist's package on the
    path; returns None on success, else the reason."""

    from torch.utils.cpp_extension import load

    root = unpack_mamba_sdist(sdist, workdir)
    major, minor = torch.cuda.get_device_capability()
    arch = f"{major}{minor}"
    src = root / "csrc" / "selective_scan"
    sources = [str(src / "selective_scan.cpp")] + sorted(str(p) for p in src.glob("selective_scan_*.cu"))
    build_dir = workdir / "build"
    build_dir.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    try:
        mod = load(name="selective_scan_cuda", sources=sources, build_directory=str(build_dir),
                   extra_cflags=["-O3", "-std=c++17"],
                   extra_cuda_cflags=MAMBA_NVCC_FLAGS + ["-gencode", f"arch=compute_{arch},code=sm_{arch}"],
                   verbose=False)
    except Exception as e:  # compiler errors
        return f"build failed: {type(e).__name__}: {str(e)[-500:]}"
    print(f"built selective_scan_cuda for sm_{arch} in {time.perf_counter() - t0:.0f} s", flush=True)
    from kernels import dispatch

    dispatch.install_selective_scan_cuda(mod)  # also where mamba_ssm was imported with the stub before
    unpack_mamba_sdist(sdist, workdir)  # forgets a "does not import" cached before the build
    return None


def find_sdist() -> Path | None:
    """$SEQREC_MAMBA_SDIST, else the newest ``.whl/mamba_ssm-*.tar.gz`` in the repository, else None."""
    if os.environ.get(SDIST_ENV):
        return Path(os.environ[SDIST_ENV])
    found = sorted((REPO / ".whl").glob("mamba_ssm-*.tar.gz"))
    return found[-1] if found else None


_prepared: dict[str, str | None] = {}


def ensure_mamba_ssm(need_cuda_scan: bool) -> str | None:
    """Make mamba-ssm usable in this process, once: unpack its sdist and, for ``need_cuda_scan`` on a CUDA
    device, compile its selective scan (minutes, once per machine: the build directory is reused). Returns
    None when ready, else the reason (the model's dispatch then raises BackendUnavailable with it)."""
    key = "scan" if need_cuda_scan else "package"
    if key in _prepared:
        return _prepared[key]
    from kernels import dispatch

    sdist, reason = find_sdist(), None
    workdir = default_workdir()
    if dispatch.mamba_ssm_status() is not None:
        if sdist is None:
            reason = f"mamba_ssm is not installed and no sdist was found (.whl/mamba_ssm-*.tar.gz or ${SDIST_ENV})"
        else:
            unpack_mamba_sdist(sdist, workdir)
            reason = dispatch.mamba_ssm_status()
    if reason is None and need_cuda_scan and not dispatch.selective_scan_cuda_built():
        if sdist is None or not torch.cuda.is_available():
            reason = "mamba-ssm's CUDA selective scan is not built (needs its sdist and a CUDA device)"
        else:
            reason = build_mamba_selective_scan(sdist, workdir)
    _prepared[key] = reason
    return reason
