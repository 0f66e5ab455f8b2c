"""models/aligned_linear.py: a Linear's output padded to a multiple of 8 under autocast gives the plain Linear's
values and gradients; the SSD mixer (in_proj: 324 columns at hidden 64) trains the same through it."""

from __future__ import annotations

import pytest
import torch

import models
from models.aligned_linear import padded_linear


def test_padded_linear_is_the_linear_under_autocast_and_untouched_without(monkeypatch):
    monkeypatch.delenv("SEQREC_LINEAR_PAD", raising=False)
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 324)
    x = torch.randn(5, 7, 16, requires_grad=True)
    plain = padded_linear(x, lin)
    assert torch.equal(plain, lin(x)) and plain.is_contiguous()  # no autocast: the Linear itself
    out = {}
    for pad in ("8", "1"):
        monkeypatch.setenv("SEQREC_LINEAR_PAD", pad)
        lin.zero_grad()
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = padded_linear(x, lin)
        assert y.shape == (5, 7, 324) and y.stride(-2) == (328 if pad == "8" else 324)
        y.float().pow(2).sum().backward()
        out[pad] = (y.detach(), x.grad.clone(), lin.weight.grad.clone(), lin.bias.grad.clone())
    assert torch.equal(out["8"][0], out["1"][0])  # each column the same dot product
    for a, b in zip(out["8"][1:], out["1"][1:], strict=True):
        assert (a - b).norm() <= 1e-2 * b.norm()


def test_a_bad_multiple_is_named(monkeypatch):
    from models.aligned_linear import linear_out_multiple

    for bad in ("0", "eight"):
        monkeypatch.setenv("SEQREC_LINEAR_PAD", bad)
        with pytest.raises(ValueError, match=f"SEQREC_LINEAR_PAD='{bad}'"):
            linear_out_multiple()


def test_tim4rec_loss_is_the_same_with_its_in_proj_padded(monkeypatch):
    """TiM4Rec at hidden 64 (in_proj: 324 columns) under bf16 autocast: the loss with the in_proj padded to 328
    columns and without, to bf16 rounding; padding changes no parameter."""
    torch.manual_seed(0)
    cfg = {"hidden_size": 64, "n_layers": 1, "d_state": 32, "head_dim": 32, "dropout": 0.0, "time_dropout": 0.0,
           "max_len": 10, "backend": "torch"}
    model = models.build("tim4rec", cfg, n_items=40)
    assert model.layers[0].mixer.in_proj.out_features == 324
    g = torch.Generator().manual_seed(1)
    seq_len = torch.randint(1, 11, (6,), generator=g)
    real = torch.arange(10)[None, :] < seq_len[:, None]
    items = torch.randint(1, 41, (6, 10), generator=g) * real
    times = (1_300_000_000 + torch.cumsum(torch.randint(0, 86_400, (6, 10), generator=g), 1)) * real
    target = torch.randint(1, 41, (6,), generator=g)
    losses = {}
    for pad in ("8", "1"):
        monkeypatch.setenv("SEQREC_LINEAR_PAD", pad)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses[pad] = model.loss(items, seq_len, times, target)
    torch.testing.assert_close(losses["8"], losses["1"], rtol=2e-3, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_padded_in_proj_on_cuda_is_the_linear(monkeypatch):
    """CUDA's bf16 autocast at the campaign's size (102,400 rows, 64 -> 324): the padded GEMMs' output and
    gradients against the plain Linear's, to bf16 rounding."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 324).cuda()
    x0 = torch.randn(2048, 50, 64, device="cuda")
    dy = torch.randn(2048, 50, 324, device="cuda")
    out = {}
    for pad in ("8", "1"):
        monkeypatch.setenv("SEQREC_LINEAR_PAD", pad)
        lin.zero_grad()
        x = x0.clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = padded_linear(x, lin)
        y.backward(dy)
        out[pad] = (y.detach().float(), x.grad, lin.weight.grad, lin.bias.grad)
    assert out["8"][0].shape == (2048, 50, 324)
    for a, b in zip(out["8"], out["1"], strict=True):
        assert (a - b).norm() <= 1e-2 * b.norm()
