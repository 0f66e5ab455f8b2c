"""Bench of TiM4Rec's pointwise time MLP (1 -> 16 -> 1, SiLU, on every element of the (B, L, heads) features):
fwd+bwd, our fused Triton kernels (``kernels.scalar_mlp``) against the reference (nn.Linear's GEMMs of inner or
outer size 1, as TiM4Rec runs it by default), as a median of eager calls and as the kernels replayed in a CUDA graph
(``graph_ms``), with peak memory and the card's name. bf16: the reference under bf16 autocast (as a bf16 run
computes it), ours on bf16 features (fp32 inside).

    python suites/bench_time_mlp.py --out DIR
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bench_common import fwd_bwd_record  # noqa: E402

from seqrec.results import write_result  # noqa: E402

# TiM4Rec h64 (4 heads) at the campaign's batch 2048 x 50 and at 256 x 200; h256 (16 heads) at 2048 x 50
CASES = [dict(batch=b, seqlen=L, heads=h, width=16) for b, L, h in ((2048, 50, 4), (256, 200, 4), (2048, 50, 16))]


def make_inputs(batch, seqlen, heads, width, dtype, device="cuda"):
    g = torch.Generator(device=device).manual_seed(0)

    def rnd(*shape, dt=torch.float32):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32).to(dt)

    return dict(g=rnd(batch, seqlen, heads, dt=dtype), w1=rnd(width, 1), b1=rnd(width), w2=rnd(1, width) * 0.25,
                b2=rnd(1))


def reference(g, w1, b1, w2, b2, autocast: bool):
    from kernels.scalar_mlp import time_mlp_ref

    if not autocast:
        return time_mlp_ref(g, w1, b1, w2, b2)
    with torch.autocast("cuda", dtype=torch.bfloat16):  # fp32 features (as the model's), bf16 GEMMs
        return time_mlp_ref(g.float(), w1, b1, w2, b2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="directory for the result files")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_time_mlp: needs a CUDA device", file=sys.stderr)
        return 2
    from kernels import time_mlp

    card = torch.cuda.get_device_name()
    for case in CASES:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            inputs = make_inputs(**case, dtype=dtype)
            dout = torch.randn(inputs["g"].shape, device="cuda", dtype=dtype)
            elements = inputs["g"].numel()
            result = {"kind": "kernel", "op": "time_mlp", "phase": "fwd+bwd", "dtype": dtype_name, **case,
                      "device_name": card, "min_bytes": 4 * elements * inputs["g"].element_size(),
                      "timer": "triton.testing.do_bench median", "impls": {}}
            providers = {"triton": partial(time_mlp, backend="triton"),
                         "torch_ref": partial(reference, autocast=dtype == torch.bfloat16)}
            for name, fn in providers.items():
                rec = fwd_bwd_record(fn, inputs, dout)
                result["impls"][name] = rec
                print(f"{card} time_mlp {case} {dtype_name} {name}: {rec}", flush=True)
            tag = f"b{case['batch']}-l{case['seqlen']}-h{case['heads']}-w{case['width']}-{dtype_name}"
            write_result(args.out / f"kernel-time_mlp-{tag}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
