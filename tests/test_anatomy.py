"""seqrec.anatomy: the bytes and FLOPs of one training step, attributed to modules (meta device, no compute)."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from seqrec.anatomy import add_arguments, by_module, record_train_step, run


class TwoLayer(torch.nn.Module):
    def __init__(self, n_items: int, d: int):
        super().__init__()
        self.emb = torch.nn.Embedding(n_items + 1, d)
        self.proj = torch.nn.Linear(d, d)

    def loss(self, item_seq, seq_len, time_seq, target):
        h = self.proj(self.emb(item_seq[:, -1]))
        return F.cross_entropy(h @ self.emb.weight[1:].t(), target - 1)


def test_a_linear_layer_moves_its_input_weight_bias_and_output_once():
    n_items, d, b = 30, 8, 16
    with torch.device("meta"):
        model = TwoLayer(n_items, d)
    batch = SimpleNamespace(item_seq=torch.randint(1, n_items + 1, (b, 5)).to("meta"),
                            seq_len=torch.full((b,), 5).to("meta"), time_seq=torch.zeros(b, 5).to("meta"),
                            target=torch.randint(1, n_items + 1, (b,)).to("meta"))
    records = record_train_step(model, batch)
    assert {r.phase for r in records} == {"forward", "backward", "optimizer"}
    proj_fwd = [r for r in records if r.module == "proj" and r.phase == "forward"]
    assert [r.op for r in proj_fwd] == ["addmm"]
    assert proj_fwd[0].bytes == 4 * (d + b * d + d * d + b * d)  # bias, input, weight, output
    assert proj_fwd[0].flops == 2 * b * d * d
    table = by_module(records, depth=1)
    assert table["MB"].sum() * 1e6 == sum(r.bytes for r in records)
    assert set(table["module"]) >= {"proj", "emb", "(no module: loss, Adam)"}


def run_cli(*args: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args(list(args)))


def test_the_command_runs_a_real_model_on_meta(capsys):
    assert run_cli("--model", "tim4rec", "--batch", "64", "--seq-len", "20", "--hidden", "16") == 0
    out = capsys.readouterr().out
    assert out.startswith("tim4rec, batch 64, L 20, hidden 16") and "layers.0.mixer" in out and "GB moved" in out


@pytest.mark.parametrize("args,error", [(["--profile", "2"], "needs --device cuda"),
                                        (["--out", "x.json"], "needs --profile")])
def test_profiling_options_are_checked(args, error):
    with pytest.raises(SystemExit, match=error):
        run_cli("--model", "sasrec", "--batch", "2", "--seq-len", "4", "--hidden", "8", *args)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("how", [[], ["--amp", "bf16"], ["--compile"]], ids=["fp32", "bf16", "compiled"])
def test_profile_lists_the_kernels_of_a_step_on_cuda(capsys, how):
    assert run_cli("--model", "tim4rec", "--batch", "256", "--seq-len", "50", "--hidden", "64", "--device", "cuda",
                   "--backend", "auto", "--profile", "3", *how) == 0
    out = capsys.readouterr().out
    assert "ms of kernels per step" in out and ("bf16 autocast" in out) == ("--amp" in how)
    assert "ms wall per step without the profiler" in out and "the host's time per step, by op" in out
    assert "first step" in out and ("_compile.compile_inner" in out) == ("--compile" in how)  # compile phases
    assert "source" in out and "kernels/" in out  # who launched them: our kernels' launchers at least


def test_a_profile_becomes_a_result_file_and_a_report_table(tmp_path):
    """write_profile (what ``anatomy --profile N --out`` writes) sums the kernels by category, and the report
    draws the categories per profiled step, with the card."""
    import json

    import pandas as pd

    from seqrec.report import build_report
    from seqrec.step_profile import categorize, write_profile

    kernels = {"_ssd_bwd_kernel": 1.9, "void at::native::conv_depthwise2d_grad_weight_kernel<float>": 1.5,
               "sm80_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize64x128x8": 0.6,
               "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float>": 0.7,
               "void at::native::reduce_kernel<128, 4, at::native::ReduceOp<float>>": 0.25,
               "triton_per_fused_add_div_mul_pow_sum_2": 0.05, "some_new_kernel": 0.1}
    assert categorize("triton_red_fused__log_softmax_nll_loss_backward_0") == "softmax / loss"
    assert categorize("_conv_bwd_kernel") == categorize("_conv_bwd_seq_k4_kernel") == "conv"
    assert categorize("_seq_bwd_kernel") == "sequence mixer (ours)"
    assert categorize("_ln_bwd_kernel") == categorize("_gated_rms_fwd_kernel") == "norm"
    table = pd.DataFrame({"kernel": list(kernels), "calls": [2.0] * len(kernels), "ms": list(kernels.values())})
    total = sum(kernels.values())
    setup = {"model": "tim4rec", "batch": 2048, "seq_len": 50, "hidden": 64, "n_items": 100, "backend": "auto",
             "compiled": False, "amp": "bf16", "steps": 20}
    path = write_profile(tmp_path / "r" / "gpu" / "profile" / "tim4rec.json", table, total, setup, "Card X")
    written = json.loads(path.read_text())
    assert "source" not in written["kernels"][0]
    sourced = write_profile(tmp_path / "sourced.json", table.assign(source="aten::sum < models/x.py(3): f"), total,
                            setup, "Card X")
    assert {k["source"] for k in json.loads(sourced.read_text())["kernels"]} == {"aten::sum < models/x.py(3): f"}
    assert written["kind"] == "profile" and written["categories"] == pytest.approx(
        {"sequence mixer (ours)": 1.9, "conv": 1.5, "GEMM": 0.6, "norm": 0.7, "reduction": 0.3, "other": 0.1})
    build_report(tmp_path / "r", tmp_path / "out")
    text = (tmp_path / "out" / "gpu" / "tables" / "profile.md").read_text()
    header, row = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert header.split(" | ")[:3] == ["| Step", "Total ms", "sequence mixer (ours)"]
    assert row.startswith("| tim4rec B2048 L50 h64 (eager, bf16) | " + f"{total:.2f} | 1.90 | 1.50 | 0.60 | 0.70 |")
    assert "Card X" in text and (tmp_path / "out" / "gpu" / "figures" / "profile.png").is_file()



def test_host_profile_names_the_op_that_holds_the_host():
    """A step whose host time goes to one named region: that region leads the table, at its time per step."""
    import time

    from torch.profiler import record_function

    from seqrec.anatomy import host_profile

    x = torch.randn(32, 32)

    def step():
        with record_function("slow_region"):
            time.sleep(0.02)
        x @ x

    step()  # the first matmul in a process sets its thread pool up
    table = host_profile(step, steps=3)
    assert table.iloc[0]["host op"] == "slow_region" and table.iloc[0]["calls"] == 1
    assert 19 <= table.iloc[0]["ms"] < 100 and "aten::mm" in set(table["host op"])
