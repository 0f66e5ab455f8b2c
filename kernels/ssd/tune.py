"""Launch settings of the fused SSD kernels, searched on the GPU at hand (not a timed test; a campaign runs it).

    python -m kernels.ssd.tune [--cases 2048x50,256x200] [--dtype float32]

Coordinate search from the current defaults (``kernels.ssd.fused``: LAUNCH's warps and stages for the dtype,
the 32-step chunk tile, BC_PER_HEAD, 3xTF32 dots, EXACT_LOWP_DOTS, SPLIT_BF16_DOTS): each knob in turn takes each
of its values with the others at their best so far, and keeps the value with the least forward+backward time
summed over the cases, replayed as a CUDA graph (the kernels' own time, what graphed training pays; part 5's
search ranked do_bench's eager medians, which hold as much host time as kernel time), tf32 off, the shapes of
``suites/bench_ssd.py``: H=4, P=N=32, G=1. Each line also shows the eager medians. Every setting's output and
gradients are compared with the defaults' (largest relative error over y and the eight gradients) so that a
setting that is fast but wrong shows. Prints one line per setting tried and the best at the end; changes nothing.
"""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from functools import partial

import torch

KNOBS = {  # knob -> values tried; the search starts from defaults(dtype), which takes warps and stages from LAUNCH
    "num_warps": [2, 1, 4],
    "num_stages": [1, None, 2, 3],
    "block_q": [32, 16, 64],
    "bc_per_head": [True, False],
    "precision": ["tf32x3", "ieee"],
    "exact_lowp_dots": [True, False],  # bf16/fp16 inputs only (see kernels.ssd.fused.EXACT_LOWP_DOTS)
    "split_bf16_dots": [False, True],  # bf16 inputs only (see kernels.ssd.fused.SPLIT_BF16_DOTS)
}


def defaults(dtype: torch.dtype) -> dict:
    """The current settings for inputs of ``dtype``: KNOBS' first values, warps and stages from ``fused.LAUNCH``."""
    from kernels.ssd import fused

    launch = fused._launch(dtype)
    return {**{k: v[0] for k, v in KNOBS.items()}, "num_warps": launch["num_warps"],
            "num_stages": launch.get("num_stages")}


@contextmanager
def settings(cfg: dict):
    """Apply a setting to ``kernels.ssd.fused``'s knobs (both LAUNCH entries) and the dot-precision override, then
    restore them."""
    from kernels.ssd import fused

    launch = {"num_warps": cfg["num_warps"], **({} if cfg["num_stages"] is None else {"num_stages": cfg["num_stages"]})}
    saved = (dict(fused.LAUNCH), fused.BC_PER_HEAD, fused.EXACT_LOWP_DOTS, os.environ.get("SEQREC_SSD_DOT_PRECISION"),
             fused.SPLIT_BF16_DOTS)
    fused.LAUNCH = {"fp32": launch, "lowp": launch}
    fused.BC_PER_HEAD, fused.EXACT_LOWP_DOTS = cfg["bc_per_head"], cfg["exact_lowp_dots"]
    fused.SPLIT_BF16_DOTS = cfg.get("split_bf16_dots", fused.SPLIT_BF16_DOTS)
    os.environ["SEQREC_SSD_DOT_PRECISION"] = cfg["precision"]
    try:
        yield
    finally:
        fused.LAUNCH, fused.BC_PER_HEAD, fused.EXACT_LOWP_DOTS = saved[0], saved[1], saved[2]
        fused.SPLIT_BF16_DOTS = saved[4]
        if saved[3] is None:
            os.environ.pop("SEQREC_SSD_DOT_PRECISION", None)
        else:
            os.environ["SEQREC_SSD_DOT_PRECISION"] = saved[3]


def run_case(cfg: dict, inp: dict, dy: torch.Tensor) -> tuple[list[torch.Tensor], float, float, float | None]:
    """(y and the gradients, forward ms, forward+backward ms, forward+backward ms replayed as a CUDA graph or None
    off CUDA) of the fused SSD under ``cfg``. The graph's time is the kernels' own
    (``suites/bench_common.fwd_bwd_graph_ms``): eager, do_bench's median also holds the host's launches, about as
    long as the kernels here (part 12: bf16 B = 2048, L = 50, 948 us eager against 394 us as a graph)."""
    from triton.testing import do_bench

    from kernels.ssd.fused import ssd_fused

    def fwd():
        return ssd_fused(**inp, block_q=cfg["block_q"])

    with settings(cfg):
        for t in inp.values():
            t.grad = None
        y = fwd()
        y.backward(dy)
        res = [y.detach()] + [t.grad.clone() for t in inp.values()]
        with torch.no_grad():
            f_ms = do_bench(fwd, return_mode="median")
        fb_ms = do_bench(lambda: fwd().backward(dy), grad_to_none=list(inp.values()), return_mode="median")
        fb_graph_ms = None
        if dy.is_cuda:
            _suites_on_path()
            from bench_common import fwd_bwd_graph_ms

            fb_graph_ms = fwd_bwd_graph_ms(partial(ssd_fused, block_q=cfg["block_q"]), inp, dy)
    return res, f_ms, fb_ms, fb_graph_ms


def _suites_on_path() -> None:
    """Put the repository's suites/ (bench_common, bench_ssd) on sys.path: main() and run_case() under pytest both
    need it (part 17's GPU test run failed on ``import bench_common`` without it)."""
    import sys
    from pathlib import Path

    suites = str(Path(__file__).resolve().parents[2] / "suites")
    if suites not in sys.path:
        sys.path.insert(0, suites)


def rel_err(got: list[torch.Tensor], ref: list[torch.Tensor]) -> float:
    return max(((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30)).item()
               for a, b in zip(got, ref, strict=True))


def main(argv: list[str] | None = None) -> None:
    _suites_on_path()
    from bench_ssd import make_inputs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="2048x50,256x200", help="comma list of BATCHxLEN")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = ap.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    dtype = getattr(torch, args.dtype)
    cases = []
    for spec in args.cases.split(","):
        b, L = (int(v) for v in spec.split("x"))
        inp = make_inputs(b, L, dtype)
        cases.append((spec, inp, torch.randn_like(inp["x"])))
    print(f"{torch.cuda.get_device_name()}, {args.dtype}, cases {args.cases}", flush=True)

    best = defaults(dtype)
    start = dict(best)
    refs, seen = {}, {}

    def measure(cfg: dict) -> float:
        key = tuple(cfg.values())
        if key not in seen:
            total, parts = 0.0, []
            try:
                for spec, inp, dy in cases:
                    res, f_ms, fb_ms, fb_graph_ms = run_case(cfg, inp, dy)
                    refs.setdefault(spec, res)
                    parts.append(f"{spec}: fwd {f_ms:.3f} fwd+bwd {fb_ms:.3f} ms, graph {fb_graph_ms:.3f} ms, "
                                 f"err {rel_err(res, refs[spec]):.1e}")
                    total += fb_graph_ms
            except Exception as e:  # a setting the compiler rejects (e.g. out of shared memory) is reported
                total, parts = float("inf"), [f"failed: {type(e).__name__}: {str(e)[:160]}"]
            seen[key] = total
            print(f"{cfg} | " + " | ".join(parts), flush=True)
        return seen[key]

    measure(best)
    for knob, values in KNOBS.items():
        best[knob] = min(dict.fromkeys([best[knob], *values]), key=lambda v: measure({**best, knob: v}))
    print(f"best: {best}, fwd+bwd as a graph summed over the cases {seen[tuple(best.values())]:.3f} ms "
          f"(defaults: {seen[tuple(start.values())]:.3f} ms)")


if __name__ == "__main__":
    main()
