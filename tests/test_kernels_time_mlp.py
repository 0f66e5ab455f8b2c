"""The pointwise time MLP (kernels.time_mlp): the reference against nn.Sequential(Linear, SiLU, Linear), the public
op's dispatch, and the Triton kernels (TRITON_INTERPRET=1 on CPU, real on CUDA) against the reference in float64,
forward and every gradient, fp32 and bf16, eager and compiled; TiM4Rec with SEQREC_TIME_MLP_KERNEL=1."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from kernels import time_mlp  # noqa: E402
from kernels.dispatch import BackendUnavailable, triton_importable  # noqa: E402
from kernels.scalar_mlp import time_mlp_ref  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2}  # relative to the largest reference value


def make_mlp(W: int, seed: int, device=DEVICE) -> nn.Sequential:
    torch.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(1, W), nn.SiLU(), nn.Linear(W, 1)).to(device)
    with torch.no_grad():  # larger than Linear's init, so that every unit's SiLU bends
        for p in mlp.parameters():
            p.mul_(3.0)
    return mlp


def params_of(mlp: nn.Sequential) -> list[torch.Tensor]:
    return [mlp[0].weight, mlp[0].bias, mlp[2].weight, mlp[2].bias]


def assert_close_rel(got, want, tol, name):
    scale = want.abs().max().clamp(min=1e-6)
    err = (got.double() - want).abs().max() / scale
    assert err <= tol, f"{name}: max error {float(err):.2e} of the largest value, allowed {tol:.0e}"


def test_reference_is_the_sequential_mlp_on_each_element():
    mlp = make_mlp(16, 0, "cpu")
    g = torch.randn(3, 7, 4)
    torch.testing.assert_close(time_mlp_ref(g, *params_of(mlp)), mlp(g.unsqueeze(-1)).squeeze(-1))


def test_bad_weights_and_backends_are_named():
    mlp = make_mlp(16, 0, "cpu")
    w1, b1, w2, b2 = params_of(mlp)
    with pytest.raises(ValueError, match=r"w2 has shape \(16, 1\), expected \(1, 16\)"):
        time_mlp(torch.randn(4), w1, b1, w2.t(), b2)
    with pytest.raises(TypeError, match="floating"):
        time_mlp(torch.ones(4, dtype=torch.long), w1, b1, w2, b2)
    with pytest.raises(BackendUnavailable, match="mamba_ssm"):
        time_mlp(torch.randn(4), w1, b1, w2, b2, backend="mamba_ssm")
    assert time_mlp(torch.randn(4, dtype=torch.float64), *[p.double() for p in params_of(mlp)]).dtype == \
        torch.float64  # auto: the reference


def check_kernel(shape, W, dtype, seed, compiled=False, **blocks):
    """The Triton op's output and every gradient against the reference in float64 on the same inputs."""
    from kernels.scalar_mlp import fused

    mlp = make_mlp(W, seed)
    params = params_of(mlp)
    gen = torch.Generator().manual_seed(seed)
    g = (torch.randn(shape, generator=gen) * 2).to(device=DEVICE, dtype=dtype).requires_grad_(True)
    dy = torch.randn(shape, generator=gen).to(device=DEVICE, dtype=dtype)
    fn = lambda *a: time_mlp(*a, backend="triton")  # noqa: E731
    if compiled:
        torch._dynamo.reset()
        fn = torch.compile(fn, backend="aot_eager", fullgraph=True)
    saved = (fused.FWD_BLOCK, fused.BWD_BLOCK, fused.PROGRAMS)
    try:
        for k, v in blocks.items():
            setattr(fused, k, v)
        out = fn(g, *params)
        grads = torch.autograd.grad(out, [g, *params], dy)
    finally:
        fused.FWD_BLOCK, fused.BWD_BLOCK, fused.PROGRAMS = saved
    leaves = [t.detach().double().requires_grad_(True) for t in (g, *params)]
    want = time_mlp_ref(*leaves)
    want_grads = torch.autograd.grad(want, leaves, dy.double())
    assert out.dtype == dtype and out.shape == g.shape
    assert_close_rel(out, want, TOL[dtype], "out")
    for name, got, ref, t in zip(("g", "w1", "b1", "w2", "b2"), grads, want_grads, (g, *params), strict=True):
        assert got.dtype == t.dtype and got.shape == t.shape, name
        assert_close_rel(got, ref, TOL[dtype], name)


@needs_triton
@pytest.mark.parametrize("shape,W", [((3, 50, 4), 16), ((1, 1, 1), 16), ((5, 13, 3), 5), ((2, 300, 4), 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_matches_the_reference(shape, W, dtype):
    """Element counts under, at and across the blocks, W not a power of 2, bf16 in and out (fp32 inside)."""
    check_kernel(shape, W, dtype, seed=sum(shape) + W)


@needs_triton
def test_fused_backward_walks_several_tiles_per_program():
    """Fewer programs than tiles (PROGRAMS 3 over 2,400 elements in 64-element tiles: 13 tiles a program, the last
    program's run partly past the end): the partial sums still add up."""
    from kernels.scalar_mlp.fused import bwd_programs

    assert bwd_programs(2400, 64, 3) == (3, 13)
    check_kernel((4, 150, 4), 16, torch.float32, seed=7, BWD_BLOCK=64, PROGRAMS=3, FWD_BLOCK=128)


@needs_triton
def test_compiled_op_matches_the_reference():
    """Under torch.compile (aot_eager: the custom ops' fake shapes, the autograd formula's sum traced) in one graph."""
    check_kernel((3, 50, 4), 16, torch.float32, seed=3, compiled=True)


@needs_triton
@pytest.mark.parametrize("compiled", [False, True])
def test_tim4rec_with_the_kernel_matches_its_linear_mlp(monkeypatch, compiled):
    """SEQREC_TIME_MLP_KERNEL=1 with the Triton backend: TiM4Rec's loss and every gradient as with nn.Linear."""
    import models

    torch.manual_seed(0)
    m = models.build("tim4rec", {"hidden_size": 16, "dropout": 0.0, "time_dropout": 0.0, "max_len": 12,
                                 "backend": "triton"}, n_items=40).to(DEVICE)
    gen = torch.Generator().manual_seed(1)
    items = torch.randint(1, 40, (3, 12), generator=gen).to(DEVICE)
    seq_len = torch.tensor([12, 5, 1]).to(DEVICE)
    times = torch.cumsum(torch.randint(0, 10_000, (3, 12), generator=gen), 1).to(DEVICE)
    target = torch.tensor([3, 7, 1]).to(DEVICE)
    out = {}
    for kernel in ("0", "1"):
        monkeypatch.setenv("SEQREC_TIME_MLP_KERNEL", kernel)
        torch._dynamo.reset()
        fn = torch.compile(m.loss, backend="aot_eager") if compiled else m.loss
        m.zero_grad()
        loss = fn(items, seq_len, times, target)
        loss.backward()
        out[kernel] = (loss.detach(), [p.grad.clone() for p in m.parameters()])
    torch.testing.assert_close(out["1"][0], out["0"][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(out["1"][1], out["0"][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
