"""Layer norm and gated RMS norm: the public ops' dispatch and the Triton kernels (TRITON_INTERPRET=1 on CPU, real
on CUDA) against the float64 references, forward and every gradient, fp32 and bf16, over widths that are and are
not powers of 2, row counts past one tile, inputs that are views, and the backward's row programs.

Tolerances are relative to the largest reference value: fp32 1e-5 (the kernel sums in fp32), bf16 2e-2 (the
output and the gradients are rounded to bf16 once)."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from kernels import gated_rms_norm, layer_norm  # noqa: E402
from kernels.dispatch import BackendUnavailable, triton_importable  # noqa: E402
from kernels.norm import gated_rms_norm_ref, layer_norm_ref  # noqa: E402

needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5 if DEVICE == "cpu" else 1e-4, torch.bfloat16: 2e-2}


def assert_close_rel(got, ref, tol, name):
    err = (got.double() - ref.double()).abs().max().item()
    scale = max(ref.double().abs().max().item(), 1e-6)
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} over max |ref| {scale:.3g} > {tol}"


def check_fused(shape, dtype=torch.float32, affine=True, seed=0, device=DEVICE, view=False):
    """Forward and the gradients of x, weight, bias against the float64 reference on the same inputs."""
    from kernels.norm.fused import layer_norm_fused

    g = torch.Generator().manual_seed(seed)
    C = shape[-1]
    base = torch.randn(*shape[:-1], C + 3 if view else C, generator=g) * 3 + 1  # rows not centred
    x = base.to(device=device, dtype=dtype).requires_grad_(True)
    w = (torch.randn(C, generator=g) + 1).to(device).requires_grad_(True) if affine else None
    b = torch.randn(C, generator=g).to(device).requires_grad_(True) if affine else None
    params = [x] + ([w, b] if affine else [])
    out = layer_norm_fused(x[..., 1:C + 1] if view else x, w, b, 1e-12 if affine else 1e-5)
    dy = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1)).to(device=device, dtype=dtype)
    grads = torch.autograd.grad(out, params, dy)
    p64 = [p.detach().double().requires_grad_(True) for p in params]
    x64 = p64[0][..., 1:C + 1] if view else p64[0]
    want = layer_norm_ref(x64, *(p64[1:] if affine else (None, None)), 1e-12 if affine else 1e-5)
    grads_ref = torch.autograd.grad(want, p64, dy.double())
    assert out.dtype == dtype and out.shape == tuple(shape)
    assert_close_rel(out, want, TOL[dtype], "out")
    for name, got, ref, p in zip(("x", "weight", "bias"), grads, grads_ref, params, strict=False):
        assert got.dtype == p.dtype, name
        assert_close_rel(got, ref, TOL[dtype], name)


@needs_triton
@pytest.mark.parametrize("shape", [(1, 1), (3, 5, 7), (2, 50, 64), (130, 100), (4, 3, 1), (70, 33)])
@pytest.mark.parametrize("affine", [True, False])
def test_fused_fp32_matches_reference(shape, affine):
    check_fused(shape, affine=affine, seed=sum(shape), view=sum(shape) % 2 == 1)


@needs_triton
@pytest.mark.parametrize("shape", [(2, 9, 64), (1, 40)])
def test_fused_bf16_matches_reference(shape):
    check_fused(shape, torch.bfloat16, seed=3)


@needs_triton
def test_backward_row_programs_walk_every_tile(monkeypatch):
    """Fewer backward programs than tiles: each program sums the weight gradients of its run of tiles."""
    from kernels.norm import fused

    monkeypatch.setattr(fused, "TILE", 64)
    monkeypatch.setattr(fused, "MAX_BWD_PROGRAMS", 3)
    check_fused((5, 41, 16), seed=9)  # 205 rows, tiles of 4 rows: 52 tiles, 32 a program, 2 programs
    check_gated((5, 41, 16), seed=9)


def check_gated(shape, dtype=torch.float32, seed=0, device=DEVICE):
    """Forward and the gradients of y, z (a slice of a wider tensor, as the mixer's in_proj output) and weight
    against the float64 reference on the same inputs."""
    from kernels.norm.gated_rms import gated_rms_norm_fused

    g = torch.Generator().manual_seed(seed)
    C = shape[-1]
    y = (torch.randn(shape, generator=g) * 2).to(device=device, dtype=dtype).requires_grad_(True)
    zw = (torch.randn(*shape[:-1], 2 * C + 1, generator=g) * 2).to(device=device, dtype=dtype).requires_grad_(True)
    w = (torch.randn(C, generator=g) + 1).to(device).requires_grad_(True)
    out = gated_rms_norm_fused(y, zw[..., C:2 * C], w, 1e-5)
    dy = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1)).to(device=device, dtype=dtype)
    grads = torch.autograd.grad(out, [y, zw, w], dy)
    p64 = [p.detach().double().requires_grad_(True) for p in (y, zw, w)]
    want = gated_rms_norm_ref(p64[0], p64[1][..., C:2 * C], p64[2], 1e-5)
    grads_ref = torch.autograd.grad(want, p64, dy.double())
    assert out.dtype == dtype and out.shape == tuple(shape)
    assert_close_rel(out, want, TOL[dtype], "out")
    for name, got, ref, p in zip(("y", "z", "weight"), grads, grads_ref, (y, zw, w), strict=True):
        assert got.dtype == p.dtype, name
        assert_close_rel(got, ref, TOL[dtype], name)
    assert not grads[1][..., :C].any() and not grads[1][..., 2 * C:].any()  # the rest of the wider tensor


@needs_triton
@pytest.mark.parametrize("shape", [(1, 3), (3, 5, 7), (2, 50, 128), (130, 100)])  # C=1: d y is 0 up to eps
def test_gated_fp32_matches_reference(shape):
    check_gated(shape, seed=sum(shape))


@needs_triton
def test_gated_bf16_matches_reference():
    check_gated((2, 9, 64), torch.bfloat16, seed=4)


@needs_triton
def test_no_rows():
    """An empty batch: empty outputs and zero parameter gradients from both kernels."""
    from kernels.norm.fused import layer_norm_fused
    from kernels.norm.gated_rms import gated_rms_norm_fused

    x = torch.randn(0, 5, 8, device=DEVICE, requires_grad=True)
    w, b = torch.ones(8, device=DEVICE, requires_grad=True), torch.zeros(8, device=DEVICE, requires_grad=True)
    out = layer_norm_fused(x, w, b, 1e-5) + gated_rms_norm_fused(x, x, w, 1e-5)
    out.sum().backward()
    assert out.shape == (0, 5, 8) and not w.grad.any() and not b.grad.any() and x.grad.shape == x.shape


def test_gated_public_op_dispatch_and_errors():
    y, z, w = torch.randn(3, 4, 6), torch.randn(3, 4, 6), torch.randn(6)
    torch.testing.assert_close(gated_rms_norm(y, z, w, 1e-5), gated_rms_norm_ref(y, z, w, 1e-5))
    with pytest.raises(ValueError, match="gated_rms_norm: z must have y's shape"):
        gated_rms_norm(y, z[..., :5], w, 1e-5)
    with pytest.raises(ValueError, match=r"gated_rms_norm: weight must be \(C=6,\)"):
        gated_rms_norm(y, z, w[:5], 1e-5)


def test_public_op_dispatch_and_errors():
    x, w, b = torch.randn(3, 4, 6, dtype=torch.float64), torch.randn(6, dtype=torch.float64), torch.randn(6)
    torch.testing.assert_close(layer_norm(x, w, b.double(), 1e-5), layer_norm_ref(x, w, b.double(), 1e-5))
    with pytest.raises(ValueError, match=r"weight must be \(C=6,\)"):
        layer_norm(x, w[:5], None, 1e-5)
    with pytest.raises(BackendUnavailable):
        layer_norm(x, w, None, 1e-5, backend="mamba_ssm")


@needs_triton
def test_public_op_triton_backend_and_autocast():
    """backend triton runs the kernel; under autocast the output has the dtype autocast gives PyTorch's layer norm
    for a bf16 input (fp32 on CUDA, bf16 on CPU), and dx comes back in bf16."""
    from kernels.norm import fused

    x = torch.randn(4, 10, 32, device=DEVICE)
    w, b = torch.randn(32, device=DEVICE), torch.randn(32, device=DEVICE)
    calls, real = [], fused.layer_norm_fused
    try:
        fused.layer_norm_fused = lambda *a, **k: calls.append(k) or real(*a, **k)
        torch.testing.assert_close(layer_norm(x, w, b, 1e-12, backend="triton"), layer_norm_ref(x, w, b, 1e-12),
                                   rtol=1e-5, atol=1e-5)
        xb = x.bfloat16().requires_grad_(True)
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            y = layer_norm(xb, w, b, 1e-12, backend="triton")
            want = layer_norm_ref(xb, w, b, 1e-12)
    finally:
        fused.layer_norm_fused = real
    assert len(calls) == 2 and y.dtype == want.dtype == (torch.float32 if DEVICE == "cuda" else torch.bfloat16)
    torch.testing.assert_close(y.float(), want.float(), rtol=1e-5 if DEVICE == "cuda" else 1e-2,
                               atol=1e-5 if DEVICE == "cuda" else 1e-2)
    y.sum().backward()
    assert xb.grad.dtype == torch.bfloat16


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape", [(2048, 50, 64), (256, 200, 256), (3, 7, 1000)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_gpu_full_sizes(shape, dtype):
    check_fused(shape, dtype, seed=1, device="cuda", view=dtype == torch.float32)
    check_gated(shape, dtype, seed=2, device="cuda")
    x = torch.randn(shape, device="cuda", dtype=dtype)
    torch.testing.assert_close(layer_norm(x, None, None, 1e-5), layer_norm(x, None, None, 1e-5, backend="triton"),
                               rtol=0, atol=0)


@pytest.mark.parametrize("name", ["mamba4rec", "ssd4rec", "tim4rec", "tisasrec"])
def test_models_point_their_norms_at_their_backend(name):
    """A model's LayerNorms and gated RMS norms follow its backend (mamba_ssm: PyTorch's ops, as before)."""
    import models
    from models.common import LayerNorm
    from models.ssm_blocks import GatedRMSNorm

    for backend, want in (("triton", "triton"), ("mamba_ssm", "torch"), ("torch", "torch")):
        model = models.build(name, {"hidden_size": 16, "backend": backend}, n_items=30)
        norms = [m for m in model.modules() if isinstance(m, LayerNorm | GatedRMSNorm)]
        assert len(norms) >= 2 and all(m.backend == want for m in norms), backend
        assert any(isinstance(m, GatedRMSNorm) for m in norms) == (name in ("ssd4rec", "tim4rec"))


@needs_triton
@pytest.mark.parametrize("setting", [{"TILE": 1024, "NUM_WARPS": 2, "MAX_BWD_PROGRAMS": 2},
                                     {"TILE": 8192, "NUM_WARPS": 16, "MAX_BWD_PROGRAMS": 2048}])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_is_right_at_the_launch_grids_corners(setting, dtype, monkeypatch):
    """Every launch setting suites/bench_norm.py --ln-grid may pick (tile, warps, cap on backward programs: 2 makes
    each program walk several tiles), at width 256, the models' widest."""
    from kernels.norm import fused

    for k, v in setting.items():
        monkeypatch.setattr(fused, k, v)
    check_fused((9, 5, 256), dtype)
