"""Selective scan: the vectorised reference against the step-by-step loop (values and every gradient, fp64),
the public op's dispatch and its ``triton`` backend; the Triton kernel itself (forward and every gradient,
fp32 and bf16) is tested in ``test_kernels_selective_scan_sequential.py``."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kernels.dispatch import BackendUnavailable, triton_importable  # noqa: E402, F401
from kernels.selective_scan import selective_scan, selective_scan_loop_ref, selective_scan_ref  # noqa: E402

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(bsz, dim, seqlen, n, dtype=torch.float64, device="cpu", seed=0, with_d=True, with_z=True,
                with_bias=True):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale + shift).to(device)

    t = {
        "u": rnd(bsz, dim, seqlen).to(dtype),
        "delta": rnd(bsz, dim, seqlen, scale=0.5, shift=-1.0).to(dtype),
        "A": -torch.exp(rnd(dim, n, scale=0.5)).to(torch.float32 if dtype != torch.float64 else dtype),
        "B": rnd(bsz, n, seqlen).to(dtype),
        "C": rnd(bsz, n, seqlen).to(dtype),
        "D": rnd(dim).to(torch.float32 if dtype != torch.float64 else dtype) if with_d else None,
        "z": rnd(bsz, dim, seqlen).to(dtype) if with_z else None,
        "delta_bias": rnd(dim, scale=0.5).to(torch.float32 if dtype != torch.float64 else dtype)
        if with_bias else None,
    }
    return t


def run_with_grads(fn, inputs, dout, **kw):
    leaves = {k: (v.detach().clone().requires_grad_(True) if v is not None else None) for k, v in inputs.items()}
    out = fn(**leaves, **kw)
    out.backward(dout)
    return out.detach(), {k: (v.grad if v is not None else None) for k, v in leaves.items()}


def rel_rms(a, b):
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-12)).item()


SHAPES = [(1, 3, 1, 2), (2, 4, 7, 3), (1, 5, 16, 4), (3, 2, 13, 1), (2, 6, 33, 5)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("softplus", [True, False])
def test_ref_matches_loop_values_and_grads(shape, softplus):
    inputs = make_inputs(*shape, seed=sum(shape))
    if not softplus:  # the step must stay positive without softplus
        inputs["delta"] = inputs["delta"].abs() + 0.1
    g = torch.Generator().manual_seed(99)
    dout = torch.randn(shape[0], shape[1], shape[2], generator=g, dtype=torch.float64)
    out_ref, g_ref = run_with_grads(selective_scan_ref, inputs, dout, delta_softplus=softplus)
    out_loop, g_loop = run_with_grads(selective_scan_loop_ref, inputs, dout, delta_softplus=softplus)
    torch.testing.assert_close(out_ref, out_loop, rtol=1e-10, atol=1e-10)
    for name in NAMES:
        torch.testing.assert_close(g_ref[name], g_loop[name], rtol=1e-9, atol=1e-9, msg=name)


@pytest.mark.parametrize("opts", [dict(with_d=False), dict(with_z=False), dict(with_bias=False),
                                  dict(with_d=False, with_z=False, with_bias=False)])
def test_optional_arguments(opts):
    inputs = make_inputs(2, 3, 9, 4, **opts)
    torch.testing.assert_close(selective_scan_ref(**inputs), selective_scan_loop_ref(**inputs))


def test_hand_checked_single_channel():
    # D=1, N=1, L=2, no softplus: dt = 0.5, A = -2 -> decay exp(-1); h0 = 0.5*3*1 = 1.5; h1 = e^-1*1.5 + 0.5*2*4
    u = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    delta = torch.full((1, 1, 2), 0.5, dtype=torch.float64)
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([[[3.0, 4.0]]], dtype=torch.float64)
    C = torch.tensor([[[10.0, 1.0]]], dtype=torch.float64)
    D = torch.tensor([0.25], dtype=torch.float64)
    h0, h1 = 1.5, torch.exp(torch.tensor(-1.0, dtype=torch.float64)).item() * 1.5 + 4.0
    expect = torch.tensor([[[10 * h0 + 0.25 * 1.0, 1 * h1 + 0.25 * 2.0]]], dtype=torch.float64)
    for fn in (selective_scan_ref, selective_scan_loop_ref):
        torch.testing.assert_close(fn(u, delta, A, B, C, D, delta_softplus=False), expect)


def test_softplus_and_gate_semantics():
    inputs = make_inputs(1, 2, 5, 3)
    plain = dict(inputs, z=None, delta_bias=None)
    manual = dict(plain, delta=F.softplus(inputs["delta"] + inputs["delta_bias"][:, None]))
    out = selective_scan_ref(**inputs)
    expect = selective_scan_loop_ref(**manual, delta_softplus=False) * F.silu(inputs["z"])
    torch.testing.assert_close(out, expect)


def test_public_op_dispatch_and_errors():
    inputs = make_inputs(2, 3, 6, 4, dtype=torch.float32)
    torch.testing.assert_close(selective_scan(**inputs, backend="torch"), selective_scan_ref(**inputs))
    torch.testing.assert_close(selective_scan(**inputs, backend="auto"), selective_scan_ref(**inputs))
    with pytest.raises(BackendUnavailable):
        selective_scan(**inputs, backend="mamba_ssm")
    with pytest.raises(ValueError, match="B must have shape"):
        selective_scan(**dict(inputs, B=inputs["B"][:, :2]), backend="torch")
    import kernels

    torch.testing.assert_close(kernels.selective_scan(**inputs, backend="torch"), selective_scan_ref(**inputs))


def test_bf16_reference_runs():
    inputs = make_inputs(2, 3, 6, 4, dtype=torch.bfloat16)
    out = selective_scan_ref(**inputs)
    assert out.dtype == torch.bfloat16
    ref = selective_scan_ref(**{k: (v.double() if v is not None else None) for k, v in inputs.items()})
    assert rel_rms(out, ref) < 2e-2


# ---------------------------------------------------------------- Triton kernel (interpreter on CPU, real on GPU)

needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def close_enough(got, ref, tol):
    """Max abs error or relative RMS error under tol (relative RMS alone is meaningless for ~0 tensors)."""
    err = (got.double() - ref.double()).abs().max().item()
    return err < tol or rel_rms(got, ref) < tol


@needs_triton
def test_public_op_triton_backend_runs_the_sequential_kernel(monkeypatch):
    from kernels.selective_scan import sequential

    inputs = make_inputs(2, 4, 5, 4, dtype=torch.float32, device=DEVICE)
    calls, real = [], sequential.selective_scan_sequential
    monkeypatch.setattr(sequential, "selective_scan_sequential", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.testing.assert_close(selective_scan(**inputs, backend="triton"), selective_scan_ref(**inputs),
                               rtol=1e-4, atol=1e-4)
    assert calls == [1]


def test_a_built_scan_replaces_the_stub_where_mamba_ssm_already_bound_it(monkeypatch):
    """mamba-ssm's modules copy ``selective_scan_cuda`` into their namespace when imported; one imported with
    our stub before the build must call the built extension afterwards (the campaign's 'no attribute fwd')."""
    import sys
    import types

    from kernels.dispatch import install_selective_scan_cuda, selective_scan_cuda_built

    stub = types.ModuleType("selective_scan_cuda")
    interface = types.ModuleType("mamba_ssm.ops.selective_scan_interface")
    interface.selective_scan_cuda = stub
    unrelated = types.ModuleType("other_pkg")
    unrelated.selective_scan_cuda = stub
    monkeypatch.setitem(sys.modules, "selective_scan_cuda", stub)
    monkeypatch.setitem(sys.modules, "mamba_ssm.ops.selective_scan_interface", interface)
    monkeypatch.setitem(sys.modules, "other_pkg", unrelated)
    assert not selective_scan_cuda_built()
    built = types.ModuleType("selective_scan_cuda")
    built.fwd = built.bwd = lambda *a: None
    assert install_selective_scan_cuda(built) == 1
    assert sys.modules["selective_scan_cuda"] is built and interface.selective_scan_cuda is built
    assert unrelated.selective_scan_cuda is stub  # only mamba_ssm's modules are touched
    assert selective_scan_cuda_built()
