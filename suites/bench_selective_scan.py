"""Benchmark the Mamba1 selective scan, forward + backward: our Triton kernel (``triton``: the state-in-registers
sequential scan; result files measured at commit 746723d or before name our earlier chunked associative scan
``triton`` and this one ``triton_sequential``) vs the PyTorch reference vs mamba-ssm's compiled CUDA kernel (when
built, e.g. with ``--mamba-sdist``).

    python suites/bench_selective_scan.py --out DIR [--mamba-sdist mamba_ssm-2.3.2.post1.tar.gz]

Writes one result file (kind "kernel") per case: median ms (triton.testing.do_bench after warm-up) and peak
GPU memory above the inputs (max_memory_allocated after reset_peak_memory_stats), with the card's name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bench_common import measure_fwd_bwd, record_provider  # noqa: E402
from mamba_sdist import build_mamba_selective_scan, default_workdir  # noqa: E402

from kernels.dispatch import BackendUnavailable, selective_scan_cuda_built  # noqa: E402
from seqrec.results import write_result  # noqa: E402

CASES = [dict(batch=2048, seqlen=50, dim=128, nstate=32), dict(batch=256, seqlen=200, dim=128, nstate=32)]


class _DirectMambaScan(torch.autograd.Function):
    """selective_scan_cuda.fwd/bwd called directly (when the mamba_ssm package itself does not import)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias):
        import selective_scan_cuda

        # input-dependent B, C: the CUDA kernel takes them as (batch, n_groups, d_state, L); ours are (B, N, L)
        B, C = B.unsqueeze(1).contiguous(), C.unsqueeze(1).contiguous()
        out, x, *rest = selective_scan_cuda.fwd(u, delta, A, B, C, D, z, delta_bias, True)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, x, out)
        return rest[0]

    @staticmethod
    def backward(ctx, dout):
        import selective_scan_cuda

        u, delta, A, B, C, D, z, delta_bias, x, out = ctx.saved_tensors
        du, ddelta, dA, dB, dC, dD, dbias, dz, *_ = selective_scan_cuda.bwd(
            u, delta, A, B, C, D, z, delta_bias, dout.contiguous(), x, out, None, True, False)
        return du, ddelta, dA, dB.squeeze(1), dC.squeeze(1), dD, dz, dbias


def mamba_direct(u, delta, A, B, C, D, z, delta_bias):
    return _DirectMambaScan.apply(u, delta, A, B, C, D, z, delta_bias)


def make_inputs(batch, seqlen, dim, nstate, dtype, device="cuda"):
    g = torch.Generator(device=device).manual_seed(0)

    def rnd(*shape, dt=dtype):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32).to(dt)

    return dict(u=rnd(batch, dim, seqlen), delta=rnd(batch, dim, seqlen) * 0.5 - 1.0,
                A=-torch.exp(rnd(dim, nstate, dt=torch.float32) * 0.5), B=rnd(batch, nstate, seqlen),
                C=rnd(batch, nstate, seqlen), D=rnd(dim, dt=torch.float32), z=rnd(batch, dim, seqlen),
                delta_bias=rnd(dim, dt=torch.float32) * 0.5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="directory for the result files")
    ap.add_argument("--mamba-sdist", type=Path, default=None, help="mamba_ssm sdist to compile selective_scan_cuda")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--impls", default="triton,torch_ref,mamba_ssm_cuda", help="comma list")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_selective_scan: needs a CUDA device", file=sys.stderr)
        return 2
    mamba_reason = None
    if args.mamba_sdist is not None:
        mamba_reason = build_mamba_selective_scan(args.mamba_sdist, default_workdir())
    from kernels.selective_scan import selective_scan

    card = torch.cuda.get_device_name()
    impls = {"triton": "triton", "torch_ref": "torch", "mamba_ssm_cuda": "mamba_ssm"}
    for case in CASES:
        for dtype_name in args.dtypes.split(","):
            dtype = getattr(torch, dtype_name)
            inputs = make_inputs(**case, dtype=dtype)
            dout = torch.randn_like(inputs["u"])
            result = {"kind": "kernel", "op": "selective_scan", "phase": "fwd+bwd", "dtype": dtype_name, **case,
                      "device_name": card, "timer": "triton.testing.do_bench median", "impls": {}}
            for name, backend in ((n, b) for n, b in impls.items() if n in args.impls.split(",")):
                rec: dict = {"backend": backend}
                def run(backend=backend, rec=rec, inputs=inputs, dout=dout):
                    try:
                        return measure_fwd_bwd(lambda **kw: selective_scan(**kw, backend=backend), inputs, dout)
                    except BackendUnavailable as e:
                        if backend != "mamba_ssm":
                            raise
                        if not selective_scan_cuda_built():
                            raise BackendUnavailable(mamba_reason or str(e)) from e
                        rec.update(via="selective_scan_cuda direct", package_import=str(e))
                        return measure_fwd_bwd(mamba_direct, inputs, dout)

                rec.update(record_provider(run))
                result["impls"][name] = rec
                print(f"{card} selective_scan {case} {dtype_name} {name}: {rec}", flush=True)
            tag = f"b{case['batch']}-l{case['seqlen']}-d{case['dim']}-n{case['nstate']}-{dtype_name}"
            write_result(args.out / f"kernel-selective_scan-{tag}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
