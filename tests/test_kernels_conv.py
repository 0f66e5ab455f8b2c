"""Causal depthwise conv1d: reference and public op against a direct loop, the public op's dispatch, and the
Triton kernel (TRITON_INTERPRET=1 on CPU, real on CUDA) against the reference, forward and every gradient, fp32
and bf16."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kernels import causal_conv1d  # noqa: E402
from kernels.conv import causal_conv1d_ref  # noqa: E402
from kernels.dispatch import BackendUnavailable, triton_importable  # noqa: E402


def conv_loop(x, weight, bias, activation):
    b, L, C = x.shape
    K = weight.shape[1]
    out = torch.zeros_like(x)
    for t in range(L):
        for k in range(K):
            s = t - K + 1 + k
            if s >= 0:
                out[:, t] += weight[:, k] * x[:, s]
    if bias is not None:
        out = out + bias
    return F.silu(out) if activation == "silu" else out


@pytest.mark.parametrize("b,L,C,K", [(1, 1, 3, 4), (2, 7, 5, 4), (3, 33, 8, 2), (2, 5, 4, 7)])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_matches_loop(b, L, C, K, activation, with_bias):
    g = torch.Generator().manual_seed(b * 1000 + L * 10 + K)
    x = torch.randn(b, L, C, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(C, K, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(C, generator=g, dtype=torch.float64, requires_grad=True) if with_bias else None
    out = causal_conv1d(x, w, bias, activation, backend="torch")
    want = conv_loop(x, w, bias, activation)
    torch.testing.assert_close(out, want)
    params = [x, w] + ([bias] if with_bias else [])
    grad_out = torch.randn_like(out)
    got = torch.autograd.grad(out, params, grad_out)
    ref = torch.autograd.grad(want, params, grad_out)
    for a, r in zip(got, ref, strict=True):
        torch.testing.assert_close(a, r)


def test_conv_is_causal():
    x = torch.randn(2, 10, 3)
    w = torch.randn(3, 4)
    y = causal_conv1d_ref(x, w)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 3)
    torch.testing.assert_close(causal_conv1d_ref(x2, w)[:, :6], y[:, :6])


def test_conv_auto_is_torch_on_cpu_and_errors():
    x = torch.randn(2, 5, 3)
    w = torch.randn(3, 4)
    torch.testing.assert_close(causal_conv1d(x, w), causal_conv1d_ref(x, w))
    with pytest.raises(BackendUnavailable):
        causal_conv1d(x, w, backend="mamba_ssm")
    with pytest.raises(ValueError, match="weight"):
        causal_conv1d(x, torch.randn(4, 4))
    with pytest.raises(ValueError, match="activation"):
        causal_conv1d(x, w, activation="relu")


# ---------------------------------------------------------------- Triton kernel (interpreter on CPU, real on GPU)

needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2}  # max abs error over max |ref| (bf16: y, dx rounded to bf16)


def make_conv_inputs(b, L, C, K, dtype, device=DEVICE, seed=0, with_bias=True, contiguous=True):
    """Leaves x (B, L, C) (a slice of a wider (B, L, 2C + 3) tensor unless ``contiguous``), weight, bias."""
    g = torch.Generator().manual_seed(seed)
    width = C if contiguous else 2 * C + 3
    xw = torch.randn(b, L, width, generator=g).to(device=device, dtype=dtype).requires_grad_(True)
    w = torch.randn(C, K, generator=g).to(device).requires_grad_(True)
    bias = torch.randn(C, generator=g).to(device).requires_grad_(True) if with_bias else None
    return xw, w, bias


def x_of(xw, C):
    return xw if xw.shape[-1] == C else xw[..., C + 1:2 * C + 1]


def assert_close_rel(got, ref, tol, name):
    err = (got.double() - ref.double()).abs().max().item()
    scale = max(ref.double().abs().max().item(), 1e-6)
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} over max |ref| {scale:.3g} > {tol}"


def check_fused(b, L, C, K, activation, dtype=torch.float32, with_bias=True, contiguous=True, seed=0,
                device=DEVICE, dy_transform=None, **blocks):
    """Forward and every gradient of the fused kernel against the reference in float64 on the same inputs."""
    from kernels.conv.fused import causal_conv1d_fused

    xw, w, bias = make_conv_inputs(b, L, C, K, dtype, device, seed, with_bias, contiguous)
    params = [xw, w] + ([bias] if with_bias else [])
    out = causal_conv1d_fused(x_of(xw, C), w, bias, activation, **blocks)
    dy = torch.randn(b, L, C, generator=torch.Generator().manual_seed(seed + 1)).to(device=device, dtype=dtype)
    dy = dy if dy_transform is None else dy_transform(dy)
    grads = torch.autograd.grad(out, params, dy)
    leaves64 = [p.detach().double().requires_grad_(True) for p in params]
    want = causal_conv1d_ref(x_of(leaves64[0], C), leaves64[1], leaves64[2] if with_bias else None, activation)
    grads_ref = torch.autograd.grad(want, leaves64, dy.double())
    assert out.dtype == dtype and out.shape == (b, L, C) and out.is_contiguous()
    assert_close_rel(out, want, TOL[dtype], "out")
    for name, got, ref, p in zip(("x", "weight", "bias"), grads, grads_ref, params, strict=False):
        assert got.dtype == p.dtype, name
        assert_close_rel(got, ref, TOL[dtype], name)
    if not contiguous:  # the rest of the wider tensor gets no gradient
        mask = torch.ones_like(grads[0], dtype=torch.bool)
        mask[..., C + 1:2 * C + 1] = False
        assert not grads[0][mask].any()


# b, L, C, K: L < K, L not a multiple of the row tile, C = 5 under and C = 192 across channel blocks
SHAPES = [(1, 1, 5, 4), (3, 3, 64, 4), (1, 7, 192, 2), (3, 50, 5, 4), (3, 67, 64, 2), (1, 67, 192, 4),
          (3, 7, 5, 2), (1, 50, 64, 4)]


@needs_triton
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fused_fp32_matches_reference(shape, activation, with_bias):
    check_fused(*shape, activation, with_bias=with_bias, contiguous=sum(shape) % 2 == 0, seed=sum(shape))


@needs_triton
@pytest.mark.parametrize("shape", [s for s in SHAPES if s[3] == 4 and s[2] >= 16])
@pytest.mark.parametrize("activation", [None, "silu"])
def test_fused_tiled_backward_matches_reference(monkeypatch, shape, activation):
    """K = 4, 16 channels or more: the tiled backward (``BWD_SEQUENTIAL`` False), which the default's sequential
    one replaced there, still matches the reference (the environment can choose it)."""
    from kernels.conv import fused

    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", False)
    check_fused(*shape, activation, contiguous=sum(shape) % 2 == 1, seed=sum(shape) + 1)


@needs_triton
@pytest.mark.parametrize("shape", [(3, 67, 192, 4), (1, 1, 64, 2), (3, 7, 5, 4)])
@pytest.mark.parametrize("activation", [None, "silu"])
def test_fused_non_contiguous_x(shape, activation):
    check_fused(*shape, activation, contiguous=False, seed=7)


@needs_triton
@pytest.mark.parametrize("shape", [(3, 67, 64, 4), (1, 50, 192, 2), (3, 3, 5, 4)])
@pytest.mark.parametrize("activation", [None, "silu"])
def test_fused_bf16_matches_reference(shape, activation):
    check_fused(*shape, activation, dtype=torch.bfloat16, contiguous=shape[0] == 1, seed=3)


@needs_triton
@pytest.mark.parametrize("activation", [None, "silu"])
def test_fused_small_tiles_cross_sequences(monkeypatch, activation):
    """16-row tiles straddle sequence ends, 4 channel blocks, several tiles per backward program."""
    from kernels.conv import fused

    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", False)  # tiles (the default walks sequences at K = 4, C >= 16)
    check_fused(3, 21, 64, 4, activation, contiguous=False, block_r=16, block_c=16, row_programs=2)
    check_fused(2, 1, 33, 3, activation, block_r=16, block_c=16, row_programs=1)


@needs_triton
@pytest.mark.parametrize("shape,dtype", [((3, 50, 4, 4), torch.float32), ((2, 7, 1, 4), torch.float32),
                                         ((3, 21, 5, 2), torch.float32), ((3, 50, 4, 4), torch.bfloat16)])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("narrow", [True, False])
def test_fused_narrow_tiles_match_the_reference(monkeypatch, shape, dtype, activation, narrow):
    """Fewer than 16 channels: NARROW_TILES (the default) in a tile as narrow as they allow and taller (C = 4:
    4 x 128 forward, 4 x 64 backward rows), or 16 wide, rows across sequence ends, forward and every gradient."""
    from kernels.conv import fused

    monkeypatch.setattr(fused, "NARROW_TILES", narrow)
    check_fused(*shape, activation, dtype=dtype, contiguous=shape[0] == 3, seed=sum(shape))


def test_narrow_tiles_change_the_launch_only_below_16_channels(monkeypatch):
    from kernels.conv import fused

    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", False)  # the tiled backward's launch

    def launch(C):
        return fused._bwd_launch(torch.empty(2048, 50, C), 4, row_programs=64)

    assert (launch(4)["block_c"], launch(4)["block_r"]) == (4, 64)  # the default: narrow
    assert (launch(192)["block_c"], launch(192)["block_r"]) == (64, 16)
    monkeypatch.setattr(fused, "NARROW_TILES", False)
    assert (launch(4)["block_c"], launch(4)["block_r"]) == (16, 16)
    monkeypatch.setattr(fused, "NARROW_TILES", True)
    assert (launch(5)["block_c"], launch(5)["block_r"]) == (8, 32)
    assert (launch(192)["block_c"], launch(192)["block_r"]) == (64, 16)  # 16 channels or more: unchanged


@needs_triton
@pytest.mark.parametrize("shared_x", [True, False])
def test_fused_backward_k4_silu_both_paths(monkeypatch, shared_x):
    """K = 4 with SiLU: the backward that loads each x shift once (``BWD_SHARED_X``) and the general one (the
    default) both match the reference, across sequence ends, channel blocks and several tiles per program, fp32
    and bf16."""
    from kernels.conv import fused

    monkeypatch.setattr(fused, "BWD_SHARED_X", shared_x)
    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", False)  # the tiled kernels (the default walks sequences)
    check_fused(3, 21, 64, 4, "silu", contiguous=False, block_r=16, block_c=16, row_programs=2, seed=11)
    check_fused(2, 2, 5, 4, "silu", block_r=16, row_programs=1, seed=12)
    check_fused(3, 50, 192, 4, "silu", dtype=torch.bfloat16, seed=13)


@needs_triton
@pytest.mark.parametrize("activation", ["silu", None])
def test_fused_backward_walking_sequences_in_time(monkeypatch, activation):
    """K = 4, ``BWD_SEQUENTIAL``: the backward that walks each sequence backwards a row at a time matches the
    reference: sequences shorter than the kernel (L = 1, 3), several sequences a program with the last one past
    the batch (3 sequences, 2 programs), channel blocks, strided x and dy, fp32 and bf16; K != 4 and fewer than 16
    channels keep the tiled kernels."""
    from kernels.conv import fused

    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", True)
    x = torch.zeros(3, 21, 64)
    assert fused._bwd_launch(x, 4, row_programs=1)["n_prog"] == 2  # two sequences a program, the last one masked
    assert fused._bwd_launch(x, 3)["block_r"] != 1  # K = 3: the tiled kernels
    assert fused._bwd_launch(torch.zeros(3, 21, 5), 4)["block_r"] != 1  # 5 channels: the tiled kernels
    check_fused(3, 21, 64, 4, activation, contiguous=False, block_c=16, row_programs=1, seed=21)
    check_fused(1, 1, 20, 4, activation, seed=22)
    check_fused(2, 3, 24, 4, activation, row_programs=2, seed=23)
    check_fused(3, 50, 192, 4, activation, dtype=torch.bfloat16, seed=24)
    check_fused(2, 9, 16, 4, activation, dy_transform=lambda dy: dy.transpose(0, 1).contiguous().transpose(0, 1))
    monkeypatch.setattr(fused, "SEQ_MAX_BLOCK_C", 32)  # two channel blocks of 32 at C = 48
    assert fused._bwd_launch(torch.zeros(2, 7, 48), 4)["n_cblocks"] == 2
    check_fused(2, 7, 48, 4, activation, seed=27)
    check_fused(3, 11, 5, 4, activation, row_programs=1, seed=25)
    check_fused(3, 11, 20, 3, activation, row_programs=1, seed=26)


@needs_triton
def test_sequential_backward_is_the_environments_choice(monkeypatch):
    """``BWD_SEQUENTIAL`` None: ``SEQREC_CONV_BWD_SEQUENTIAL`` picks the backward (on unless set); a bad value is an
    error naming the variable; True/False override it, and a call's own choice (the compiled ops') overrides both."""
    from kernels.conv import fused

    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", None)
    x = torch.zeros(3, 21, 64)
    monkeypatch.delenv("SEQREC_CONV_BWD_SEQUENTIAL", raising=False)
    assert fused._bwd_launch(x, 4)["block_r"] == 1
    monkeypatch.setenv("SEQREC_CONV_BWD_SEQUENTIAL", "0")
    assert fused._bwd_launch(x, 4)["block_r"] != 1
    assert fused._bwd_launch(x, 4, sequential=True)["block_r"] == 1
    monkeypatch.setenv("SEQREC_CONV_BWD_SEQUENTIAL", "1")
    assert fused._bwd_launch(x, 4)["block_r"] == 1
    assert fused._bwd_launch(x, 4, sequential=False)["block_r"] != 1
    assert fused._bwd_launch(torch.zeros(3, 21, 5), 4)["block_r"] != 1  # still not below 16 channels
    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", False)
    assert fused._bwd_launch(x, 4)["block_r"] != 1
    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", True)
    assert fused._bwd_launch(torch.zeros(3, 21, 192), 4)["block_c"] == 64  # SEQ_MAX_BLOCK_C
    monkeypatch.setattr(fused, "SEQ_MAX_BLOCK_C", 16)
    assert fused._bwd_launch(torch.zeros(3, 21, 192), 4)["n_cblocks"] == 12
    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", None)
    monkeypatch.setenv("SEQREC_CONV_BWD_SEQUENTIAL", "yes")
    with pytest.raises(ValueError, match="SEQREC_CONV_BWD_SEQUENTIAL='yes'"):
        fused._bwd_launch(x, 4)


@needs_triton
@pytest.mark.parametrize("K", [1, 3, 5])
def test_fused_other_kernel_sizes(K):
    """K <= 4 sums dweight elementwise over the tiles, K > 4 reduces per tile: both paths."""
    check_fused(3, 11, 20, K, "silu", contiguous=False, block_r=16, row_programs=1, seed=K)


@needs_triton
def test_fused_strided_output_gradient():
    check_fused(2, 9, 5, 4, "silu", dy_transform=lambda dy: dy.transpose(0, 1).contiguous().transpose(0, 1))
    check_fused(2, 9, 5, 4, None, dy_transform=lambda dy: torch.stack([dy, dy], -1)[..., 0])
    check_fused(2, 9, 5, 4, "silu", dy_transform=lambda dy: dy[:1, :1, :1].expand_as(dy))  # as from y.sum()


def test_reference_takes_bf16_input_with_fp32_parameters():
    """As the models call it under autocast (and the kernel suite times it): out and dx in x's dtype, dweight and
    dbias in fp32, the values those of the conv with the parameters rounded to bf16."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 9, 6, generator=g).bfloat16().requires_grad_(True)
    w, bias = (torch.randn(*s, generator=g).requires_grad_(True) for s in ((6, 4), (6,)))
    out = causal_conv1d_ref(x, w, bias, "silu")
    out.float().sum().backward()
    want = causal_conv1d_ref(x.double(), w.bfloat16().double(), bias.bfloat16().double(), "silu")
    assert out.dtype == x.grad.dtype == torch.bfloat16 and w.grad.dtype == bias.grad.dtype == torch.float32
    assert_close_rel(out, want, TOL[torch.bfloat16], "out")


@needs_triton
def test_fused_rejects_float64_and_bad_blocks():
    from kernels.conv.fused import causal_conv1d_fused

    x, w = torch.randn(1, 4, 3, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match="float64"):
        causal_conv1d_fused(x, w)
    with pytest.raises(ValueError, match="block_r"):
        causal_conv1d_fused(x.float(), w.float(), block_r=24)


@needs_triton
def test_public_op_triton_backend(monkeypatch):
    x, w, bias = torch.randn(2, 6, 5), torch.randn(5, 4), torch.randn(5)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="CUDA"):
            causal_conv1d(x, w, bias, "silu", backend="triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    x, w, bias = x.to(DEVICE), w.to(DEVICE), bias.to(DEVICE)
    torch.testing.assert_close(causal_conv1d(x, w, bias, "silu", backend="triton"),
                               causal_conv1d_ref(x, w, bias, "silu"), rtol=1e-5, atol=1e-5)


def test_public_op_auto_is_reference_on_cpu(monkeypatch):
    import kernels.conv.fused as fused

    monkeypatch.setattr(fused, "causal_conv1d_fused", lambda *a, **k: pytest.fail("auto on CPU must not use Triton"))
    x, w, bias = torch.randn(2, 6, 5), torch.randn(5, 4), torch.randn(5)
    assert torch.equal(causal_conv1d(x, w, bias, "silu"), causal_conv1d_ref(x, w, bias, "silu"))
    x64 = x.double()  # float64 stays on the reference under "auto" (on CUDA too)
    assert torch.equal(causal_conv1d(x64, w.double()), causal_conv1d_ref(x64, w.double()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape", [(2048, 50, 192, 4), (256, 200, 640, 4)])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_gpu_full_sizes(shape, activation, dtype):
    check_fused(*shape, activation, dtype=dtype, contiguous=activation is None, device="cuda")
    xw, w, bias = make_conv_inputs(*shape, dtype, "cuda")
    torch.testing.assert_close(causal_conv1d(xw, w, bias, activation, backend="auto"),
                               causal_conv1d(xw, w, bias, activation, backend="triton"), rtol=0, atol=0)


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fused_gpu_offsets_past_2_31():
    """B * L * C = 4.2e9 elements (bf16, ~34 GB in all): the last sequences' y and dx against the reference."""
    from kernels.conv.fused import causal_conv1d_fused

    b, L, C, K = 2048, 3200, 640, 4
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(b, L, C, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_(True)
    w = torch.randn(C, K, device="cuda", generator=g, requires_grad=True)
    bias = torch.randn(C, device="cuda", generator=g, requires_grad=True)
    y = causal_conv1d_fused(x, w, bias, "silu")
    dy = torch.randn(b, L, C, device="cuda", dtype=torch.bfloat16, generator=g)
    y.backward(dy)
    tail = slice(b - 2, b)
    leaves = [t.detach()[tail].double().requires_grad_(True) if t is x else t.detach().double() for t in (x, w, bias)]
    want = causal_conv1d_ref(*leaves, "silu")
    want.backward(dy[tail].double())
    assert_close_rel(y[tail], want, TOL[torch.bfloat16], "out")
    assert_close_rel(x.grad[tail], leaves[0].grad, TOL[torch.bfloat16], "x")
