"""Interval attention (TiSASRec): the lean reference against the naive one (values and gradients, with
padding, causality and dropout), a hand-checked tiny example, and the Triton kernel (TRITON_INTERPRET=1 on
CPU, real on CUDA) against the reference, forward and every gradient, fp32 and bf16."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from kernels.dispatch import BackendUnavailable, triton_importable  # noqa: E402, F401
from kernels.interval_attention import (  # noqa: E402
    interval_attention,
    interval_attention_lean_ref,
    interval_attention_ref,
    interval_matrix,
)

NAMES = ("q", "k", "v", "interval_k", "interval_v")


def make_inputs(bsz, heads, seqlen, dh, num_r, dtype=torch.float64, device="cpu", seed=0, max_time=None):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype).to(device)

    max_time = max_time or 2 * num_r
    times = torch.randint(0, max_time, (bsz, seqlen), generator=g)
    seq_len = torch.randint(1, seqlen + 1, (bsz,), generator=g)
    seq_len[0] = seqlen
    pos = torch.arange(seqlen)
    times = torch.where(pos[None] < seq_len[:, None], times, 0)  # right padding with time 0, as the data
    return {"q": rnd(bsz, heads, seqlen, dh), "k": rnd(bsz, heads, seqlen, dh), "v": rnd(bsz, heads, seqlen, dh),
            "interval_k": rnd(num_r, heads, dh), "interval_v": rnd(num_r, heads, dh),
            "times": times.to(device), "seq_len": seq_len.to(device)}


def run_with_grads(fn, inputs, dout, **kw):
    leaves = {k: (v.detach().clone().requires_grad_(True) if k in NAMES else v) for k, v in inputs.items()}
    out = fn(**leaves, **kw)
    out.backward(dout)
    return out.detach(), {k: leaves[k].grad for k in NAMES}


def rel_rms(a, b):
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-12)).item()


def test_interval_matrix_hand_example():
    times = torch.tensor([[0, 3, 4, 10]])
    expect = torch.tensor([[[0, 3, 4, 5], [3, 0, 1, 5], [4, 1, 0, 5], [5, 5, 5, 0]]])
    assert torch.equal(interval_matrix(times, 6), expect)


def test_hand_checked_tiny_example():
    # B=H=1, L=2, Dh=1, R=2, times (0, 5) -> r = [[0, 1], [1, 0]]; seq_len 2.
    q = torch.tensor([[[[1.0], [2.0]]]], dtype=torch.float64)
    k = torch.tensor([[[[0.5], [-1.0]]]], dtype=torch.float64)
    v = torch.tensor([[[[3.0], [4.0]]]], dtype=torch.float64)
    ik = torch.tensor([[[0.1]], [[0.2]]], dtype=torch.float64)
    iv = torch.tensor([[[10.0]], [[20.0]]], dtype=torch.float64)
    times, seq_len = torch.tensor([[0, 5]]), torch.tensor([2])
    # row 0 sees only j=0: out = v0 + iv[0] = 13. row 1: logits 2*(0.5+0.2)=1.4, 2*(-1+0.1)=-1.8
    a0 = math.exp(1.4) / (math.exp(1.4) + math.exp(-1.8))
    expect = torch.tensor([[[[13.0], [a0 * (3.0 + 20.0) + (1 - a0) * (4.0 + 10.0)]]]], dtype=torch.float64)
    for fn in (interval_attention_ref, interval_attention_lean_ref):
        torch.testing.assert_close(fn(q, k, v, ik, iv, times, seq_len), expect)
    # with seq_len 1 the second row is query padding -> zero
    for fn in (interval_attention_ref, interval_attention_lean_ref):
        out = fn(q, k, v, ik, iv, torch.tensor([[0, 0]]), torch.tensor([1]))
        torch.testing.assert_close(out[0, 0, 1], torch.zeros(1, dtype=torch.float64))


SHAPES = [(1, 1, 1, 4, 3), (2, 1, 7, 8, 5), (3, 2, 9, 4, 17), (2, 2, 16, 16, 33)]


@pytest.mark.parametrize("shape", SHAPES)
def test_lean_matches_naive_values_and_grads(shape):
    inputs = make_inputs(*shape, seed=sum(shape))
    dout = torch.randn(*shape[:4], generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    out_n, g_n = run_with_grads(interval_attention_ref, inputs, dout)
    out_l, g_l = run_with_grads(interval_attention_lean_ref, inputs, dout)
    torch.testing.assert_close(out_l, out_n, rtol=1e-10, atol=1e-10)
    for name in NAMES:
        torch.testing.assert_close(g_l[name], g_n[name], rtol=1e-9, atol=1e-9, msg=name)


def test_causal_and_padding():
    inputs = make_inputs(2, 2, 10, 8, 12, seed=3)
    out = interval_attention_lean_ref(**inputs)
    t = 4
    changed = dict(inputs, k=inputs["k"].clone(), v=inputs["v"].clone(), times=inputs["times"].clone())
    changed["k"][:, :, t + 1:] += 5.0
    changed["v"][:, :, t + 1:] -= 3.0
    changed["times"][:, t + 1:] += 7
    torch.testing.assert_close(interval_attention_lean_ref(**changed)[:, :, :t + 1], out[:, :, :t + 1])
    for b in range(2):
        n = int(inputs["seq_len"][b])
        assert torch.all(out[b, :, n:] == 0)
        assert torch.isfinite(out).all()


def test_dropout_same_mask_naive_and_lean():
    inputs = make_inputs(2, 2, 8, 4, 6, seed=5)
    torch.manual_seed(11)
    a = interval_attention_ref(**inputs, dropout_p=0.3)
    torch.manual_seed(11)
    b = interval_attention_lean_ref(**inputs, dropout_p=0.3)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, interval_attention_lean_ref(**inputs))
    mask = torch.rand(2, 2, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.3
    torch.testing.assert_close(interval_attention_ref(**inputs, dropout_p=0.3, dropout_mask=mask),
                               interval_attention_lean_ref(**inputs, dropout_p=0.3, dropout_mask=mask))


def test_public_op_dispatch_and_errors():
    inputs = make_inputs(2, 1, 6, 4, 5, dtype=torch.float32)
    ref = interval_attention_ref(**inputs)
    torch.testing.assert_close(interval_attention(**inputs, backend="torch"), ref)
    torch.testing.assert_close(interval_attention(**inputs), ref)
    with pytest.raises(BackendUnavailable):
        interval_attention(**inputs, backend="mamba_ssm")
    with pytest.raises(ValueError, match="times must be integer"):
        interval_attention(**dict(inputs, times=inputs["times"].float()))
    with pytest.raises(ValueError, match="interval_v"):
        interval_attention(**dict(inputs, interval_v=inputs["interval_v"][:, :, :2]))
    with pytest.raises(ValueError, match="k must have q's dtype torch.bfloat16"):
        interval_attention(**dict(inputs, q=inputs["q"].bfloat16()))
    import kernels

    torch.testing.assert_close(kernels.interval_attention(**inputs, backend="torch"), ref)


# ---------------------------------------------------------------- Triton kernel (interpreter on CPU, real on GPU)

needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def close_enough(got, ref, tol):
    """Max abs error or relative RMS error under tol (relative RMS alone is meaningless for ~0 tensors)."""
    err = (got.double() - ref.double()).abs().max().item()
    return err < tol or rel_rms(got, ref) < tol


def check_fused(shape, dtype, tol, device=DEVICE, seed=0, dropout_p=0.0, max_time=None):
    from kernels.interval_attention.fused import dropout_keep_mask, interval_attention_fused

    inputs = make_inputs(*shape, dtype=dtype, device=device, seed=seed, max_time=max_time)
    dout = torch.randn(*shape[:4], generator=torch.Generator().manual_seed(seed + 1)).to(device)
    torch.manual_seed(seed)
    out, grads = run_with_grads(interval_attention_fused, inputs, dout.to(dtype), dropout_p=dropout_p)
    mask = None
    if dropout_p > 0:
        torch.manual_seed(seed)  # the op draws its kernel seed from torch's generator, on q's device
        kernel_seed = torch.randint(0, 2**31 - 1, (1,), device=device)
        mask = dropout_keep_mask(kernel_seed, *shape[:3], dropout_p, device=device)
        kept = mask.float().mean().item()
        assert abs(kept - (1 - dropout_p)) < 0.1, kept
    ref_inputs = {k: (v.double() if k in NAMES else v) for k, v in inputs.items()}
    out_ref, grads_ref = run_with_grads(interval_attention_ref, ref_inputs, dout.double(), dropout_p=dropout_p,
                                        dropout_mask=mask)
    assert out.dtype == dtype and close_enough(out, out_ref, tol), f"out rel rms {rel_rms(out, out_ref)}"
    assert torch.isfinite(out).all()
    for name in NAMES:
        assert grads[name].dtype == dtype, name
        assert close_enough(grads[name], grads_ref[name], tol), f"{name}: {rel_rms(grads[name], grads_ref[name])}"


SMALL = [(2, 2, 24, 16, 9), (1, 1, 5, 16, 40), (2, 1, 1, 8, 3), (2, 1, 17, 12, 70)]


@needs_triton
@pytest.mark.parametrize("shape", SMALL)
def test_fused_fp32_matches_reference(shape):
    check_fused(shape, torch.float32, 5e-3, seed=sum(shape))


@needs_triton
def test_fused_dropout_matches_reference_with_same_mask():
    check_fused((2, 2, 20, 16, 11), torch.float32, 5e-3, seed=4, dropout_p=0.3)


@needs_triton
def test_fused_bf16_matches_reference():
    check_fused((2, 2, 24, 16, 9), torch.bfloat16, 3e-2, seed=2)


@needs_triton
def test_public_op_triton_backend():
    inputs = make_inputs(2, 1, 6, 16, 5, dtype=torch.float32, device=DEVICE)
    torch.testing.assert_close(interval_attention(**inputs, backend="triton"), interval_attention_ref(**inputs),
                               rtol=2e-3, atol=2e-3)


@needs_triton
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_public_op_under_autocast_runs_in_its_dtype(monkeypatch, backend):
    """TiSASRec under bf16 autocast hands a bf16 q and an fp32 k (a bf16 projection plus an fp32 position
    embedding): both backends see q, k, v in autocast's dtype, and the gradients come back in each input's."""
    import kernels.interval_attention.fused as fused

    seen, real = [], fused.interval_attention_fused
    monkeypatch.setattr(fused, "interval_attention_fused", lambda *a, **k: seen.append(a[:3]) or real(*a, **k))
    inputs = make_inputs(2, 2, 12, 16, 5, dtype=torch.float32, device=DEVICE)
    leaves = {k: (v.detach().clone().requires_grad_(True) if k in NAMES else v) for k, v in inputs.items()}
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        out = interval_attention(**dict(leaves, q=leaves["q"].bfloat16()), backend=backend)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and all(leaves[n].grad.dtype == torch.float32 for n in ("q", "k", "v"))
    assert [t.dtype for t in seen[0]] == [torch.bfloat16] * 3 if backend == "triton" else seen == []
    assert close_enough(out, interval_attention_ref(**inputs), 3e-2)


@needs_triton
def test_fused_rejects_long_sequences():
    from kernels.interval_attention.fused import MAX_SEQ_LEN

    inputs = make_inputs(1, 1, MAX_SEQ_LEN + 1, 16, 5, dtype=torch.float32, device=DEVICE)
    with pytest.raises(BackendUnavailable, match="L <="):
        interval_attention(**inputs, backend="triton")


@needs_triton
def test_fused_rejects_tiles_past_its_shared_memory_and_auto_falls_back():
    from kernels.interval_attention.fused import fused_supports

    assert fused_supports(200, 64) is None and fused_supports(50, 256) is None  # ran on an H200
    assert "shared-memory" in fused_supports(200, 256)  # asked for 278,528 bytes there
    inputs = make_inputs(1, 1, 130, 256, 5, dtype=torch.float32, device=DEVICE)
    with pytest.raises(BackendUnavailable, match="shared-memory"):
        interval_attention(**inputs, backend="triton")
    if DEVICE == "cuda":  # auto picks the lean reference for this shape
        torch.testing.assert_close(interval_attention(**inputs, backend="auto"), interval_attention_ref(**inputs),
                                   rtol=2e-3, atol=2e-3)


GPU_SHAPES = [(8, 1, 200, 64, 257), (6, 2, 200, 32, 257), (5, 2, 50, 32, 65), (3, 4, 130, 16, 100)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape", GPU_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_gpu_full_sizes(shape, dtype):
    tol = 5e-3 if dtype == torch.float32 else 3e-2
    check_fused(shape, dtype, tol, device="cuda", max_time=400)
    check_fused(shape, dtype, tol, device="cuda", seed=1, dropout_p=0.2, max_time=400)
