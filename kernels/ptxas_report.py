"""Registers, spills and compile seconds of the Triton kernels one training step launches, compiled for an NVIDIA
target (default sm_90: H100, H200) on any machine, no GPU needed.

    python -m kernels.ptxas_report --model tim4rec [--batch 2048 --seq-len 50 --hidden 64 --amp bf16 --sms 132]

The step (forward, loss over all items, backward) runs on CPU tensors with our Triton backend. Each kernel launch
is compiled by Triton for the target with the launch's own specialization (dtypes, constexprs, alignments,
warps) and not run: outputs stay uninitialised, only the launches matter. ``--sms`` stands in for the GPU's SM
count where a launch sizes its grid by it (the conv backward's row programs). ptxas -v on each kernel's PTX gives
the registers a thread and the spill bytes; a thread over 128 registers caps a memory-bound kernel at a quarter of
the SM's warps, spills go through local memory. Compile seconds are this machine's (the cold first step pays
them once per kernel and specialization).

Must run where Triton was imported without ``TRITON_INTERPRET`` (the interpreter replaces the kernels).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch


@dataclass
class Compiled:
    """One compiled kernel specialization."""

    name: str
    signature: str  # the pointer arguments' dtypes, e.g. "bf16/fp32"
    num_warps: int
    seconds: float
    ptx: str


class _CompileOnlyDriver:
    """Triton's active driver where no GPU is: the target to compile for, device 0, stream 0."""

    def __init__(self, arch: int):
        from triton.backends.compiler import GPUTarget

        self.target = GPUTarget("cuda", arch, 32)

    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def get_current_target(self):
        return self.target

    def get_active_torch_device(self):
        return torch.device("cpu")

    def is_active(self):
        return True


def launch_signature(name: str, args: tuple, kwargs: dict) -> str:
    """What a launch's specialization depends on, as text: the kernel; each tensor's dtype and 16-byte alignment;
    each int's being 1 or a multiple of 16; other values (constexprs, warps) as they are. Equal for launches of
    one compiled specialization (close enough to share work out between processes: kernels.prewarm)."""
    def part(v):
        if isinstance(v, torch.Tensor):
            return f"{v.dtype}:{v.data_ptr() % 16 == 0}"
        if isinstance(v, bool) or not isinstance(v, int):
            return repr(v)
        return f"int:{v == 1}:{v % 16 == 0}"

    return ";".join([name, *map(part, args), *(f"{k}={part(v)}" for k, v in sorted(kwargs.items()))])


@contextmanager
def compile_only(arch: int = 90, sms: int = 132, cold: bool = True, take: Callable[[str], bool] | None = None,
                 launchers: bool = False, on_compiled: Callable[[], None] | None = None):
    """Within: a Triton launch compiles its kernel for sm_``arch`` and returns without running it; our kernels'
    backend "triton" is allowed on CPU tensors. ``cold``: Triton's cache is an empty folder (every kernel
    compiles, as on a fresh machine); else the cache in use (``TRITON_CACHE_DIR``), which the compiled kernels
    fill. ``take(launch_signature)``: whether to compile a launch at all (default every one). ``launchers``: also
    build each compiled kernel's C launcher, and the driver's module, into the cache (``kernels.triton_launchers``;
    only where libcuda is found). ``on_compiled()``: called after each launch that compiled (or found) its kernel,
    its launcher cached. Yields the list the compiled kernels are appended to."""
    import triton.runtime.jit as jit
    from triton.runtime.driver import driver

    import kernels.conv.fused as conv
    import kernels.dispatch as dispatch
    from kernels.triton_launchers import cache_cuda_utils, cache_launcher

    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError("ptxas_report: unset TRITON_INTERPRET (the interpreter replaces the kernels)")
    compiled: list[Compiled] = []
    run, interpret, row_programs = jit.JITFunction.run, dispatch.triton_interpret, conv._row_programs

    def compile_launch(self, *args, grid, warmup, **kwargs):
        if take is not None and not take(launch_signature(self.fn.__name__, args, kwargs)):
            return
        start = time.perf_counter()
        kernel = run(self, *args, grid=grid, warmup=True, **kwargs)
        seconds = time.perf_counter() - start
        if kernel is None:  # Triton's jit_cache_hook skipped the compilation (kernels.specializations)
            return
        if launchers:
            cache_launcher(kernel)
        if on_compiled is not None:
            on_compiled()
        sig = "/".join(sorted({v[1:] for v in kernel.src.signature.values() if v.startswith("*")}))
        if not any(c.name == self.fn.__name__ and c.ptx == kernel.asm["ptx"] for c in compiled):
            compiled.append(Compiled(self.fn.__name__, sig, kernel.metadata.num_warps, seconds, kernel.asm["ptx"]))

    def gpu_row_programs(n_tiles, n_cblocks, device, rows, per_sm=None):
        return row_programs(n_tiles, n_cblocks, device, rows if rows is not None else
                            max(1, (per_sm or conv.PROGRAMS_PER_SM) * sms // n_cblocks))

    active = driver._active  # None until Triton first needs a driver (there is none without a GPU)
    cache = os.environ.get("TRITON_CACHE_DIR")
    tmp = tempfile.TemporaryDirectory()
    if cold:
        os.environ["TRITON_CACHE_DIR"] = tmp.name  # every kernel compiles here, as on a fresh machine
    driver.set_active(_CompileOnlyDriver(arch))
    if launchers:
        cache_cuda_utils()
    jit.JITFunction.run, dispatch.triton_interpret, conv._row_programs = compile_launch, lambda: True, gpu_row_programs
    try:
        yield compiled
    finally:
        jit.JITFunction.run, dispatch.triton_interpret, conv._row_programs = run, interpret, row_programs
        driver._active = active
        if cache is None:
            os.environ.pop("TRITON_CACHE_DIR", None)
        else:
            os.environ["TRITON_CACHE_DIR"] = cache
        tmp.cleanup()


def ptxas_usage(ptx: str, arch: int = 90) -> dict[str, int]:
    """registers (a thread), spill_stores / spill_loads (bytes), smem (bytes) of one kernel's PTX, from the ptxas
    that Triton ships (``ptxas -v``)."""
    import triton

    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        gpu = f"sm_{arch}a" if arch == 90 else f"sm_{arch}"
        log = subprocess.run([ptxas, "-v", f"--gpu-name={gpu}", path, "-o", os.path.join(tmp, "k.cubin")],
                             capture_output=True, text=True, check=True).stderr

    def number(pattern: str) -> int:
        found = re.findall(pattern, log)
        return int(found[-1]) if found else 0

    return {"registers": number(r"Used (\d+) registers"), "spill_stores": number(r"(\d+) bytes spill stores"),
            "spill_loads": number(r"(\d+) bytes spill loads"), "smem": number(r"(\d+) bytes smem")}


def step_kernels(model_name: str, batch: int, seq_len: int, hidden: int, n_items: int, amp: str | None,
                 arch: int = 90, sms: int = 132) -> pd.DataFrame:
    """One row per kernel specialization the training step launches: name, its pointers' dtypes, warps, compile
    seconds (Triton's cache empty), registers, spill_stores, spill_loads, smem."""
    from seqrec.workloads import build_for_workload, synthetic_batch

    torch.manual_seed(0)
    model = build_for_workload(model_name, hidden, seq_len, n_items, "cpu", backend="triton").train()
    b = synthetic_batch(batch, seq_len, n_items, "cpu")
    with compile_only(arch, sms) as compiled:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            loss = model.loss(b.item_seq, b.seq_len, b.time_seq, b.target)
        loss.float().backward()
    rows = [{"kernel": c.name, "pointers": c.signature, "warps": c.num_warps, "compile_s": c.seconds,
             **ptxas_usage(c.ptx, arch)} for c in compiled]
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--seq-len", dest="seq_len", type=int, default=50)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--n-items", dest="n_items", type=int, default=12101, help="catalogue size (amazon-beauty's)")
    ap.add_argument("--amp", choices=["bf16"], default=None, help="the forward under bf16 autocast")
    ap.add_argument("--arch", type=int, default=90, help="compute capability x 10 (90: H100, H200)")
    ap.add_argument("--sms", type=int, default=132, help="SM count where a launch sizes its grid by it")
    args = ap.parse_args(argv)
    table = step_kernels(args.model, args.batch, args.seq_len, args.hidden, args.n_items, args.amp, args.arch,
                         args.sms)
    print(f"{args.model}, batch {args.batch}, L {args.seq_len}, hidden {args.hidden}, "
          f"{args.amp or 'fp32'}: {len(table)} kernel specializations for sm_{args.arch}, "
          f"{table['compile_s'].sum():.1f} s of compilation here\n")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
