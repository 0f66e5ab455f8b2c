"""SEQREC_DROPOUT_MASKS (models/dropout_masks.py): a dropout drawing its mask as for a tensor of another dtype keeps
torch's values and gradients for that mask; every nn.Dropout of a model is wrapped once, only in training; a bad value
stops the run. On CUDA: the premise (torch's dropout draws other masks for a bf16 tensor than for its float32 copy)
and the switch's answer to it (the bf16 activation dropped with the float32 tensor's mask)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import models
from models.dropout_masks import DROPOUT_MASKS_ENV, draw_masks_as, dropout_as, dropout_masks
from seqrec.train import TrainSetupError, train
from tests.test_train import consecutive_dataset

P = 0.4


def activations(dtype: torch.dtype, device: str = "cpu", seed: int = 0) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(64, 50, 24, generator=g, device=device).to(dtype).requires_grad_()


def test_a_wider_mask_drops_the_widened_copy_and_rounds_once():
    x = activations(torch.bfloat16)
    torch.manual_seed(3)
    got = dropout_as(x, P, torch.float32)
    torch.manual_seed(3)
    want = F.dropout(x.detach().float(), P, True)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, want.to(torch.bfloat16))
    grad = torch.randn_like(got)
    got.backward(grad)
    keep = want != 0
    assert torch.equal(x.grad != 0, keep & (grad != 0))
    torch.testing.assert_close(x.grad, (grad.float() * keep * (1 / (1 - P))).to(torch.bfloat16), rtol=8e-3, atol=0)


def test_a_narrower_mask_is_the_one_drawn_for_the_narrow_copy():
    x = activations(torch.float32)
    torch.manual_seed(5)
    got = dropout_as(x, P, torch.bfloat16)
    torch.manual_seed(5)
    _, keep = torch.native_dropout(x.detach().to(torch.bfloat16), P, True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, x.detach() * keep / (1 - P), rtol=1e-6, atol=0)
    assert ((got == 0) == ~keep).all() and 0.5 < keep.float().mean() < 0.7
    grad = torch.randn_like(got)
    got.backward(grad)
    torch.testing.assert_close(x.grad, grad * keep / (1 - P), rtol=1e-6, atol=0)


def test_every_dropout_is_wrapped_once_and_only_in_training():
    torch.manual_seed(0)
    model = models.build("tim4rec", {"hidden_size": 32}, 30, dataset="amazon-beauty")
    dropouts = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    assert draw_masks_as(model, "input") == []
    assert draw_masks_as(model, "fp32") == dropouts and len(dropouts) == 10
    inner = model.emb_dropout.forward
    assert draw_masks_as(model, "fp32") == dropouts and model.emb_dropout.forward is inner  # not wrapped twice
    model.eval()
    x = activations(torch.bfloat16)
    assert torch.equal(model.emb_dropout(x), x)
    model.train()
    torch.manual_seed(1)
    dropped = model.emb_dropout(x)
    torch.manual_seed(1)
    assert torch.equal(dropped, dropout_as(x, model.emb_dropout.p, torch.float32))


def test_the_choice_comes_from_the_variable(monkeypatch):
    monkeypatch.delenv(DROPOUT_MASKS_ENV, raising=False)
    assert dropout_masks() == "input"
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "bf16")
    assert dropout_masks() == "bf16"
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "float32")
    with pytest.raises(ValueError, match="SEQREC_DROPOUT_MASKS='float32'"):
        dropout_masks()


def test_a_run_records_its_masks_and_a_bad_value_stops_it(tmp_path, monkeypatch):
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32}, seed=0, progress=False, backend="torch")
    tcfg = {"epochs": 1, "patience": 0, "batch_size": 16, "amp": "bf16"}
    monkeypatch.delenv(DROPOUT_MASKS_ENV, raising=False)
    plain = train("tim4rec", ds, out=tmp_path / "p.json", train_config=tcfg, **kw)
    assert "dropout_masks" not in plain["implementation"]
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "fp32")
    fp32_masks = train("tim4rec", ds, out=tmp_path / "m.json", train_config=tcfg, **kw)
    assert fp32_masks["implementation"]["dropout_masks"] == "fp32"
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "fp64")
    with pytest.raises(TrainSetupError, match="SEQREC_DROPOUT_MASKS='fp64'"):
        train("tim4rec", ds, out=tmp_path / "bad.json", train_config=tcfg, **kw)
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_other_masks_for_bf16_and_the_switch_draws_the_float32_ones():
    x = activations(torch.float32, "cuda").detach()
    torch.manual_seed(7)
    fp32 = F.dropout(x, P, True) != 0
    torch.manual_seed(7)
    bf16 = F.dropout(x.to(torch.bfloat16), P, True) != 0
    assert (fp32 != bf16).float().mean() > 0.2  # the premise: another stream, not the same masks
    torch.manual_seed(7)
    switched = dropout_as(x.to(torch.bfloat16), P, torch.float32) != 0
    assert torch.equal(switched, fp32)
    torch.manual_seed(7)
    narrowed = dropout_as(x, P, torch.bfloat16) != 0
    assert torch.equal(narrowed, bf16)
