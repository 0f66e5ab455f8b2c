"""SEQREC_DROPOUT_MASKS (models/dropout_masks.py): a dropout drawing its mask as for a tensor of another dtype keeps
torch's values and gradients for that mask; "fp32" wraps every nn.Dropout of a model, "amp" those that autocast feeds
2-byte activations (found by a forward that draws nothing), each once and only in training; a bad value stops the run.
On CUDA: the premise (torch's dropout draws other masks for a bf16 tensor than for its float32 copy), the switch's
answer to it both ways, and a TiM4Rec step whose fp32 and bf16 runs share their masks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import models
from models.dropout_masks import DROPOUT_MASKS_ENV, autocast_input_dtypes, draw_masks_as, dropout_as, dropout_masks
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


def tim4rec(seed: int = 0) -> models.SeqRecModel:
    torch.manual_seed(seed)
    return models.build("tim4rec", {"hidden_size": 32}, 30, dataset="amazon-beauty")


def probe_inputs(device: str = "cpu", B: int = 2, L: int = 7):
    g = torch.Generator().manual_seed(2)
    item_seq = torch.randint(1, 31, (B, L), generator=g)
    time_seq = torch.cumsum(torch.randint(0, 5000, (B, L), generator=g), 1)
    return item_seq.to(device), torch.full((B,), L).to(device), time_seq.to(device)


AUTOCAST_FED = ["layers.0.dropout", "layers.0.ffn.dropout", "layers.1.dropout", "layers.1.ffn.dropout"]


def test_the_probe_finds_the_dropouts_autocast_feeds_and_draws_nothing():
    model = tim4rec().train()
    torch.manual_seed(9)
    before = torch.get_rng_state()
    seen = autocast_input_dtypes(model, probe_inputs())
    assert torch.equal(torch.get_rng_state(), before) and model.training
    assert sorted(n for n, d in seen.items() if d == torch.bfloat16) == AUTOCAST_FED  # the ffn's twice: one module
    assert {d for n, d in seen.items() if n not in AUTOCAST_FED} <= {torch.float32, torch.float64}
    assert set(AUTOCAST_FED) < set(seen) <= {n for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}


def test_every_dropout_or_the_autocast_fed_ones_are_wrapped_once_and_only_in_training():
    model = tim4rec()
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
    amp = tim4rec()
    assert draw_masks_as(amp, "amp", probe_inputs()) == AUTOCAST_FED
    assert not hasattr(amp.emb_dropout, "_seqrec_mask_dtype")
    assert amp.layers[0].dropout._seqrec_mask_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="amp needs the model's inputs"):
        draw_masks_as(tim4rec(), "amp")


def test_the_choice_comes_from_the_variable(monkeypatch):
    monkeypatch.delenv(DROPOUT_MASKS_ENV, raising=False)
    assert dropout_masks() == "input" and dropout_masks(None) == "input"  # a float32 run: torch's own
    assert dropout_masks("bf16") == "fp32" and dropout_masks("fp16") == "fp32"  # an amp run: the fp32 run's (part 24)
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "input")
    assert dropout_masks("bf16") == "input"
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "amp")
    assert dropout_masks() == "amp"
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "float32")
    with pytest.raises(ValueError, match="SEQREC_DROPOUT_MASKS='float32'"):
        dropout_masks()


def test_a_run_records_its_masks_and_a_bad_value_stops_it(tmp_path, monkeypatch):
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32}, seed=0, progress=False, backend="torch")
    tcfg = {"epochs": 1, "patience": 0, "batch_size": 16, "amp": "bf16"}
    monkeypatch.delenv(DROPOUT_MASKS_ENV, raising=False)
    unset = train("tim4rec", ds, out=tmp_path / "u.json", train_config=tcfg, **kw)
    assert unset["implementation"]["dropout_masks"] == "fp32"  # an amp run's default
    plain32 = train("tim4rec", ds, out=tmp_path / "f.json", train_config={**tcfg, "amp": None}, **kw)
    assert "dropout_masks" not in plain32["implementation"]
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "input")
    plain = train("tim4rec", ds, out=tmp_path / "p.json", train_config=tcfg, **kw)
    assert "dropout_masks" not in plain["implementation"]
    monkeypatch.setenv(DROPOUT_MASKS_ENV, "amp")
    amp_masks = train("tim4rec", ds, out=tmp_path / "a.json", train_config={**tcfg, "amp": None}, **kw)
    assert amp_masks["implementation"]["dropout_masks"] == "amp"
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


def dropout_keeps(model, inputs, amp: bool) -> dict[str, list[torch.Tensor]]:
    """{dropout name: [where each call kept its input]} in one training forward of ``model`` after seed 11, under bf16
    autocast or not (an input of 0 counts as kept: both precisions see the same zeros, the padding's)."""
    keeps: dict[str, list[torch.Tensor]] = {}

    def record(name):
        def hook(module, args, out):
            keeps.setdefault(name, []).append(((out != 0) | (args[0] == 0)).cpu())
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    torch.manual_seed(11)
    with torch.autocast(inputs[0].device.type, dtype=torch.bfloat16, enabled=amp):
        model(*inputs)
    for hook in hooks:
        hook.remove()
    return keeps


def same_keeps(a, b, names) -> bool:
    return all(len(a[n]) == len(b[n]) and all(torch.equal(x, y) for x, y in zip(a[n], b[n], strict=True))
               for n in names)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_tim4rec_forward_draws_the_other_precisions_masks_on_cuda():
    inputs = probe_inputs("cuda", B=64, L=50)
    plain = tim4rec().cuda().train()
    fp32, bf16 = dropout_keeps(plain, inputs, amp=False), dropout_keeps(plain, inputs, amp=True)
    others = [n for n in fp32 if n not in AUTOCAST_FED]
    assert same_keeps(fp32, bf16, others) and not same_keeps(fp32, bf16, AUTOCAST_FED)  # the premise, in the model
    fast = tim4rec().cuda().train()
    draw_masks_as(fast, "fp32")
    assert same_keeps(dropout_keeps(fast, inputs, amp=True), fp32, fp32)  # bf16 with the fp32 run's masks
    eager = tim4rec().cuda().train()
    draw_masks_as(eager, "amp", inputs)
    assert same_keeps(dropout_keeps(eager, inputs, amp=False), bf16, bf16)  # fp32 with the amp run's masks
