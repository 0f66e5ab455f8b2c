"""SEQREC_FP32_MODULES (models/fp32_islands.py): the modules named run in fp32 under bf16 autocast, the rest in bf16;
without autocast nothing changes; a pattern that matches nothing stops the run, naming it. Under compile:
tests/test_compile_custom_ops.py."""

from __future__ import annotations

import pytest
import torch

import models
from models.fp32_islands import FP32_MODULES_ENV, fp32_module_patterns, keep_fp32

N_ITEMS = 30


def tim4rec(seed: int = 0) -> models.SeqRecModel:
    torch.manual_seed(seed)
    return models.build("tim4rec", {"hidden_size": 32}, N_ITEMS, dataset="amazon-beauty").eval()


def inputs(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    B, L = 3, 7
    item_seq = torch.randint(1, N_ITEMS + 1, (B, L), generator=g)
    item_seq[0, :2] = 0  # left padding
    seq_len = (item_seq > 0).sum(1)
    time_seq = torch.cumsum(torch.randint(0, 5000, (B, L), generator=g), 1)
    return item_seq, seq_len, time_seq


def output_dtypes(model, names):
    """name -> dtype of that module's output in one bf16-autocast forward of ``model``."""
    seen, modules = {}, dict(model.named_modules())

    def record(name):
        def hook(module, args, out):
            seen[name] = out.dtype
        return hook

    hooks = [modules[n].register_forward_hook(record(n)) for n in names]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(*inputs())
    for h in hooks:
        h.remove()
    return seen


def test_the_modules_named_run_in_fp32_under_autocast_and_the_rest_in_bf16():
    model = tim4rec()
    names = ["layers.0.mixer.out_proj", "layers.1.mixer.in_proj", "layers.0.ffn.w1", "layers.1.ffn.w2"]
    assert set(output_dtypes(model, names).values()) == {torch.bfloat16}
    kept = keep_fp32(model, ("layers.*.mixer",))
    assert kept == ["layers.0.mixer", "layers.1.mixer"]
    dtypes = output_dtypes(model, names)
    assert dtypes["layers.0.mixer.out_proj"] == dtypes["layers.1.mixer.in_proj"] == torch.float32
    assert dtypes["layers.0.ffn.w1"] == dtypes["layers.1.ffn.w2"] == torch.bfloat16


def test_every_submodule_kept_gives_the_fp32_forward_and_none_kept_does_not():
    fp32 = tim4rec()
    with torch.no_grad():
        want = fp32(*inputs())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain = fp32(*inputs()).float()
    assert (plain - want).abs().max() > 1e-3  # bf16 rounds: the comparison below can fail
    islands = tim4rec()
    keep_fp32(islands, ("*",))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = islands(*inputs())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    with torch.no_grad():  # without autocast a kept module is unchanged
        torch.testing.assert_close(islands(*inputs()), want, rtol=0, atol=0)


def test_gradients_flow_through_kept_modules_to_fp32_parameters():
    model = tim4rec().train()
    keep_fp32(model, ("layers.*.ffn", "time_layers.*"))
    item_seq, seq_len, time_seq = inputs()
    target = torch.randint(1, N_ITEMS + 1, (item_seq.shape[0],))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.loss(item_seq, seq_len, time_seq, target).float()
    loss.backward()
    for name in ("layers.0.ffn.w1.weight", "time_layers.0.gate.weight", "time_layers.1.scale_mlp.0.weight",
                 "layers.0.mixer.in_proj.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.dtype == torch.float32 and grad.abs().sum() > 0, name


def test_kept_twice_wraps_once_and_a_pattern_matching_nothing_is_an_error():
    model = tim4rec()
    keep_fp32(model, ("layers.0.ffn",))
    keep_fp32(model, ("layers.0.ffn", "layers.*.ffn"))
    forward = model.layers[0].ffn.forward
    assert forward.__closure__ is not None
    inner = [c.cell_contents for c in forward.__closure__ if callable(c.cell_contents)]
    assert inner and getattr(inner[0], "__name__", "") == "forward"  # the bound method, not another wrapper
    with pytest.raises(ValueError, match=r"SEQREC_FP32_MODULES: pattern 'layers\.\*\.mixr'"):
        keep_fp32(model, ("layers.*.mixr",))


def test_patterns_come_from_the_variable(monkeypatch):
    monkeypatch.delenv(FP32_MODULES_ENV, raising=False)
    assert fp32_module_patterns() == ()
    monkeypatch.setenv(FP32_MODULES_ENV, " layers.*.mixer, ,time_layers.*")
    assert fp32_module_patterns() == ("layers.*.mixer", "time_layers.*")

