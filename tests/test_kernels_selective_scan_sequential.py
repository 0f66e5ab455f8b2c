"""Sequential-scan Triton selective scan (``kernels.selective_scan.sequential``) against the fp64 reference,
forward and every gradient: under TRITON_INTERPRET=1 on CPU at small sizes (lengths that are not multiples of
the chunk, L=1, channel counts that are not multiples of BLOCK_D, several channel blocks), for real on CUDA at
the benchmark's sizes.

Tolerances (max abs error or relative RMS error, ``close_enough``): fp32 1e-4 in the interpreter (the kernel
computes in fp32 throughout; seen ~1e-7), 5e-3 on the GPU (exp2/lg2 are the approximate MUFU instructions,
dB, dC, dA are summed with atomics; DESIGN.md's bound); bf16 inputs 1e-2 (bf16 rounding of the outputs and
gradients, ~4e-3 relative)."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from test_kernels_selective_scan import NAMES, close_enough, make_inputs, rel_rms, run_with_grads  # noqa: E402

from kernels.dispatch import triton_importable  # noqa: E402
from kernels.selective_scan.ref import selective_scan_ref  # noqa: E402

pytestmark = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
FP32_TOL = 1e-4 if DEVICE == "cpu" else 5e-3
BF16_TOL = 1e-2


def sequential(*args, **kwargs):
    from kernels.selective_scan.sequential import selective_scan_sequential

    return selective_scan_sequential(*args, **kwargs)


def check_sequential(shape, dtype, tol, device=DEVICE, seed=0, softplus=True, transposed_bc=False, **opts):
    """Forward and every gradient of the sequential kernel against selective_scan_ref in fp64 on the same
    (rounded) inputs, with fresh random inputs and dout."""
    inputs = make_inputs(*shape, dtype=dtype, device=device, seed=seed, **opts)
    if not softplus:  # the step must stay positive without softplus
        inputs["delta"] = (inputs["delta"].float().abs() + 0.1).to(dtype)
    if transposed_bc:  # B, C as (B, N, L) views of (B, L, N) tensors, as Mamba's x_proj makes them
        inputs["B"], inputs["C"] = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (inputs["B"], inputs["C"]))
    gen = torch.Generator().manual_seed(seed + 1)
    dout = torch.randn(shape[0], shape[1], shape[2], generator=gen).to(device)
    out, grads = run_with_grads(sequential, inputs, dout.to(dtype), delta_softplus=softplus)
    ref_inputs = {k: (v.double() if v is not None else None) for k, v in inputs.items()}
    out_ref, grads_ref = run_with_grads(selective_scan_ref, ref_inputs, dout.double(), delta_softplus=softplus)
    assert out.dtype == dtype and out.shape == out_ref.shape
    assert close_enough(out, out_ref, tol), f"out rel rms {rel_rms(out, out_ref)}"
    for name in NAMES:
        if grads_ref[name] is None:
            assert grads[name] is None, name
            continue
        assert grads[name].dtype == inputs[name].dtype and grads[name].shape == inputs[name].shape, name
        assert torch.isfinite(grads[name]).all(), name
        assert close_enough(grads[name], grads_ref[name], tol), f"{name}: {rel_rms(grads[name], grads_ref[name])}"


# (batch, d_inner, L, d_state): BLOCK_D is 32 at N=16 and 128 at N=4, so 20 and 40 channels leave masked
# channels, and 40 channels at N=16 make two channel blocks whose dB, dC are summed. CHUNK is at most 8 and
# splits L evenly: L=33 is 5 chunks of 7 (2 steps past the end), L=50 is 7 of 8 (6 past the end).
GRID = [(b, 40 if (b == 2 and n == 16) else 20, seqlen, n)
        for b in (1, 2) for seqlen in (1, 5, 33, 50) for n in (4, 16)]
OPTION_CASES = [
    ((2, 20, 33, 4), dict(with_d=False, with_z=False, with_bias=False)),
    ((2, 20, 50, 16), dict(softplus=False, with_z=False)),
    ((1, 20, 33, 16), dict(softplus=False, with_bias=False)),
    ((2, 40, 5, 4), dict(with_d=False, transposed_bc=True)),
    ((1, 40, 1, 16), dict(with_z=False, softplus=False)),
]


@pytest.mark.parametrize("shape", GRID, ids=[str(s) for s in GRID])
def test_sequential_fp32_matches_reference(shape):
    check_sequential(shape, torch.float32, FP32_TOL, seed=sum(shape))


@pytest.mark.parametrize(("shape", "opts"), OPTION_CASES, ids=[f"{s}-{o}" for s, o in OPTION_CASES])
def test_sequential_optional_arguments(shape, opts):
    check_sequential(shape, torch.float32, FP32_TOL, seed=sum(shape) + 1, **opts)


@pytest.mark.parametrize(("shape", "opts"), [((2, 20, 33, 16), {}), ((1, 40, 50, 4), dict(softplus=False))])
def test_sequential_bf16_matches_reference(shape, opts):
    check_sequential(shape, torch.bfloat16, BF16_TOL, seed=7, **opts)


@pytest.mark.parametrize("override", [dict(max_chunk=3, block_d_fwd=8, block_d_bwd=4, warps_bwd=2),
                                      dict(max_chunk=16, block_d_fwd=4, warps_fwd=1)])
def test_sequential_other_block_sizes(monkeypatch, override):
    """Chunks of 3 (padded to a 4-wide tile), several channel blocks per batch row in either kernel, and a
    forward chunk length that differs from the default."""
    from kernels.selective_scan import sequential as seq

    monkeypatch.setattr(seq, "_CONFIG_OVERRIDE", override)
    check_sequential((2, 20, 33, 16), torch.float32, FP32_TOL, seed=3)


def test_sequential_without_grad_skips_checkpoints():
    inputs = make_inputs(2, 20, 50, 16, dtype=torch.float32, device=DEVICE, seed=11)
    with torch.no_grad():
        out = sequential(**inputs)
    ref = selective_scan_ref(**{k: (v.double() if v is not None else None) for k, v in inputs.items()})
    assert close_enough(out, ref, FP32_TOL), rel_rms(out, ref)


def test_sequential_rejects_bad_shapes():
    inputs = make_inputs(2, 4, 6, 4, dtype=torch.float32, device=DEVICE)
    with pytest.raises(ValueError, match="C must have shape"):
        sequential(**dict(inputs, C=inputs["C"][:, :, :3]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape", [(8, 128, 50, 32), (4, 128, 200, 32), (3, 100, 77, 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sequential_gpu_full_sizes(shape, dtype):
    check_sequential(shape, dtype, 5e-3 if dtype == torch.float32 else 3e-2, device="cuda", seed=sum(shape))
    from kernels.selective_scan import selective_scan

    inputs = make_inputs(*shape, dtype=dtype, device="cuda")
    torch.testing.assert_close(selective_scan(**inputs, backend="auto"), sequential(**inputs), rtol=0, atol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bench_times_the_kernel_as_a_cuda_graph_and_keeps_its_gradients():
    """``python -m kernels.selective_scan.sequential``'s timer: eager and graph-replay times, and the output and
    gradients of the eager call, which the graph's replays do not change."""
    from kernels.selective_scan.sequential import _bench_one, selective_scan_sequential

    inputs = make_inputs(8, 128, 50, 32, dtype=torch.float32, device="cuda")
    leaves = {k: v.detach().requires_grad_(True) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
    dout = torch.randn_like(leaves["u"])
    res, fwd, both, graph = _bench_one(selective_scan_sequential, leaves, dout)
    assert 0 < fwd <= both and 0 < graph < 1e3
    again, *_ = _bench_one(selective_scan_sequential, leaves, dout)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(again, res, strict=True))
