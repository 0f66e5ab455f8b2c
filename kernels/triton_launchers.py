"""Triton's host-side C modules, built into its cache ahead of the first launch.

Besides the kernel itself, the first launch of each kernel specialization makes Triton (3.6, NVIDIA backend) write
a C launcher for the kernel's signature and build it with the host's C compiler (``CudaLauncher``), and the first
use of the driver builds ``cuda_utils``: a gcc run each, once per distinct module, cached by the hash of its source
(TiM4Rec's bf16 step and evaluation at amazon-beauty's shapes: 21 kernel specializations, 5.9 s to compile, and 9
modules, 1.2 s to build, on this project's 2-core CPU machine). ``kernels.prewarm``'s processes compile the
kernels ahead but never launch them, so a prewarmed run still built every launcher on its critical path (most
likely the 11 cache entries part 10's prewarm GPU test found its step writing). ``cache_launcher`` builds a
compiled kernel's launcher where the launch would look for it; ``cache_cuda_utils`` the driver's module.

Building links against ``libcuda.so.1`` (the driver's library: a GPU host's, whether or not the process uses its
GPU); where none is found (``TRITON_LIBCUDA_PATH``, ldconfig) nothing is built and both return False.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any


def _build_into_cache(src: str, name: str) -> bool:
    """Build C ``src`` as module ``name`` into Triton's cache under the key ``compile_module_from_src`` uses (the
    source and the platform); True once it is there, False where libcuda is not found."""
    from triton.backends.nvidia import driver as nv
    from triton.runtime.build import _build, platform_key
    from triton.runtime.cache import get_cache_manager

    try:
        library_dirs = nv.library_dirs()
    except (AssertionError, OSError, subprocess.CalledProcessError):  # no driver library: nothing to link against
        return False
    if not any(os.path.exists(os.path.join(d, "libcuda.so.1")) for d in library_dirs):  # TRITON_LIBCUDA_PATH's
        return False
    cache = get_cache_manager(hashlib.sha256((src + platform_key()).encode("utf-8")).hexdigest())
    filename = f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if cache.get_file(filename) is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{name}.c")
            Path(path).write_text(src)
            so = _build(name, path, tmp, library_dirs, nv.include_dirs, nv.libraries, [])
            cache.put(Path(so).read_bytes(), filename, binary=True)
    return True


def launcher_source(kernel: Any) -> str:
    """The C source Triton's ``CudaLauncher`` writes for ``kernel`` (a ``CompiledKernel``: its ``src`` and
    ``metadata``), derived the way it derives it."""
    from triton.backends.nvidia.driver import make_launcher

    src = kernel.src
    constants = src.constants if hasattr(src, "constants") else {}
    constants = {((src.fn.arg_names.index(k),) if isinstance(k, str) else k): v for k, v in constants.items()}
    return make_launcher(constants, dict(src.signature), getattr(kernel.metadata, "tensordesc_meta", None))


def cache_launcher(kernel: Any) -> bool:
    """Build ``kernel``'s C launcher into Triton's cache (``TRITON_CACHE_DIR``); False where libcuda is not found."""
    return _build_into_cache(launcher_source(kernel), "__triton_launcher")


def cache_cuda_utils() -> bool:
    """Build the driver's ``cuda_utils`` module into Triton's cache; False where libcuda is not found."""
    from triton.backends.nvidia import driver as nv

    return _build_into_cache(Path(nv.dirname, "driver.c").read_text(), "cuda_utils")
