"""mamba-ssm from its source distribution (PyPI ships no wheel): unpack the sdist and put its Python package
on ``sys.path`` so that ``import mamba_ssm`` works (its Triton SSD kernels need nothing compiled; our dispatch
stubs the CUDA selective scan it imports unconditionally). ``bench_selective_scan.py`` also compiles that
CUDA scan from the same tree."""

from __future__ import annotations

import importlib
import sys
import tarfile
from pathlib import Path


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
