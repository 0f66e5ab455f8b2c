"""SSD scan: the references against each other, and the Triton / mamba_ssm backends against the references.

The Triton kernels run on CPU under TRITON_INTERPRET=1 (set before triton is imported) at tiny sizes.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from kernels import ssd  # noqa: E402
from kernels.dispatch import BackendUnavailable, mamba_ssm_status  # noqa: E402
from kernels.ssd import ssd_chunked_ref, ssd_quadratic_ref, ssd_step_ref, ssd_step_size_ref  # noqa: E402
from kernels.ssd.fused import _split_bf16, _split_tf32  # noqa: E402  (globals: test kernels below call them)

TINY_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # tiny Triton cases: interpreted on CPU
ARGS = ("x", "dt", "A", "B", "C", "D", "dt_bias", "time_dt")


@pytest.fixture(autouse=True)
def exact_mixed_dots(monkeypatch):
    """The bf16 cases check the exact mixed dots (BF16_TOL): BF16_PRODUCT_DOTS False, whatever the environment says.
    The bf16 product (training's default under bf16, SEQREC_SSD_BF16_PRODUCT) has its own tests and tolerance."""
    from kernels.ssd import fused

    monkeypatch.setattr(fused, "BF16_PRODUCT_DOTS", False)


def make_inputs(b, L, H, P, G, N, *, dtype=torch.float64, device="cpu", seed=0, time=True, skip=True, bias=True):
    """Random SSD inputs (dict of leaf tensors with requires_grad) in the regime the models use."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, shift=0.0):
        t = torch.randn(*shape, generator=g, dtype=torch.float64) * scale + shift
        return t.to(device=device, dtype=dtype).requires_grad_()

    inp = {
        "x": rnd(b, L, H, P),
        "dt": rnd(b, L, H, scale=0.5),
        "A": (-(torch.rand(H, generator=g, dtype=torch.float64) * 2 + 0.5)).to(device, dtype).requires_grad_(),
        "B": rnd(b, L, G, N, scale=N ** -0.5),
        "C": rnd(b, L, G, N, scale=N ** -0.5),
        "D": rnd(H) if skip else None,
        "dt_bias": rnd(H, scale=0.5, shift=-1.0) if bias else None,
        "time_dt": (torch.rand(b, L, H, generator=g, dtype=torch.float64) * 2).to(device, dtype).requires_grad_()
        if time else None,
    }
    return inp


def grads(y, inp, grad_out):
    leaves = [k for k in ARGS if inp[k] is not None]
    gs = torch.autograd.grad(y, [inp[k] for k in leaves], grad_out)
    return dict(zip(leaves, gs, strict=True))


def rel_rms(a, b):
    a, b = a.double(), b.double()
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt().clamp_min(1e-12)).item()


def max_err(a, b):
    """min(max abs error, relative RMS error): the design's tolerance measure."""
    return min((a.double() - b.double()).abs().max().item(), rel_rms(a, b))


REF_SHAPES = [  # b, L, H, P, G, N, chunk
    (1, 1, 1, 2, 1, 3, 4),
    (2, 7, 2, 3, 1, 4, 4),
    (2, 7, 4, 3, 2, 4, 8),
    (1, 33, 2, 2, 2, 3, 8),
    (2, 50, 4, 2, 1, 3, 16),
    (2, 50, 2, 2, 2, 2, 32),
]


@pytest.mark.parametrize("b,L,H,P,G,N,chunk", REF_SHAPES)
@pytest.mark.parametrize("time", [True, False])
def test_references_agree_forward_and_backward(b, L, H, P, G, N, chunk, time):
    inp = make_inputs(b, L, H, P, G, N, seed=L * 7 + H + G, time=time)
    y_step = ssd_step_ref(**inp)
    y_quad = ssd_quadratic_ref(**inp)
    y_chunk = ssd_chunked_ref(**inp, chunk_size=chunk)
    torch.testing.assert_close(y_quad, y_step, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y_chunk, y_step, rtol=1e-10, atol=1e-10)
    go = torch.randn_like(y_step)
    g_step = grads(y_step, inp, go)
    for y in (y_quad, y_chunk):
        for k, v in grads(y, inp, go).items():
            torch.testing.assert_close(v, g_step[k], rtol=1e-9, atol=1e-9, msg=lambda m, k=k: f"grad {k}: {m}")


def test_chunked_gradcheck():
    inp = make_inputs(1, 5, 2, 2, 1, 2, seed=3)
    args = tuple(inp[k] for k in ARGS)
    assert torch.autograd.gradcheck(lambda *a: ssd_chunked_ref(*a, chunk_size=2), args)


def test_no_softplus_no_bias_no_skip():
    inp = make_inputs(2, 9, 2, 3, 1, 4, seed=5, time=False, skip=False, bias=False)
    with torch.no_grad():
        inp["dt"].abs_()  # raw step must be positive without softplus
    y = ssd_chunked_ref(**inp, dt_softplus=False, chunk_size=4)
    torch.testing.assert_close(y, ssd_step_ref(**inp, dt_softplus=False))


def test_step_size():
    dt, td, bias = torch.randn(2, 3, 4), torch.rand(2, 3, 4), torch.randn(4)
    torch.testing.assert_close(ssd_step_size_ref(dt, bias, td), torch.nn.functional.softplus(dt * td + bias))
    torch.testing.assert_close(ssd_step_size_ref(dt, bias), torch.nn.functional.softplus(dt + bias))
    torch.testing.assert_close(ssd_step_size_ref(dt, dt_softplus=False), dt)


def test_causal_and_public_op_on_cpu():
    inp = make_inputs(2, 12, 2, 3, 1, 4, dtype=torch.float32, seed=9)
    with torch.no_grad():
        y = ssd(**inp)
        torch.testing.assert_close(y, ssd(**inp, backend="torch"))
        x2 = inp["x"].detach().clone()
        x2[:, 8:] = 5.0
        y2 = ssd(**{**inp, "x": x2})
    torch.testing.assert_close(y2[:, :8], y[:, :8])
    assert y.dtype == torch.float32 and y.shape == inp["x"].shape


def test_bad_input_errors():
    inp = make_inputs(2, 5, 4, 3, 2, 4, dtype=torch.float32)
    with pytest.raises(ValueError, match="dt"):
        ssd(**{**inp, "dt": inp["dt"][:, :4]})
    with pytest.raises(ValueError, match="multiple of groups"):
        ssd(**{**inp, "B": torch.randn(2, 5, 3, 4), "C": torch.randn(2, 5, 3, 4)})
    with pytest.raises(BackendUnavailable):
        ssd(**inp, backend="mamba_ssm")


# ---- fast backends against the float64 reference ----------------------------------------------------------

FP32_TOL = 5e-3  # min(max abs error, relative RMS error) (the design's bound; dA is exactly 0 when L == 1)
BF16_TOL = 2e-2  # bf16 inputs/outputs: each output and gradient is rounded to bf16 (2^-8 relative) once


def check_against_reference(inp, run, tol, chunk=16, dt_softplus=True):
    """Forward and every gradient of ``run(**inp)`` against ssd_chunked_ref on float64 copies of inp."""
    ref_inp = {k: (v.detach().double().requires_grad_() if v is not None else None) for k, v in inp.items()}
    y = run(**inp, dt_softplus=dt_softplus)
    y_ref = ssd_chunked_ref(**ref_inp, dt_softplus=dt_softplus, chunk_size=chunk)
    assert y.dtype == inp["x"].dtype and y.shape == y_ref.shape
    errs = {"y": max_err(y, y_ref)}
    go = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(y.device)
    got = grads(y, inp, go.to(y.dtype))
    want = grads(y_ref, ref_inp, go)
    for k, v in want.items():
        assert got[k].dtype == inp[k].dtype and got[k].shape == v.shape, k
        errs["d" + k] = max_err(got[k], v)
    bad = {k: e for k, e in errs.items() if not e < tol}
    assert not bad, f"errors over {tol}: {bad} (all: {errs})"


def triton_run(block_q=None):
    from kernels.ssd.fused import ssd_fused

    return lambda **kw: ssd_fused(**kw, block_q=block_q)


TRITON_SHAPES = [  # b, L, H, P, G, N, block_q  (interpreted on CPU: keep tiny)
    (2, 1, 2, 8, 1, 8, 16),
    (1, 7, 2, 8, 1, 8, 16),
    (2, 33, 2, 16, 1, 16, 16),
    (2, 40, 4, 8, 2, 8, 16),
    (2, 19, 2, 8, 2, 16, 32),
]


@pytest.mark.parametrize("b,L,H,P,G,N,block_q", TRITON_SHAPES)
@pytest.mark.parametrize("time", [True, False])
def test_triton_fp32(b, L, H, P, G, N, block_q, time):
    inp = make_inputs(b, L, H, P, G, N, dtype=torch.float32, device=TINY_DEVICE, seed=L + 11 * H + G, time=time)
    check_against_reference(inp, triton_run(block_q), FP32_TOL)


@pytest.mark.parametrize("b,L,H,P,G,N", [(2, 40, 4, 8, 2, 8), (2, 19, 3, 8, 1, 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("per_head", [True, False])
def test_triton_dbc_summed_either_way(monkeypatch, b, L, H, P, G, N, dtype, per_head):
    """Both ways the backward sums dB, dC over a group's heads (each head's own rows, then a sum; or fp32 atomics)
    give the reference's gradients."""
    from kernels.ssd import fused

    monkeypatch.setattr(fused, "BC_PER_HEAD", per_head)
    inp = make_inputs(b, L, H, P, G, N, dtype=dtype, device=TINY_DEVICE, seed=L + H)
    check_against_reference(inp, triton_run(16), FP32_TOL if dtype == torch.float32 else BF16_TOL)


@pytest.mark.parametrize("b,L,H,P,G,N,block_q", [(2, 21, 2, 8, 1, 8, 16), (1, 40, 4, 16, 2, 16, 16)])
def test_triton_bf16(b, L, H, P, G, N, block_q):
    inp = make_inputs(b, L, H, P, G, N, dtype=torch.bfloat16, device=TINY_DEVICE, seed=L)
    check_against_reference(inp, triton_run(block_q), BF16_TOL)


@pytest.mark.parametrize("split16", [False, True])
def test_triton_bf16_native_dots(monkeypatch, split16):
    """The kernels as compiled: dots of two bf16 tiles take them as they are (NATIVE), and with SPLIT_BF16_DOTS
    the fp32 operand of a mixed dot is three bf16 tiles. Triton's interpreter multiplies bf16's raw bits in a
    dot, so here its dot widens bf16 operands to fp32 first."""
    import triton.language as tl
    from triton.runtime import interpreter

    from kernels.ssd import fused

    if os.environ.get("TRITON_INTERPRET", "0") in ("", "0"):
        pytest.skip("compiled: the other bf16 tests run the native dots")
    real_dot = interpreter.InterpreterBuilder.create_dot
    bf16_dots = []

    def widened(t):
        if t.dtype.scalar != tl.bfloat16:
            return t
        bf16_dots.append(t.data.shape)
        return interpreter.TensorHandle(interpreter._convert_float(t.data, tl.bfloat16, tl.float32, None)
                                        .view(np.float32), tl.float32)

    def create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        return real_dot(self, widened(a), widened(b), d, input_precision, max_num_imprecise_acc)

    monkeypatch.setattr(interpreter.InterpreterBuilder, "create_dot", create_dot)
    monkeypatch.setattr(fused, "_native_dots", lambda: True)
    monkeypatch.setattr(fused, "SPLIT_BF16_DOTS", split16)
    inp = make_inputs(2, 40, 4, 16, 2, 16, dtype=torch.bfloat16, device=TINY_DEVICE, seed=6)
    check_against_reference(inp, triton_run(16), BF16_TOL)
    assert bf16_dots  # the native path ran


@pytest.mark.parametrize("b,L,H,P,G,N,block_q", [(2, 21, 2, 8, 1, 8, 16), (1, 40, 4, 16, 2, 16, 16)])
def test_triton_bf16_split_dots(monkeypatch, b, L, H, P, G, N, block_q):
    """SPLIT_BF16_DOTS: mixed dots as three bf16 products (interpreted: widened to fp32, the same products)."""
    from kernels.ssd import fused

    monkeypatch.setattr(fused, "SPLIT_BF16_DOTS", True)
    inp = make_inputs(b, L, H, P, G, N, dtype=torch.bfloat16, device=TINY_DEVICE, seed=L)
    check_against_reference(inp, triton_run(block_q), BF16_TOL)


# computed tiles rounded to bf16 before their dots too (BF16_PRODUCT_DOTS): dA, a sum over the sequence of such
# products' differences, is the loosest (0.088 here under the interpreter, which truncates to bf16; ddt_bias 0.029;
# the rest within BF16_TOL): why the variant is an experiment and not the default
BF16_PRODUCT_TOL = 0.15


def output_and_grads(inp, run):
    y = run(**inp)
    go = torch.randn(y.shape, generator=torch.Generator().manual_seed(1)).to(y)
    return {"y": y.detach(), **grads(y, inp, go)}


def test_bf16_product_dots_follow_the_environment_unless_set(monkeypatch):
    """BF16_PRODUCT_DOTS None (the default): SEQREC_SSD_BF16_PRODUCT decides (1 unless set: part 19's seeds);
    True/False override it; only all-bf16 operands take it."""
    from kernels.ssd import fused

    monkeypatch.setattr(fused, "BF16_PRODUCT_DOTS", None)
    monkeypatch.delenv("SEQREC_SSD_BF16_PRODUCT", raising=False)
    assert fused._bf16_terms(True) == 1 and fused._bf16_terms(False) == 0
    monkeypatch.setenv("SEQREC_SSD_BF16_PRODUCT", "0")
    assert fused._bf16_terms(True) == (3 if fused.SPLIT_BF16_DOTS else 0)
    monkeypatch.setenv("SEQREC_SSD_BF16_PRODUCT", "1")
    assert fused._bf16_terms(True) == 1 and fused._bf16_terms(False) == 0
    monkeypatch.setattr(fused, "BF16_PRODUCT_DOTS", False)
    assert fused._bf16_terms(True) == (3 if fused.SPLIT_BF16_DOTS else 0)
    monkeypatch.setattr(fused, "BF16_PRODUCT_DOTS", None)
    monkeypatch.setenv("SEQREC_SSD_BF16_PRODUCT", "2")
    with pytest.raises(ValueError, match="SEQREC_SSD_BF16_PRODUCT"):
        fused._bf16_terms(True)


@pytest.mark.parametrize("b,L,H,P,G,N,block_q", [(2, 21, 2, 8, 1, 8, 16), (1, 40, 4, 16, 2, 16, 16)])
def test_triton_bf16_product_dots(monkeypatch, b, L, H, P, G, N, block_q):
    """BF16_PRODUCT_DOTS (bench_ssd's triton_bf16_product): mixed dots as one bf16 product, the computed tile rounded
    to bf16. Within BF16_PRODUCT_TOL of the reference, and not the default path's results: the rounding happens."""
    from kernels.ssd import fused

    inp = make_inputs(b, L, H, P, G, N, dtype=torch.bfloat16, device=TINY_DEVICE, seed=L)
    default = output_and_grads(inp, triton_run(block_q))
    monkeypatch.setattr(fused, "BF16_PRODUCT_DOTS", True)
    check_against_reference(inp, triton_run(block_q), BF16_PRODUCT_TOL)
    product = output_and_grads(inp, triton_run(block_q))
    assert any(not torch.equal(product[k], default[k]) for k in default)


def test_split_bf16_three_parts():
    """a1 + a2 + a3 of ``_split_bf16`` (three bf16 tiles) is a to within fp32's own rounding on the GPU."""
    import triton
    import triton.language as tl

    @triton.jit
    def split(a_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        a1, a2, a3 = _split_bf16(tl.load(a_ptr + offs, mask=offs < n))
        tl.store(out_ptr + offs, a1, mask=offs < n)
        tl.store(out_ptr + BLOCK + offs, a2, mask=offs < n)
        tl.store(out_ptr + 2 * BLOCK + offs, a3, mask=offs < n)

    a = (torch.randn(100, generator=torch.Generator().manual_seed(0)) * 1e3).to(TINY_DEVICE)
    parts = torch.zeros(3, 128, dtype=torch.bfloat16, device=TINY_DEVICE)
    split[(1,)](a, parts, a.numel(), BLOCK=128)
    a1, a2, a3 = (p[:100].float() for p in parts)
    # each remainder about a bf16 step of the part before at most; the sum a to 2^-23 with the GPU's rounding to
    # nearest, 2^-21 with the interpreter's truncation
    assert (a2.abs() <= a1.abs() * 2.0 ** -6).all() and (a3.abs() <= a2.abs() * 2.0 ** -6).all()
    assert ((a1 + a2 + a3 - a).abs() <= a.abs() * 2.0 ** (-23 if TINY_DEVICE == "cuda" else -21)).all()


def test_triton_optional_inputs_and_raw_step():
    inp = make_inputs(2, 17, 2, 8, 1, 8, dtype=torch.float32, device=TINY_DEVICE, seed=4, time=False, skip=False,
                      bias=False)
    with torch.no_grad():
        inp["dt"].abs_().add_(0.05)
    check_against_reference(inp, triton_run(16), FP32_TOL, dt_softplus=False)


def test_triton_strided_views_like_the_model():
    """x, B, C, dt as views into one in_proj output (last dim contiguous, other strides not)."""
    b, L, H, P, G, N = 2, 20, 2, 8, 1, 8
    g = torch.Generator().manual_seed(7)
    proj = torch.randn(b, L, H * P + 2 * G * N + H, generator=g).to(TINY_DEVICE)
    x, Bm, Cm, dt = torch.split(proj, [H * P, G * N, G * N, H], dim=-1)
    inp = make_inputs(b, L, H, P, G, N, dtype=torch.float32, device=TINY_DEVICE, seed=7)
    inp.update(x=x.reshape(b, L, H, P), B=Bm.reshape(b, L, G, N), C=Cm.reshape(b, L, G, N), dt=dt * 0.5)
    inp = {k: (v.detach().requires_grad_() if v is not None else None) for k, v in inp.items()}
    assert not inp["x"].is_contiguous()
    check_against_reference(inp, triton_run(16), FP32_TOL)


def test_public_op_triton_backend():
    inp = make_inputs(1, 9, 2, 8, 1, 8, dtype=torch.float32, device=TINY_DEVICE, seed=2)
    with torch.no_grad():
        y = ssd(**inp, backend="triton")
        torch.testing.assert_close(y, ssd(**inp, backend="torch"), rtol=1e-4, atol=1e-4)


# ---- on the GPU, at the sizes of the models ----------------------------------------------------------------

GPU_CASES = [  # b, L, H, P, G, N, dtype, time
    *[(*shape, dtype, True) for shape in [(256, 200, 4, 32, 1, 32), (2048, 50, 4, 32, 1, 32), (3, 77, 4, 32, 2, 32),
                                          (1, 1, 2, 64, 1, 16), (5, 300, 8, 16, 1, 64)]
      for dtype in (torch.float32, torch.bfloat16)],
    (256, 200, 4, 32, 1, 32, torch.float32, False),
    (256, 200, 4, 32, 4, 32, torch.bfloat16, False),
]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("b,L,H,P,G,N,dtype,time", GPU_CASES)
def test_triton_gpu(b, L, H, P, G, N, dtype, time):
    torch.backends.cuda.matmul.allow_tf32 = False
    inp = make_inputs(b, L, H, P, G, N, dtype=dtype, device="cuda", seed=b + L, time=time)
    check_against_reference(inp, lambda **kw: ssd(**kw, backend="triton"), FP32_TOL if dtype == torch.float32
                            else BF16_TOL, chunk=32)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("b,L,H,P,G,N", [(256, 200, 4, 32, 1, 32)])
def test_mamba_ssm_backend_gpu(b, L, H, P, G, N):
    if mamba_ssm_status() is not None:
        pytest.skip(mamba_ssm_status())
    torch.backends.cuda.matmul.allow_tf32 = False
    inp = make_inputs(b, L, H, P, G, N, dtype=torch.float32, device="cuda", seed=b + L)
    check_against_reference(inp, lambda **kw: ssd(**kw, backend="mamba_ssm", chunk_size=32), FP32_TOL, chunk=32)


def test_tune_applies_each_setting_and_restores_the_defaults(monkeypatch):
    """``python -m kernels.ssd.tune``'s pieces on CPU (its timer replaced): a setting reaches the kernel's knobs
    for the call and the defaults come back; settings that change only speed give the same gradients."""
    import triton.testing

    from kernels.ssd import fused, tune

    monkeypatch.setattr(triton.testing, "do_bench", lambda fn, **kw: (fn(), 1.0)[1])
    monkeypatch.delenv("SEQREC_SSD_DOT_PRECISION", raising=False)
    inp = make_inputs(2, 20, 4, 8, 1, 8, dtype=torch.float32, device=TINY_DEVICE, seed=3)
    dy = torch.randn_like(inp["x"])
    default = tune.defaults(torch.float32)
    assert default["num_warps"] == fused.LAUNCH["fp32"]["num_warps"] and tune.defaults(torch.bfloat16)["num_warps"] \
        == fused.LAUNCH["lowp"]["num_warps"]
    launch = dict(fused.LAUNCH)
    ref, f_ms, fb_ms, graph = tune.run_case(dict(default, block_q=16), inp, dy)
    seen = []
    monkeypatch.setattr(fused, "ssd_fused_bwd", lambda *a, _real=fused.ssd_fused_bwd, **k: seen.append(
        (fused._launch(torch.float32)["num_warps"], fused.BC_PER_HEAD, os.environ["SEQREC_SSD_DOT_PRECISION"],
         fused.EXACT_LOWP_DOTS))
        or _real(*a, **k))
    flipped = not default["bc_per_head"]
    got, _, _, _ = tune.run_case(dict(default, num_warps=4, block_q=16, bc_per_head=flipped, precision="ieee",
                                   exact_lowp_dots=False), inp, dy)
    assert seen[0] == (4, flipped, "ieee", False) and (f_ms, fb_ms) == (1.0, 1.0)
    assert (graph is None) == (TINY_DEVICE == "cpu")  # a CUDA graph's time on a GPU only
    assert (fused.LAUNCH, fused.BC_PER_HEAD, fused.EXACT_LOWP_DOTS) == (launch, default["bc_per_head"], True)
    assert "SEQREC_SSD_DOT_PRECISION" not in os.environ
    # the default's dots are split TF32 on a GPU (three TF32 products), the flipped setting's IEEE fp32: they agree
    # to about 1e-5 (1.3e-5 on an H200, part 10), exactly under the interpreter
    assert tune.rel_err(got, ref) < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tune_times_each_setting_as_a_cuda_graph_too(monkeypatch):
    """On the GPU the tune ranks by the graph replay's time: it is captured and timed, and leaves the gradients
    the eager call gave."""
    import sys

    from kernels.ssd import tune

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "suites"))
    monkeypatch.delitem(sys.modules, "bench_common", raising=False)
    inp = make_inputs(64, 50, 4, 32, 1, 32, dtype=torch.bfloat16, device="cuda", seed=5)
    dy = torch.randn_like(inp["x"])
    res, f_ms, fb_ms, graph = tune.run_case(tune.defaults(torch.bfloat16), inp, dy)
    assert 0 < graph < 1e3 and 0 < f_ms <= fb_ms
    again, _, _, _ = tune.run_case(tune.defaults(torch.bfloat16), inp, dy)
    assert tune.rel_err(again, res) < 1e-6


def test_split_tf32_gives_a_tf32_exact_high_part():
    """The split behind the bf16 dots: hi has no mantissa bits below TF32's 10, and hi + lo is a exactly."""
    import triton
    import triton.language as tl

    @triton.jit
    def split(a_ptr, hi_ptr, lo_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        hi, lo = _split_tf32(tl.load(a_ptr + offs, mask=offs < n))
        tl.store(hi_ptr + offs, hi, mask=offs < n)
        tl.store(lo_ptr + offs, lo, mask=offs < n)

    a = (torch.randn(100, generator=torch.Generator().manual_seed(0)) * 1e3).to(TINY_DEVICE)
    hi, lo = torch.empty_like(a), torch.empty_like(a)
    split[(1,)](a, hi, lo, a.numel(), BLOCK=128)
    assert (hi.view(torch.int32) & 0x1FFF).eq(0).all()
    assert torch.equal(hi + lo, a) and (lo.abs() <= a.abs() * 2.0 ** -10).all()
    bf = a.bfloat16().float()  # a 16-bit input's value is its own high part
    split[(1,)](bf, hi, lo, bf.numel(), BLOCK=128)
    assert torch.equal(hi, bf) and not lo.any()
