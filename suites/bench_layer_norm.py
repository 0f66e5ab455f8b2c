"""Benchmark the layer norm over the last dimension, forward + backward: our Triton kernel vs PyTorch's
(``F.layer_norm``), at the models' widths and the batch shapes they train with.

    python suites/bench_layer_norm.py --out DIR

Writes one result file (kind "kernel") per case: median ms (triton.testing.do_bench after warm-up) and peak
GPU memory above the inputs, with the card's name. The bytes floor of one call is reading x and writing y
(forward), reading x and dy and writing dx (backward): 5 * rows * C elements.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bench_common import measure_fwd_bwd, record_provider  # noqa: E402

from seqrec.results import write_result  # noqa: E402

CASES = [dict(batch=b, seqlen=L, channels=c) for b, L, c in ((2048, 50, 64), (256, 200, 64), (2048, 50, 256))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="directory for the result files")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_layer_norm: needs a CUDA device", file=sys.stderr)
        return 2
    from kernels.norm import layer_norm

    card = torch.cuda.get_device_name()
    g = torch.Generator(device="cuda").manual_seed(0)
    for case in CASES:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            shape = (case["batch"], case["seqlen"], case["channels"])
            inputs = dict(x=torch.randn(shape, generator=g, device="cuda").to(dtype),
                          weight=torch.randn(case["channels"], generator=g, device="cuda").to(dtype),
                          bias=torch.randn(case["channels"], generator=g, device="cuda").to(dtype))
            dout = torch.randn(shape, generator=g, device="cuda").to(dtype)
            result = {"kind": "kernel", "op": "layer_norm", "phase": "fwd+bwd", "dtype": dtype_name, **case,
                      "device_name": card, "min_bytes": 5 * inputs["x"].numel() * inputs["x"].element_size(),
                      "timer": "triton.testing.do_bench median", "impls": {}}
            for name, backend in (("triton", "triton"), ("torch_ref", "torch")):
                rec = record_provider(lambda backend=backend, inputs=inputs, dout=dout: measure_fwd_bwd(
                    lambda **kw: layer_norm(**kw, eps=1e-12, backend=backend), inputs, dout))
                result["impls"][name] = rec
                print(f"{card} layer_norm {case} {dtype_name} {name}: {rec}", flush=True)
            tag = f"b{case['batch']}-l{case['seqlen']}-c{case['channels']}-{dtype_name}"
            write_result(args.out / f"kernel-layer_norm-{tag}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
