"""Time-aware SSD mixer, forward + backward, on CUDA: our Triton kernel vs the PyTorch reference vs mamba-ssm.

    python suites/bench_ssd.py --out DIR [--cases 2048x50,256x200] [--dtype float32]

Times ``ssd(x, dt, A, B, C, D, dt_bias, time_dt)`` and the gradients of all eight inputs with
``triton.testing.do_bench`` (median, after a warm-up that compiles and autotunes), tf32 off. The
mamba_ssm variant is ``mamba_chunk_scan_combined`` plus the ``dt * time_dt`` product in PyTorch (its
Triton dots run in TF32 whatever torch's switch says); ``triton`` uses 3xTF32 dots (about fp32 accuracy),
``triton_tf32`` our kernel with plain TF32 dots, ``triton_split16`` our kernel with
``kernels.ssd.fused.SPLIT_BF16_DOTS`` (bf16 inputs: mixed dots as three bf16 products; the same as ``triton`` for fp32),
``triton_bf16_product`` with ``BF16_PRODUCT_DOTS`` (bf16 inputs: mixed dots as one bf16 product, mamba-ssm's
precision: what our dots' about-fp32 accuracy costs).
Prints the minimal bytes the mixer must move (forward: read the inputs once, write y; backward: read the
inputs and dy once, write every input gradient) and that traffic's time at the card's bandwidth (measured
with a large device-to-device copy). Writes ``DIR/bench_ssd-<card>.json`` (kind "kernel").
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import graph_ms, graph_record, host_ms, print_kernel_profile  # noqa: E402
from mamba_sdist import default_workdir, unpack_mamba_sdist  # noqa: E402

from kernels import dispatch  # noqa: E402
from kernels.ssd import fused, ssd  # noqa: E402
from seqrec.results import write_result  # noqa: E402

ARGS = ("x", "dt", "A", "B", "C", "D", "dt_bias", "time_dt")
H, P, G, N, CHUNK = 4, 32, 1, 32, 32


def make_inputs(b: int, L: int, dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator(device="cuda").manual_seed(seed)

    def rnd(*shape, scale=1.0, shift=0.0):
        t = torch.randn(*shape, generator=g, device="cuda") * scale + shift
        return t.to(dtype).requires_grad_()

    return {
        "x": rnd(b, L, H, P), "dt": rnd(b, L, H, scale=0.5), "A": (-torch.rand(H, device="cuda") - 0.5).to(dtype)
        .requires_grad_(), "B": rnd(b, L, G, N, scale=N ** -0.5), "C": rnd(b, L, G, N, scale=N ** -0.5),
        "D": rnd(H), "dt_bias": rnd(H, scale=0.5, shift=-1.0),
        "time_dt": (torch.rand(b, L, H, generator=g, device="cuda") * 2).to(dtype).requires_grad_(),
    }


def min_bytes(inp: dict[str, torch.Tensor]) -> dict[str, int]:
    """Forward: inputs once + y; backward: inputs + dy once + every input gradient."""
    ins = sum(t.numel() * t.element_size() for t in inp.values())
    out = inp["x"].numel() * inp["x"].element_size()
    return {"forward": ins + out, "backward": ins + out + ins, "forward_backward": 3 * ins + 2 * out}


def copy_bandwidth(do_bench) -> float:
    """Bytes per second of a 1 GiB device-to-device copy (read + write)."""
    bufs = [torch.empty(2 ** 28, device="cuda") for _ in range(2)]  # 1 GiB of fp32 each
    ms = do_bench(lambda: bufs[1].copy_(bufs[0]), warmup=10, rep=50, return_mode="median")
    return 2 * 2 ** 30 / (ms * 1e-3)


VARIANTS = ("triton", "triton_tf32", "triton_split16", "triton_bf16_product", "torch", "mamba_ssm")


def variants(names: list[str]) -> dict[str, str | None]:
    """Variant name -> None when available, else the reason it is skipped."""
    triton = None if dispatch.triton_importable() else "triton not importable"
    status = {n: triton for n in VARIANTS if n.startswith("triton")} | {"torch": None,
                                                                         "mamba_ssm": dispatch.mamba_ssm_status()}
    return {n: status[n] for n in names}


def bench_case(b: int, L: int, dtype: torch.dtype, do_bench, bandwidth: float, names: list[str],
               profile_steps: int = 0) -> list[dict]:
    """Each variant's record at (b, L); ``profile_steps``: also print the GPU kernels of that many fwd+bwd calls."""
    inp = make_inputs(b, L, dtype)
    leaves = [inp[k] for k in ARGS]
    dy = torch.randn_like(inp["x"])
    nbytes = min_bytes(inp)
    floor_ms = {k: v / bandwidth * 1e3 for k, v in nbytes.items()}
    rows = []
    split16_default, product_default = fused.SPLIT_BF16_DOTS, fused.BF16_PRODUCT_DOTS
    for name, reason in variants(names).items():
        row = {"batch": b, "seq_len": L, "heads": H, "head_dim": P, "groups": G, "d_state": N, "dtype": str(dtype),
               "variant": name, "min_bytes": nbytes, "floor_ms": floor_ms}
        if reason:
            rows.append({**row, "status": "skipped", "reason": reason})
            continue
        # triton_tf32: our kernel with torch's tf32 switch on, so its dots use plain TF32 as mamba-ssm's do
        torch.backends.cuda.matmul.allow_tf32 = name == "triton_tf32"
        backend = "triton" if name.startswith("triton") else name
        fused.SPLIT_BF16_DOTS = name == "triton_split16"
        fused.BF16_PRODUCT_DOTS = name == "triton_bf16_product"
        fwd = lambda: ssd(**inp, chunk_size=CHUNK, backend=backend)  # noqa: B023
        fwd_bwd = lambda: torch.autograd.grad(fwd(), leaves, dy)  # noqa: B023
        try:
            fwd_bwd()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            fwd_bwd()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            with torch.no_grad():
                fwd_ms = do_bench(fwd, warmup=25, rep=200, return_mode="median")
            fb_ms = do_bench(fwd_bwd, warmup=25, rep=200, return_mode="median")
            fb_host_ms = host_ms(fwd_bwd)  # near fb_ms: bound by the host's launches, not the GPU
            # the kernels alone, replayed as a CUDA graph (what a graphed training step pays)
            graph = graph_record("forward_backward_graph_ms", lambda: graph_ms(fwd_bwd))  # noqa: B023
            if profile_steps:  # where the time over the bytes floor goes, kernel by kernel
                print_kernel_profile(lambda **kw: ssd(**kw, chunk_size=CHUNK, backend=backend), inp, dy,  # noqa: B023
                                     f"{name} B={b} L={L} {dtype}", steps=profile_steps)
        except torch.OutOfMemoryError as e:
            rows.append({**row, "status": "skipped", "reason": f"out of memory: {e}"})
            torch.cuda.empty_cache()
            continue
        finally:
            torch.backends.cuda.matmul.allow_tf32 = False
            fused.SPLIT_BF16_DOTS, fused.BF16_PRODUCT_DOTS = split16_default, product_default
        rows.append({**row, "status": "ok", "forward_ms": fwd_ms, "forward_backward_ms": fb_ms,
                     "forward_backward_host_ms": fb_host_ms, **graph,
                     "peak_memory_bytes": peak, "forward_backward_over_floor": fb_ms / floor_ms["forward_backward"]})
    by_name = {r["variant"]: r for r in rows if r["status"] == "ok"}
    if "triton" in by_name:
        for r in by_name.values():
            r["triton_speedup"] = r["forward_backward_ms"] / by_name["triton"]["forward_backward_ms"]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory for the JSON result")
    ap.add_argument("--cases", default="2048x50,256x200", help="comma list of BATCHxLEN")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--variants", default="triton,triton_tf32,torch,mamba_ssm",
                    help="comma list of triton, triton_tf32 (our kernel, TF32 dots), triton_split16 (our kernel, "
                         "SPLIT_BF16_DOTS), triton_bf16_product (our kernel, BF16_PRODUCT_DOTS), torch, mamba_ssm")
    ap.add_argument("--mamba-sdist", type=Path, default=None,
                    help="mamba_ssm sdist to import mamba_chunk_scan_combined from (when not installed)")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="also print each variant's GPU kernels over STEPS fwd+bwd calls (torch.profiler)")
    args = ap.parse_args(argv)
    if args.mamba_sdist is not None:
        unpack_mamba_sdist(args.mamba_sdist, default_workdir())
    names = [v.strip() for v in args.variants.split(",")]
    if bad := [v for v in names if v not in VARIANTS]:
        ap.error(f"--variants: unknown {bad}")
    cases = []
    for c in args.cases.split(","):
        m = re.fullmatch(r"(\d+)x(\d+)", c.strip())
        if not m:
            ap.error(f"--cases: {c!r} is not BATCHxLEN")
        cases.append((int(m[1]), int(m[2])))
    out_dir = Path(args.out)
    if not torch.cuda.is_available():
        path = write_result(out_dir / "bench_ssd-cpu.json", {"kind": "kernel", "op": "ssd", "status": "skipped",
                                                               "reason": "needs a CUDA device"})
        print(f"no CUDA device: nothing timed ({path})")
        return 0
    from triton.testing import do_bench

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = getattr(torch, args.dtype)
    card = torch.cuda.get_device_name()
    bandwidth = copy_bandwidth(do_bench)
    print(f"{card}: measured copy bandwidth {bandwidth / 1e12:.2f} TB/s; tf32 off; H={H} P={P} G={G} N={N}")
    rows = []
    for b, L in cases:
        case_rows = bench_case(b, L, dtype, do_bench, bandwidth, names, args.profile)
        rows += case_rows
        floor = case_rows[0]["floor_ms"]["forward_backward"]
        nb = case_rows[0]["min_bytes"]["forward_backward"]
        print(f"B={b} L={L} {args.dtype}: min bytes fwd+bwd {nb / 1e6:.1f} MB -> {floor * 1e3:.1f} us at that "
              "bandwidth")
        for r in case_rows:
            if r["status"] != "ok":
                print(f"  {r['variant']:>10}: skipped ({r['reason']})")
                continue
            print(f"  {r['variant']:>10}: fwd {r['forward_ms'] * 1e3:8.1f} us  fwd+bwd "
                  f"{r['forward_backward_ms'] * 1e3:8.1f} us (host {r['forward_backward_host_ms'] * 1e3:.0f} us, "
                  f"graph {r.get('forward_backward_graph_ms', float('nan')) * 1e3:.0f} us)  "
                  f"({r['forward_backward_over_floor']:.1f}x floor, "
                  f"triton is {r.get('triton_speedup', 0):.2f}x"
                  f" faster)  peak {r['peak_memory_bytes'] / 2 ** 20:.0f} MiB")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", card).strip("-").lower()
    path = write_result(out_dir / f"bench_ssd-{slug}-{args.dtype}.json", {
        "kind": "kernel", "op": "ssd", "device_name": card, "copy_bandwidth_bytes_per_s": bandwidth,
        "tf32": False, "timer": "triton.testing.do_bench median", "cases": rows,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
