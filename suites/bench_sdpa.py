"""Benchmark SASRec's attention, forward + backward, through each of PyTorch's SDPA backends that take it.

    python suites/bench_sdpa.py --out DIR

SASRec calls ``F.scaled_dot_product_attention`` with a boolean (B, 1, L, L) mask (causal, and keys limited to
the sequence: ``models.sasrec.causal_key_mask``) and attention dropout. In fp32 no flash kernel takes that, so
PyTorch picks the memory-efficient (cutlass) kernel: at ml-1m's shape (B = 2048, L = 200, 2 heads of 32) its
backward took 10.6 ms of SASRec's 27.5 ms compiled step (``results/full/logs/part14-anatomy-ml1m-compiled-fp32.txt``).
The math backend spells the same attention out in matmuls and a softmax over materialised (B, H, L, L) scores.
Both are timed here; their dropout draws differ (the efficient kernel draws its own), so outputs are compared
without dropout (``max_abs_diff_no_dropout``, against the math backend).

Writes one result file (kind "kernel", op "sasrec_attention") per case: median ms (triton.testing.do_bench after
warm-up), the kernels' own time replayed as a CUDA graph (``graph_ms``) and peak GPU memory above the inputs, with
the card's name. ``--tf32`` times every backend with CUDA's fp32 matmuls as TF32 products (``seqrec.runtime.
tf32_matmuls``, as a ``--tf32`` run trains; files tagged ``-tf32``), the reference still in IEEE fp32: what the math
backend's materialised products gain there against the memory-efficient kernel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_common import fwd_bwd_record  # noqa: E402

from models.sasrec import causal_key_mask  # noqa: E402
from models.sdpa_backend import BACKENDS  # noqa: E402
from seqrec.results import write_result  # noqa: E402
from seqrec.runtime import tf32_matmuls  # noqa: E402

# (batch, heads, seqlen, head dim): SASRec h64 (2 heads of 32) at ml-1m's L = 200 and amazon-beauty's 50; h256
CASES = [dict(batch=2048, heads=2, seqlen=200, head_dim=32), dict(batch=2048, heads=2, seqlen=50, head_dim=32),
         dict(batch=2048, heads=2, seqlen=200, head_dim=128)]


def backends() -> dict[str, list]:
    """The kernels timed, by the names ``SEQREC_SDPA_BACKEND`` takes (``models.sdpa_backend``), and PyTorch's pick."""
    return {"efficient": [BACKENDS["efficient"]], "math": [BACKENDS["math"]],
            "default": [BACKENDS[name] for name in ("flash", "efficient", "cudnn", "math")]}


def attention(backend: list, dropout_p: float):
    """(q, k, v (B, H, L, Dh), mask (B, 1, L, L) bool) -> (B, H, L, Dh) through the SDPA ``backend`` list."""
    from torch.nn.attention import sdpa_kernel

    def fn(q, k, v, mask):
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)

    return fn


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="directory for the result files")
    ap.add_argument("--dtypes", default="float32")
    ap.add_argument("--dropout", type=float, default=0.2, help="attention dropout (SASRec's attn_dropout)")
    ap.add_argument("--tf32", action="store_true", help="fp32 matmuls as TF32 products while timing")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_sdpa: needs a CUDA device", file=sys.stderr)
        return 2
    card = torch.cuda.get_device_name()
    g = torch.Generator(device="cuda").manual_seed(0)
    for case in CASES:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            shape = (case["batch"], case["heads"], case["seqlen"], case["head_dim"])
            seq_len = torch.randint(1, case["seqlen"] + 1, (case["batch"],), generator=g, device="cuda")
            inputs = {name: torch.randn(shape, generator=g, device="cuda").to(dtype) for name in "qkv"}
            inputs["mask"] = causal_key_mask(seq_len, case["seqlen"])
            dout = torch.randn(shape, generator=g, device="cuda").to(dtype)
            result = {"kind": "kernel", "op": "sasrec_attention", "phase": "fwd+bwd", "dtype": dtype_name, **case,
                      "dropout_p": args.dropout, "tf32": args.tf32, "device_name": card,
                      "timer": "triton.testing.do_bench median", "impls": {}}
            with torch.no_grad():
                ref = attention(backends()["math"], 0.0)(**inputs)  # IEEE fp32 (the flag untouched)
            for name, backend in backends().items():
                fn = attention(backend, args.dropout)
                with tf32_matmuls(args.tf32):
                    rec = fwd_bwd_record(fn, inputs, dout)
                    if rec["status"] == "ok":
                        with torch.no_grad():
                            got = attention(backend, 0.0)(**inputs)
                        rec["max_abs_diff_no_dropout"] = float((got.float() - ref.float()).abs().max())
                result["impls"][name] = rec
                print(f"{card} sasrec_attention {case} {dtype_name}{' tf32' * args.tf32} {name}: {rec}", flush=True)
            tag = f"b{case['batch']}-h{case['heads']}-l{case['seqlen']}-d{case['head_dim']}-{dtype_name}"
            tag += "-tf32" * args.tf32
            write_result(args.out / f"kernel-sasrec_attention-{tag}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
