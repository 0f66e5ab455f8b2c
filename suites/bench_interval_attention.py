"""Benchmark TiSASRec interval attention, forward + backward: our Triton kernel vs the naive reference
(materialises (B, L, L, d)) vs the lean PyTorch reference, at L=200, hidden 64.

    python suites/bench_interval_attention.py --out DIR

Writes one result file (kind "kernel") per case: median ms (triton.testing.do_bench after warm-up) and peak
GPU memory above the inputs (max_memory_allocated after reset_peak_memory_stats), with the card's name.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bench_common import (  # noqa: E402
    fwd_bwd_graph_ms,
    fwd_bwd_host_ms,
    graph_record,
    measure_fwd_bwd,
    print_kernel_profile,
    record_provider,
)

from seqrec.results import write_result  # noqa: E402

CASES = [dict(batch=b, heads=h, seqlen=200, hidden=64, num_intervals=257) for b in (256, 2048) for h in (1, 2)]


def make_inputs(batch, heads, seqlen, hidden, num_intervals, dtype, device="cuda"):
    g = torch.Generator(device=device).manual_seed(0)
    dh = hidden // heads

    def rnd(*shape):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32).to(dtype)

    seq_len = torch.randint(1, seqlen + 1, (batch,), generator=g, device=device)
    times = torch.randint(0, 3, (batch, seqlen), generator=g, device=device).cumsum(-1)   # scaled, sorted
    pos = torch.arange(seqlen, device=device)
    times = torch.where(pos[None] < seq_len[:, None], times, 0)
    return dict(q=rnd(batch, heads, seqlen, dh), k=rnd(batch, heads, seqlen, dh), v=rnd(batch, heads, seqlen, dh),
                interval_k=rnd(num_intervals, heads, dh), interval_v=rnd(num_intervals, heads, dh),
                times=times, seq_len=seq_len)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="directory for the result files")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--dropout", type=float, default=0.2, help="attention dropout during the timed training step")
    ap.add_argument("--naive-max-batch", type=int, default=256)
    ap.add_argument("--slow-steps", type=int, default=3,
                    help="calls timed for the naive reference beyond batch 256 (seconds each; no do_bench)")
    ap.add_argument("--heads", default="1,2", help="comma list of head counts")
    ap.add_argument("--batches", default="256,2048", help="comma list of batch sizes")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="also print each timed provider's top CUDA kernels over STEPS steps (torch.profiler)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_interval_attention: needs a CUDA device", file=sys.stderr)
        return 2
    from kernels.interval_attention import interval_attention, interval_attention_lean_ref, interval_attention_ref

    card = torch.cuda.get_device_name()
    p = args.dropout
    impls = {"triton": lambda **kw: interval_attention(**kw, dropout_p=p, backend="triton"),
             "naive_ref": lambda **kw: interval_attention_ref(**kw, dropout_p=p),
             "lean_ref": lambda **kw: interval_attention_lean_ref(**kw, dropout_p=p)}
    for case in [c for c in CASES if str(c["heads"]) in args.heads.split(",")
                 and str(c["batch"]) in args.batches.split(",")]:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            inputs = make_inputs(**case, dtype=dtype)
            dout = torch.randn_like(inputs["q"])
            result = {"kind": "kernel", "op": "interval_attention", "phase": "fwd+bwd", "dtype": dtype_name,
                      "dropout_p": p, **case, "device_name": card, "timer": "triton.testing.do_bench median",
                      "impls": {}}
            for name, fn in impls.items():
                rec: dict = {}
                if name == "naive_ref" and case["batch"] > args.naive_max_batch:
                    # (B, L, L, d) interval tensors + their index_put backward: ~4 s a step already at B=256
                    rec.update(status="skipped", reason=f"naive reference only up to batch {args.naive_max_batch} "
                               "(interval tensors of B*L*L*d elements; use --naive-max-batch)")
                    result["impls"][name] = rec
                    print(f"{card} interval_attention {case} {dtype_name} {name}: {rec}", flush=True)
                    continue
                # the naive reference beyond batch 256: seconds a step, timed over --slow-steps calls
                slow = name == "naive_ref" and case["batch"] > 256
                rec.update(record_provider(partial(measure_fwd_bwd, fn, inputs, dout, warmup=5, rep=100,
                                                   steps=args.slow_steps if slow else None)))
                if slow:
                    rec["timer"] = f"median of {args.slow_steps} calls, CUDA events"
                if name == "triton" and rec["status"] == "ok":  # launches and Python: is the step host-bound?
                    rec["host_ms"] = fwd_bwd_host_ms(fn, inputs, dout)
                if name in ("triton", "lean_ref") and rec["status"] == "ok":  # its kernels alone, as a graph
                    rec.update(graph_record("graph_ms", partial(fwd_bwd_graph_ms, fn, inputs, dout)))
                if args.profile and rec["status"] == "ok":
                    print_kernel_profile(fn, inputs, dout, f"{name} {case} {dtype_name}", steps=args.profile)
                result["impls"][name] = rec
                print(f"{card} interval_attention {case} {dtype_name} {name}: {rec}", flush=True)
            tag = f"b{case['batch']}-h{case['heads']}-l{case['seqlen']}-d{case['hidden']}-{dtype_name}"
            write_result(args.out / f"kernel-interval_attention-{tag}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
