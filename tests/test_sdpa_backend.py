"""SEQREC_SDPA_BACKEND (models/sdpa_backend.py): SASRec's attention on the kernel asked for gives the values and
gradients of PyTorch's pick, a run records the choice, and a bad value stops the run before any epoch, naming itself."""

from __future__ import annotations

import pytest
import torch

import models
from models.sdpa_backend import SDPA_BACKEND_ENV, sdpa_backend
from seqrec.train import TrainSetupError, train
from tests.test_train import consecutive_dataset


def sasrec_loss_and_grads(seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One SASRec (hidden 32, dropout 0) loss on a random right-padded batch, and its parameters' gradients."""
    torch.manual_seed(seed)
    model = models.build("sasrec", {"hidden_size": 32, "dropout": 0.0, "attn_dropout": 0.0, "max_len": 12}, 50)
    g = torch.Generator().manual_seed(seed + 1)
    seq_len = torch.randint(1, 13, (9,), generator=g)
    items = torch.randint(1, 51, (9, 12), generator=g) * (torch.arange(12) < seq_len[:, None])
    target = torch.randint(1, 51, (9,), generator=g)
    loss = model.loss(items, seq_len, torch.zeros(9, 12), target)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def test_the_kernel_asked_for_gives_the_others_values_and_gradients_and_is_the_one_used(monkeypatch):
    """On the CPU the math composite and the flash kernel both take SASRec's mask; the memory-efficient kernel is
    CUDA's only, so asking for it there fails at the forward: the choice is enforced, not a hint."""
    monkeypatch.setenv(SDPA_BACKEND_ENV, "math")
    math_loss, math_grads = sasrec_loss_and_grads()
    monkeypatch.setenv(SDPA_BACKEND_ENV, "flash")
    flash_loss, flash_grads = sasrec_loss_and_grads()
    torch.testing.assert_close(flash_loss, math_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(flash_grads, math_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    monkeypatch.setenv(SDPA_BACKEND_ENV, "efficient")
    with pytest.raises(RuntimeError, match="No viable backend"):
        sasrec_loss_and_grads()


def test_the_choice_comes_from_the_variable(monkeypatch):
    monkeypatch.delenv(SDPA_BACKEND_ENV, raising=False)
    assert sdpa_backend() is None
    monkeypatch.setenv(SDPA_BACKEND_ENV, "auto")
    assert sdpa_backend() is None
    monkeypatch.setenv(SDPA_BACKEND_ENV, "efficient")
    assert sdpa_backend() == "efficient"
    monkeypatch.setenv(SDPA_BACKEND_ENV, "mem_efficient")
    with pytest.raises(ValueError, match="SEQREC_SDPA_BACKEND='mem_efficient'"):
        sdpa_backend()


def test_a_run_records_the_kernel_and_a_bad_value_stops_it(tmp_path, monkeypatch):
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32}, seed=0, progress=False,
              train_config={"epochs": 1, "patience": 0, "batch_size": 16})
    monkeypatch.delenv(SDPA_BACKEND_ENV, raising=False)
    assert "sdpa_backend" not in train("sasrec", ds, out=tmp_path / "a.json", **kw)["implementation"]
    monkeypatch.setenv(SDPA_BACKEND_ENV, "math")
    assert train("sasrec", ds, out=tmp_path / "m.json", **kw)["implementation"]["sdpa_backend"] == "math"
    assert "sdpa_backend" not in train("ssd4rec", ds, out=tmp_path / "s.json", **{**kw, "config": {
        "hidden_size": 32, "backend": "torch"}})["implementation"]  # no attention: nothing to record
    monkeypatch.setenv(SDPA_BACKEND_ENV, "fast")
    with pytest.raises(TrainSetupError, match="SEQREC_SDPA_BACKEND='fast'"):
        train("sasrec", ds, out=tmp_path / "bad.json", **kw)
    assert not (tmp_path / "bad.json").exists()
