"""Benchmark the causal depthwise conv1d of the SSM blocks, forward + backward: our Triton kernel vs the PyTorch
reference (``F.conv1d`` with groups=C, which the models used before; PyTorch runs its ``conv_depthwise2d``
kernels there), at the shapes the models train with (K = 4).

    python suites/bench_conv.py --out DIR

Writes one result file (kind "kernel") per case: median ms (triton.testing.do_bench after warm-up), the
kernels' own time replayed as a CUDA graph (``graph_ms``: the eager median of these small calls is mostly the
host's launches, part 13) and peak GPU memory above the inputs, with the card's name.
The bytes floor of one call is reading x and writing y (forward), reading x and dy and writing dx (backward):
5 * B * L * C elements. With SiLU and K = 4 a third provider times our kernel with the backward's other path
(``kernels.conv.fused.BWD_SHARED_X``): ``triton_shared_x_bwd`` (each x shift loaded once per tile) while the
general path is the default, else ``triton_general_bwd``. With K = 4 and 16 channels or more one times the backward
that walks each sequence in time (``kernels.conv.fused.BWD_SEQUENTIAL``): ``triton_seq_bwd`` while the tiled one
is the default, else ``triton_tiled_bwd``. Below 16 channels another one times the other tile shape
(``kernels.conv.fused.NARROW_TILES``): ``triton_narrow_tiles`` while 16-wide tiles are the default, else
``triton_wide_tiles``.
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

# channels: TiM4Rec/SSD4Rec h64 conv over x, B, C (128 + 2 * 32); Mamba4Rec h64 d_inner; TiM4Rec h256 (512 + 128);
# TiM4Rec h64 time convs over its 4 heads (two a layer: a third of the step's conv calls)
CASES = [dict(batch=b, seqlen=L, channels=c, kernel_size=4)
         for b, L, c in ((2048, 50, 192), (2048, 50, 128), (256, 200, 192), (256, 200, 640), (2048, 50, 4))]


def make_inputs(batch, seqlen, channels, kernel_size, dtype, device="cuda"):
    g = torch.Generator(device=device).manual_seed(0)

    def rnd(*shape, dt=dtype):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32).to(dt)

    # x as the models pass it: a slice of a wider in_proj output (non-contiguous along the last dimension)
    wide = rnd(batch, seqlen, channels + 64)
    return dict(x=wide[..., :channels], weight=rnd(channels, kernel_size, dt=torch.float32) * 0.5,
                bias=rnd(channels, dt=torch.float32))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="directory for the result files")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--activations", default="silu,none")
    ap.add_argument("--seq-grid", action="store_true",
                    help="instead: time the sequential backward (SiLU, fwd+bwd) at each case of 16 channels or more "
                         "over its channels a program x programs a SM, against the tiled backward, printed")
    ap.add_argument("--bwd-grid", action="store_true",
                    help="instead: time our kernel (SiLU, fwd+bwd) at the first case over backward row tiles x warps x "
                         "BWD_SHARED_X, printed (the backward kernels hold 128-255 registers a thread at the "
                         "defaults, ptxas -v for sm_90: few warps per SM)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_conv: needs a CUDA device", file=sys.stderr)
        return 2
    from kernels.conv import causal_conv1d, fused

    if args.bwd_grid:
        return bwd_grid(args.dtypes.split(","))
    if args.seq_grid:
        return seq_grid(args.dtypes.split(","))

    card = torch.cuda.get_device_name()
    for case in CASES:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            for act_name in args.activations.split(","):
                act = None if act_name == "none" else act_name
                inputs = make_inputs(**case, dtype=dtype)
                dout = torch.randn(inputs["x"].shape, device="cuda", dtype=dtype)
                result = {"kind": "kernel", "op": "causal_conv1d", "phase": "fwd+bwd", "dtype": dtype_name,
                          "activation": act_name, **case, "device_name": card,
                          "min_bytes": 5 * inputs["x"].numel() * inputs["x"].element_size(),
                          "timer": "triton.testing.do_bench median", "impls": {}}
                default, narrow, seq_attr = fused.BWD_SHARED_X, fused.NARROW_TILES, fused.BWD_SEQUENTIAL
                seq = fused.sequential_bwd(4, fused.MIN_BLOCK_C)  # the default's choice (the environment's: None)
                # (name, backend, the fused module's settings against its defaults)
                providers = [("triton", "triton", {}), ("torch_ref", "torch", {})]
                if case["kernel_size"] == 4 and case["channels"] >= fused.MIN_BLOCK_C:  # where BWD_SEQUENTIAL applies
                    providers.insert(1, ("triton_tiled_bwd" if seq else "triton_seq_bwd", "triton",
                                         {"BWD_SEQUENTIAL": not seq}))
                if act == "silu" and case["kernel_size"] == 4:  # the tiled backward's other path, for comparison
                    providers.insert(1, ("triton_general_bwd" if default else "triton_shared_x_bwd", "triton",
                                         {"BWD_SHARED_X": not default, "BWD_SEQUENTIAL": False}))
                if case["channels"] < fused.MIN_BLOCK_C:  # tiles as narrow as the channels, or 16 wide
                    providers.insert(1, ("triton_wide_tiles" if narrow else "triton_narrow_tiles", "triton",
                                         {"NARROW_TILES": not narrow}))
                for name, backend, settings in providers:
                    for attr, value in settings.items():
                        setattr(fused, attr, value)
                    fn = partial(causal_conv1d, activation=act, backend=backend)
                    rec = fwd_bwd_record(fn, inputs, dout)
                    fused.BWD_SHARED_X, fused.NARROW_TILES, fused.BWD_SEQUENTIAL = default, narrow, seq_attr
                    result["impls"][name] = rec
                    print(f"{card} causal_conv1d {case} {dtype_name} {act_name} {name}: {rec}", flush=True)
                tag = (f"b{case['batch']}-l{case['seqlen']}-c{case['channels']}-k{case['kernel_size']}-{act_name}-"
                       f"{dtype_name}")
                write_result(args.out / f"kernel-causal_conv1d-{tag}.json", result)
    return 0


def bwd_grid(dtypes: list[str]) -> int:
    """Print fwd+bwd ms of our kernel (SiLU) at CASES[0] for each backward row tile, warp count and
    BWD_SHARED_X; the module's settings are restored after."""
    from kernels.conv import causal_conv1d, fused

    saved = fused.BWD_BLOCK_R, fused.NUM_WARPS, fused.BWD_SHARED_X
    card = torch.cuda.get_device_name()
    try:
        for dtype_name in dtypes:
            inputs = make_inputs(**CASES[0], dtype=getattr(torch, dtype_name))
            dout = torch.randn(inputs["x"].shape, device="cuda", dtype=inputs["x"].dtype)
            for shared in (True, False):
                for block_r in (16, 32):
                    for warps in (2, 4, 8):
                        fused.BWD_SHARED_X, fused.BWD_BLOCK_R, fused.NUM_WARPS = shared, block_r, warps
                        fn = partial(causal_conv1d, activation="silu", backend="triton")
                        rec = fwd_bwd_record(fn, inputs, dout)
                        print(f"{card} causal_conv1d {CASES[0]} {dtype_name} silu shared_x={shared} "
                              f"bwd_block_r={block_r} num_warps={warps}: {rec}", flush=True)
    finally:
        fused.BWD_BLOCK_R, fused.NUM_WARPS, fused.BWD_SHARED_X = saved
    return 0


def seq_grid(dtypes: list[str]) -> int:
    """Print fwd+bwd ms of our kernel (SiLU) at each K = 4 case of 16 channels or more: the tiled backward, then the
    sequential one for each SEQ_MAX_BLOCK_C and SEQ_PROGRAMS_PER_SM; the module's settings are restored after."""
    from kernels.conv import causal_conv1d, fused

    saved = fused.BWD_SEQUENTIAL, fused.SEQ_MAX_BLOCK_C, fused.SEQ_PROGRAMS_PER_SM
    card = torch.cuda.get_device_name()
    fn = partial(causal_conv1d, activation="silu", backend="triton")
    try:
        for case in (c for c in CASES if c["kernel_size"] == 4 and c["channels"] >= fused.MIN_BLOCK_C):
            for dtype_name in dtypes:
                inputs = make_inputs(**case, dtype=getattr(torch, dtype_name))
                dout = torch.randn(inputs["x"].shape, device="cuda", dtype=inputs["x"].dtype)
                fused.BWD_SEQUENTIAL = False
                print(f"{card} causal_conv1d {case} {dtype_name} silu tiled: {fwd_bwd_record(fn, inputs, dout)}",
                      flush=True)
                fused.BWD_SEQUENTIAL = True
                for block_c in (16, 32, 64):
                    for per_sm in (16, 32, 64):
                        fused.SEQ_MAX_BLOCK_C, fused.SEQ_PROGRAMS_PER_SM = block_c, per_sm
                        print(f"{card} causal_conv1d {case} {dtype_name} silu sequential max_block_c={block_c} "
                              f"programs_per_sm={per_sm}: {fwd_bwd_record(fn, inputs, dout)}", flush=True)
    finally:
        fused.BWD_SEQUENTIAL, fused.SEQ_MAX_BLOCK_C, fused.SEQ_PROGRAMS_PER_SM = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
