"""Benchmark the norms over the last dimension, forward + backward: our Triton kernels vs PyTorch (the layer norm,
``F.layer_norm``; the SSD mixer's gated RMS norm, a chain of PyTorch ops), at the models' widths and the batch
shapes they train with.

    python suites/bench_norm.py --out DIR
    python suites/bench_norm.py --ln-grid [--ln-widths 64,128,256]   # our layer norm's launch settings, printed

Writes one result file (kind "kernel") per case: median ms (triton.testing.do_bench after warm-up), the
kernels' own time replayed as a CUDA graph (``graph_ms``: the eager median of these small calls is mostly the
host's launches, part 13) and peak GPU memory above the inputs, with the card's name.
The bytes floor of one call: the layer norm reads x and writes y (forward), reads x and dy and writes dx
(backward), 5 * rows * C elements; the gated norm also reads z twice and writes dz, 8 * rows * C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bench_common import fwd_bwd_record  # noqa: E402

from seqrec.results import write_result  # noqa: E402

# layer norm: hidden 64 and 256; gated RMS norm: d_inner 128 (hidden 64)
CASES = [("layer_norm", dict(batch=b, seqlen=L, channels=c)) for b, L, c in ((2048, 50, 64), (256, 200, 64),
                                                                             (2048, 50, 256))]
CASES += [("gated_rms_norm", dict(batch=b, seqlen=L, channels=128)) for b, L in ((2048, 50), (256, 200))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="directory for the result files")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--ln-grid", action="store_true",
                    help="print fwd+bwd times of our layer norm at (2048, 50, width) over its launch settings instead")
    ap.add_argument("--ln-widths", default="256", help="--ln-grid's widths (hidden sizes), comma-separated")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_norm: needs a CUDA device", file=sys.stderr)
        return 2
    if args.ln_grid:
        return ln_grid(args.dtypes.split(","), [int(w) for w in args.ln_widths.split(",")])
    if args.out is None:
        ap.error("--out is required (except with --ln-grid)")
    from kernels.norm import gated_rms_norm, layer_norm

    ops = {"layer_norm": lambda backend: lambda x, weight, bias: layer_norm(x, weight, bias, 1e-12, backend),
           "gated_rms_norm": lambda backend: lambda x, weight, bias: gated_rms_norm(x, bias, weight, 1e-5, backend)}

    card = torch.cuda.get_device_name()
    g = torch.Generator(device="cuda").manual_seed(0)
    for op, case in CASES:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            shape = (case["batch"], case["seqlen"], case["channels"])
            inputs = dict(x=torch.randn(shape, generator=g, device="cuda").to(dtype),
                          weight=torch.randn(case["channels"], generator=g, device="cuda").to(dtype),
                          bias=torch.randn(case["channels"], generator=g, device="cuda").to(dtype))
            if op == "gated_rms_norm":  # bias stands for z, (B, L, C) like x; weight fp32 as the model's
                inputs.update(bias=torch.randn(shape, generator=g, device="cuda").to(dtype),
                              weight=inputs["weight"].float())
            dout = torch.randn(shape, generator=g, device="cuda").to(dtype)
            elements = (8 if op == "gated_rms_norm" else 5) * inputs["x"].numel()
            result = {"kind": "kernel", "op": op, "phase": "fwd+bwd", "dtype": dtype_name, **case,
                      "device_name": card, "min_bytes": elements * inputs["x"].element_size(),
                      "timer": "triton.testing.do_bench median", "impls": {}}
            for name, backend in (("triton", "triton"), ("torch_ref", "torch")):
                fn = ops[op](backend)
                rec = fwd_bwd_record(fn, inputs, dout)
                result["impls"][name] = rec
                print(f"{card} {op} {case} {dtype_name} {name}: {rec}", flush=True)
            tag = f"b{case['batch']}-l{case['seqlen']}-c{case['channels']}-{dtype_name}"
            write_result(args.out / f"kernel-{op}-{tag}.json", result)
    return 0


LN_GRID = {"TILE": (1024, 2048, 4096, 8192), "NUM_WARPS": (2, 4, 8, 16), "MAX_BWD_PROGRAMS": (512, 1024, 2048)}


def ln_grid(dtypes: list[str], widths: list[int], grid: dict[str, tuple[int, ...]] = LN_GRID) -> int:
    """Print fwd+bwd times (eager median, graph) of our layer norm at (2048, 50, width) for each tile size, warp
    count and cap on backward programs: parts 14 and 15 timed it at 0.346 ms a graph in bf16 against PyTorch's
    0.289 and its own fp32 0.211 at width 256; part 16's grid there put 2 warps first in both dtypes, which the
    other widths must confirm before the default moves. The module's settings are restored after."""
    from itertools import product

    from kernels.norm import fused, layer_norm

    saved = {k: getattr(fused, k) for k in grid}
    card = torch.cuda.get_device_name()
    g = torch.Generator(device="cuda").manual_seed(0)
    try:
        for width, dtype_name in product(widths, dtypes):
            dtype = getattr(torch, dtype_name)
            inputs = {k: torch.randn(shape, generator=g, device="cuda").to(dtype)
                      for k, shape in (("x", (2048, 50, width)), ("weight", (width,)), ("bias", (width,)))}
            dout = torch.randn(inputs["x"].shape, generator=g, device="cuda").to(dtype)
            for values in product(*grid.values()):
                setting = dict(zip(grid, values, strict=True))
                for k, v in setting.items():
                    setattr(fused, k, v)
                rec = fwd_bwd_record(lambda x, weight, bias: layer_norm(x, weight, bias, 1e-12, "triton"), inputs,
                                     dout)
                print(f"{card} layer_norm (2048, 50, {width}) {dtype_name} {setting}: {rec}", flush=True)
    finally:
        for k, v in saved.items():
            setattr(fused, k, v)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
