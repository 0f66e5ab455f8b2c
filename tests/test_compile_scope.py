"""SEQREC_COMPILE_SCOPE=blocks (seqrec/compile_scope.py): each block of a model's layer lists compiled apart, a
list's blocks sharing one graph, the rest eager; the same training as eager. Dynamo and AOTAutograd run for real;
inductor's code generation is swapped for aot_eager (minutes of C++ compilation on 2 cores)."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from seqrec import compile_scope
from seqrec.train import TrainSetupError, train
from tests.test_train import consecutive_dataset


def test_the_scope_is_loss_unless_set_and_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.delenv("SEQREC_COMPILE_SCOPE", raising=False)
    assert compile_scope.compile_scope() == "loss"
    monkeypatch.setenv("SEQREC_COMPILE_SCOPE", "blocks")
    assert compile_scope.compile_scope() == "blocks"
    monkeypatch.setenv("SEQREC_COMPILE_SCOPE", "layers")
    with pytest.raises(ValueError, match="SEQREC_COMPILE_SCOPE='layers': choose one of loss, blocks"):
        compile_scope.compile_scope()


def _counting_compile(monkeypatch) -> tuple[CompileCounterWithBackend, list[int]]:
    """torch.compile with aot_eager behind a graph counter; the rows each compiled call saw."""
    real_compile, counter, rows = torch.compile, CompileCounterWithBackend("aot_eager"), []

    def compile_(fn, **kw):
        kw.pop("options", None)  # inductor's options: no inductor here
        inner = real_compile(fn, backend=counter, **kw)

        def call(*args, **kwargs):
            rows.append(args[0].shape[0])
            return inner(*args, **kwargs)
        return call

    monkeypatch.setattr(torch, "compile", compile_)
    return counter, rows


@pytest.mark.parametrize("model", ["tim4rec", "sasrec"])
def test_blocks_scope_trains_the_eager_model_compiling_each_lists_block_once(tmp_path, monkeypatch, model):
    """TiM4Rec (2 SSD blocks, 2 time layers) and SASRec (2 attention blocks): the compiled blocks see the full
    batches only (4 an epoch; the partial batch and evaluation run eagerly), a list's blocks share their graphs (4
    layers compile as many as 3), and the run's losses and metrics are eager's; the result records the scope, and
    the lookup's padding gradient as eager's (row 0)."""
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32, "dropout": 0.0, **({"time_dropout": 0.0} if model == "tim4rec" else {})},
              seed=0, progress=False, backend="torch")
    tcfg = {"epochs": 2, "patience": 0, "batch_size": 20}  # 4 x 20 + 16 training rows an epoch
    eager = train(model, ds, out=tmp_path / "e.json", train_config=tcfg, **kw)
    counter, rows = _counting_compile(monkeypatch)
    monkeypatch.setenv("SEQREC_COMPILE_SCOPE", "blocks")
    torch._dynamo.reset()
    comp = train(model, ds, out=tmp_path / "c.json", train_config={**tcfg, "compile": True}, **kw)
    n_blocks = 4 if model == "tim4rec" else 2
    assert rows == [20] * 8 * n_blocks  # each block, each full batch, nothing else
    # a list's blocks share their graphs: a fourth layer compiles nothing a third did not (the first time layer's
    # input is the expanded time features, the last passes nothing on: TiM4Rec's middle ones share theirs)
    frames = []
    for depth in (3, 4):
        torch._dynamo.reset()
        before = counter.frame_count
        deeper = train(model, ds, out=tmp_path / f"d{depth}.json", train_config={**tcfg, "compile": True,
                                                                                 "epochs": 1},
                       **{**kw, "config": {**kw["config"], "n_layers": depth}})
        assert deeper["config"]["n_layers"] == depth
        frames.append(counter.frame_count - before)
    assert frames[0] == frames[1] > 0
    for a, b in zip(eager["epochs"], comp["epochs"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    for split in ("valid", "test"):
        for k, v in eager["metrics"][split].items():
            assert comp["metrics"][split][k] == pytest.approx(v, abs=1e-6), (split, k)


def test_blocks_scope_takes_no_compile_ahead(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_COMPILE_SCOPE", "blocks")
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    with pytest.raises(TrainSetupError, match="compile_ahead compiles the whole loss: unset SEQREC_COMPILE_SCOPE"):
        train("tim4rec", ds, out=tmp_path / "x.json", train_config={"compile": True, "compile_ahead": True},
              config={"hidden_size": 32}, seed=0, progress=False, backend="torch")


def test_compile_blocks_wraps_each_block_once_and_leaves_the_weights():
    """A second call keeps the first's wrappers (make_step may build the loss twice); the state dict is untouched."""
    layers = torch.nn.Sequential(torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)]))
    keys = list(layers.state_dict())
    assert compile_scope.compile_blocks(layers, None, 3) == 2
    wrapped = [block.forward for block in layers[0]]
    assert compile_scope.compile_blocks(layers, None, 3) == 2
    assert [block.forward for block in layers[0]] == wrapped and list(layers.state_dict()) == keys
    x = torch.randn(2, 4)  # 2 rows, not the batch of 3: eager
    assert torch.equal(layers[0][0](x), layers[0][0]._eager_forward(x))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["sasrec", "tim4rec", "tisasrec", "mamba4rec", "ssd4rec"])
def test_blocks_scope_graphed_bf16_step_matches_eager(name, monkeypatch, request):
    """The blocks scope on #4's fast path (bf16, compiled with inductor, CUDA graph): the graphed steps leave the
    eager loop's parameters and losses (``tests/test_train.py``'s graphed-step test, run with the variable set)."""
    from tests.test_train import test_cuda_graph_step_matches_eager as graphed_step_matches_eager

    monkeypatch.setenv("SEQREC_COMPILE_SCOPE", "blocks")
    graphed_step_matches_eager(name, "bf16", True, monkeypatch, request)
