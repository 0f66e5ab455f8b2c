"""The training loop, checkpoints and ``seqrec train`` on CPU.

Two layers: small in-test fakes (a synthetic dataset with the SeqDataset API and tiny SeqRecModel
subclasses registered through the real registry) test the loop's mechanics exactly and fast; the real
pieces (``seqrec.data`` on ml-100k, ``models.build("sasrec")``, ``seqrec.metrics``) are exercised end to
end when they are present.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import models
import seqrec.data
from models.common import SeqRecModel
from seqrec import runtime
from seqrec.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from seqrec.cli import main as cli_main
from seqrec.data import SeqDataset
from seqrec.run_claim import RunClaimed, lock_path
from seqrec.train import TrainSetupError, evaluate, train
from seqrec.train_cli import parse_set
from tests.test_run_claim import hold_in_another_process

HAVE_SASREC = "sasrec" in models.MODELS and models.config_path("sasrec").exists()
needs_sasrec = pytest.mark.skipif(not HAVE_SASREC, reason="models/sasrec.py not present")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from intra-op threads, and OpenMP spinning on a busy shared machine
    makes these tests 10x slower; the previous setting is restored for the other test modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------- fakes
def make_dataset(seqs: list[list[int]], n_items: int, max_len: int, name: str = "synthetic") -> SeqDataset:
    """A real ``SeqDataset`` over explicit user sequences (one day between interactions)."""
    lengths = torch.tensor([len(x) for x in seqs])
    items = torch.tensor([i for x in seqs for i in x], dtype=torch.long)
    times = 1_000_000_000 + 86_400 * torch.cat([torch.arange(1, n + 1) for n in lengths.tolist()])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    checksum = hashlib.sha256(json.dumps(seqs).encode()).hexdigest()
    return SeqDataset(name=name, items=items, times=times, offsets=offsets, n_items=n_items, max_len=max_len,
                      checksum=checksum)


def consecutive_dataset(n_users: int = 24, n_items: int = 60, max_len: int = 8, seed: int = 0) -> SeqDataset:
    """Each user watches a run of consecutive items, so the next item is always ``last + 1``."""
    rng = random.Random(seed)
    seqs = []
    for _ in range(n_users):
        n = rng.randint(5, 12)
        start = rng.randint(1, n_items - n + 1)
        seqs.append(list(range(start, start + n)))
    return make_dataset(seqs, n_items, max_len)


class TinyModel(SeqRecModel):
    """Embedding -> dropout -> mean over real positions -> linear (uses the global RNG through dropout)."""

    def __init__(self, n_items: int, hidden_size: int = 8, dropout: float = 0.3, backend: str = "auto"):
        super().__init__(n_items, hidden_size)
        self.backend = backend
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def encode(self, item_seq, seq_len, time_seq):
        x = self.dropout(self.item_embedding(item_seq))
        mask = (torch.arange(item_seq.size(1))[None, :] < seq_len[:, None]).float()[..., None]
        running = (x * mask).cumsum(1) / torch.arange(1, item_seq.size(1) + 1)[None, :, None]
        return self.proj(running)


class PeakingModel(TinyModel):
    """Counts its training steps; ranks ``last item + 1`` first exactly when the count equals ``peak``
    and last otherwise. With one step per epoch, validation NDCG@10 is 1 at epoch ``peak`` only."""

    def __init__(self, n_items: int, hidden_size: int = 8, dropout: float = 0.0, peak: int = 3):
        super().__init__(n_items, hidden_size, dropout)
        self.peak = peak
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def loss(self, item_seq, seq_len, time_seq, target):
        self.steps += 1
        return super().loss(item_seq, seq_len, time_seq, target)

    def full_scores(self, item_seq, seq_len, time_seq):
        scores = super().full_scores(item_seq, seq_len, time_seq)
        nxt = item_seq.gather(1, (seq_len - 1)[:, None]) + 1
        bonus = 1e4 if int(self.steps) == self.peak else -1e4
        return scores.scatter_add(1, nxt.clamp(max=self.n_items), torch.full_like(nxt, bonus, dtype=scores.dtype))


FAKE_MODELS = {"tiny": TinyModel, "peaking": PeakingModel}
FAKE_CONFIGS = {
    "tiny": '[model]\nhidden_size = 8\ndropout = 0.3\nbackend = "auto"\n[train]\nbatch_size = 16\n'
            'eval_batch_size = 32\nepochs = 4\npatience = 2\n',
    "peaking": "[model]\nhidden_size = 8\ndropout = 0.0\npeak = 3\n[train]\nbatch_size = 8\nepochs = 20\n"
               "patience = 2\n",
}


@pytest.fixture
def fake_models(monkeypatch, tmp_path):
    """Register the fake models through the real registry (config files in a temporary folder)."""
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    for name, text in FAKE_CONFIGS.items():
        (config_dir / f"{name}.toml").write_text(text)
        monkeypatch.setitem(models.MODELS, name, f"tests.test_train:{FAKE_MODELS[name].__name__}")
    real_path, real_class = models.config_path, models.model_class
    monkeypatch.setattr(models, "config_path",
                        lambda name: config_dir / f"{name}.toml" if name in FAKE_MODELS else real_path(name))
    monkeypatch.setattr(models, "model_class", lambda name: FAKE_MODELS.get(name) or real_class(name))
    return FAKE_MODELS


def _fake_train(ds, tmp_path, name="tiny", **kw):
    kw.setdefault("progress", False)
    return train(name, ds, seed=kw.pop("seed", 0), out=kw.pop("out", tmp_path / "run.json"), **kw)


def _comparable(result: dict) -> dict:
    """The parts of a result that must not depend on timing or interruption."""
    return {"metrics": result["metrics"], "best_epoch": result["best_epoch"], "epochs_run": result["epochs_run"],
            "losses": [e["train_loss"] for e in result["epochs"]], "valid": [e["valid"] for e in result["epochs"]],
            "config": result["config"], "train_config": result["train_config"], "n_parameters": result["n_parameters"]}


# ------------------------------------------------------------------------------------------ runtime
def test_resolve_device():
    assert runtime.resolve_device("cpu").type == "cpu"
    assert runtime.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        runtime.resolve_device("gpu0")
    with pytest.raises(ValueError, match="unsupported device"):
        runtime.resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.resolve_device("cuda")


def test_rng_state_round_trip(tmp_path):
    runtime.seed_everything(123)
    state = runtime.rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    # through a checkpoint file, which must load with weights_only=True
    save_checkpoint(tmp_path / "c.ckpt", {"rng": state})
    runtime.seed_everything(999)
    runtime.set_rng_state(load_checkpoint(tmp_path / "c.ckpt")["rng"])
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])


def test_deterministic_context_restores_flag():
    before = torch.are_deterministic_algorithms_enabled()
    with runtime.deterministic(True):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before


def test_stopwatch_and_memory_on_cpu():
    with runtime.Stopwatch("cpu") as sw:
        sum(range(10_000))
    assert sw.seconds > 0
    assert runtime.peak_memory_bytes("cpu") is None
    assert runtime.count_parameters(nn.Linear(3, 2)) == 8


def test_checkpoint_is_atomic_and_rejects_garbage(tmp_path):
    path = checkpoint_path(tmp_path / "r.json", None, "x")
    assert path == tmp_path / "r.json.ckpt"
    assert checkpoint_path(tmp_path / "a" / "r.json", tmp_path / "ck", "x") == tmp_path / "ck" / "r.json.ckpt"
    assert checkpoint_path(None, None, "x") is None
    save_checkpoint(path, {"a": torch.arange(3)})
    assert torch.equal(load_checkpoint(path)["a"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["r.json.ckpt"]  # no temporary file left behind
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="r.json.ckpt"):
        load_checkpoint(path)
    assert load_checkpoint(tmp_path / "missing.ckpt") is None


# ------------------------------------------------------------------------------- loop with the fakes
@pytest.fixture
def tiny_ds():
    return consecutive_dataset()


def test_fake_run_is_deterministic(fake_models, tiny_ds, tmp_path):
    a = _fake_train(tiny_ds, tmp_path, out=tmp_path / "a.json")
    b = _fake_train(tiny_ds, tmp_path, out=tmp_path / "b.json")
    assert _comparable(a) == _comparable(b)
    c = _fake_train(tiny_ds, tmp_path, out=tmp_path / "c.json", seed=1)
    assert [e["train_loss"] for e in c["epochs"]] != [e["train_loss"] for e in a["epochs"]]


@pytest.mark.parametrize("stop_after", [1, 3])
def test_resume_after_interrupt_equals_uninterrupted(fake_models, tiny_ds, tmp_path, stop_after):
    full = _fake_train(tiny_ds, tmp_path, out=tmp_path / "full.json", train_config={"patience": 0})

    class Crash(Exception):
        pass

    def crash(record):
        if record["epoch"] == stop_after:
            raise Crash

    out = tmp_path / "resumed.json"
    with pytest.raises(Crash):
        _fake_train(tiny_ds, tmp_path, out=out, train_config={"patience": 0}, on_epoch_end=crash)
    ckpt = out.with_name(out.name + ".ckpt")
    assert ckpt.exists() and not out.exists()
    assert load_checkpoint(ckpt)["epochs_done"] == stop_after
    runtime.seed_everything(4321)  # a fresh process would not share the global RNG state
    seen = []
    resumed = _fake_train(tiny_ds, tmp_path, out=out, train_config={"patience": 0}, on_epoch_end=seen.append)
    assert [r["epoch"] for r in seen] == list(range(stop_after + 1, full["epochs_run"] + 1))
    assert resumed["resumed_from_epoch"] == stop_after
    assert _comparable(resumed) == _comparable(full)
    assert not ckpt.exists() and out.exists()


def test_a_run_another_process_holds_is_left_to_it(fake_models, tiny_ds, tmp_path, monkeypatch, capsys):
    """While another process holds the run, train raises RunClaimed before it reads the checkpoint (a corrupt one
    here, which reading would refuse) and writes nothing; `seqrec train` exits 75. Once the holder is killed the
    run trains, and its lock file is gone."""
    out = tmp_path / "run.json"
    ckpt = out.with_name(out.name + ".ckpt")
    holder = hold_in_another_process(ckpt)
    try:
        ckpt.write_bytes(b"not a checkpoint")
        with pytest.raises(RunClaimed, match=f"another process is training this run \\(pid {holder.pid} "):
            _fake_train(tiny_ds, tmp_path, out=out)
        monkeypatch.setattr(seqrec.data, "load_dataset", lambda name, data_dir=None, **kw: tiny_ds)
        capsys.readouterr()
        assert cli_main(["train", "--model", "tiny", "--dataset", "fake", "--hidden", "8", "--out", str(out),
                         "--device", "cpu", "--no-progress"]) == 75
        assert "not run:" in capsys.readouterr().err
        assert ckpt.read_bytes() == b"not a checkpoint" and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    ckpt.unlink()
    assert _fake_train(tiny_ds, tmp_path, out=out)["status"] == "ok"
    assert out.exists() and not ckpt.exists() and not lock_path(ckpt).exists()


def test_checkpoint_stores_best_weights_only_where_they_are_not_the_models(fake_models, tiny_ds, tmp_path):
    """A checkpoint written at the best epoch so far holds no copy of the best weights (they are the model's: a
    quarter of its bytes); one written later holds the copy. A run resumed from either ends as the uninterrupted one."""
    tc = {"patience": 0, "epochs": 8, "lr": 0.3}
    full = _fake_train(tiny_ds, tmp_path, out=tmp_path / "full.json", train_config=tc)
    valid = [e["valid"]["ndcg@10"] for e in full["epochs"]]
    best_so_far = [max(range(e + 1), key=lambda i: (valid[i], -i)) + 1 for e in range(len(valid))]
    at_best = next(e for e in range(1, len(valid) + 1) if best_so_far[e - 1] == e)
    after_best = next(e for e in range(1, len(valid) + 1) if best_so_far[e - 1] < e)  # a stale epoch
    for stop_after in (at_best, after_best):
        out = tmp_path / f"stop{stop_after}.json"

        def crash(record, _stop=stop_after):
            if record["epoch"] == _stop:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            _fake_train(tiny_ds, tmp_path, out=out, train_config=tc, on_epoch_end=crash)
        ckpt = load_checkpoint(out.with_name(out.name + ".ckpt"))
        assert ckpt["best_epoch"] == best_so_far[stop_after - 1]
        assert (ckpt["best_state"] is None) == (stop_after == at_best)
        runtime.seed_everything(4321)
        assert _comparable(_fake_train(tiny_ds, tmp_path, out=out, train_config=tc)) == _comparable(full)


def _interrupted_after_one_epoch(tiny_ds, tmp_path) -> Path:
    """The out path of a run stopped after its first epoch (its checkpoint beside it)."""
    def crash(record):
        raise KeyboardInterrupt

    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        _fake_train(tiny_ds, tmp_path, out=out, on_epoch_end=crash)
    return out


def test_checkpoint_of_another_run_is_refused(fake_models, tiny_ds, tmp_path):
    out = _interrupted_after_one_epoch(tiny_ds, tmp_path)
    with pytest.raises(TrainSetupError, match="different run"):
        _fake_train(tiny_ds, tmp_path, out=out, config={"hidden_size": 4})
    # more epochs is a change a resumed run may make
    result = _fake_train(tiny_ds, tmp_path, out=out, train_config={"epochs": 5, "patience": 0})
    assert result["epochs_run"] == 5 and result["resumed_from_epoch"] == 1


@pytest.mark.parametrize("stored_rng", ["inductor", None])  # None: written before the key existed
def test_eager_checkpoint_resumes_whatever_compile_rng_says(fake_models, tiny_ds, tmp_path, stored_rng):
    """compile_rng changes nothing in an eager run: its checkpoint resumes under either value or the default
    (part 7's ml-1m checkpoints were written with compile_rng "inductor", the default then)."""
    out = _interrupted_after_one_epoch(tiny_ds, tmp_path)
    ckpt_file = out.with_name(out.name + ".ckpt")
    ckpt = load_checkpoint(ckpt_file)
    stored = json.loads(ckpt["fingerprint"])
    assert stored["train_config"]["compile"] is False
    if stored_rng is None:
        del stored["train_config"]["compile_rng"]
    else:
        stored["train_config"]["compile_rng"] = stored_rng
    ckpt["fingerprint"] = json.dumps(stored, sort_keys=True)
    save_checkpoint(ckpt_file, ckpt)
    with pytest.raises(TrainSetupError, match="different run"):  # a key that changes the run still counts
        _fake_train(tiny_ds, tmp_path, out=out, train_config={"lr": 0.5})
    result = _fake_train(tiny_ds, tmp_path, out=out, train_config={"epochs": 3, "patience": 0})
    assert result["resumed_from_epoch"] == 1 and result["epochs_run"] == 3


def test_checkpoint_written_with_cuda_graph_in_its_fingerprint_resumes(fake_models, tiny_ds, tmp_path):
    """cuda_graph is how a step runs (EXECUTION_ONLY): a checkpoint whose fingerprint holds it, as those written
    before it was, resumes a run that leaves it out; other keys still make another run."""
    from seqrec.train import EXECUTION_ONLY, RESUMABLE_CHANGES, _same_run

    assert "cuda_graph" in EXECUTION_ONLY and set(EXECUTION_ONLY) <= set(RESUMABLE_CHANGES)
    out = _interrupted_after_one_epoch(tiny_ds, tmp_path)
    ckpt_file = out.with_name(out.name + ".ckpt")
    ckpt = load_checkpoint(ckpt_file)
    stored = json.loads(ckpt["fingerprint"])
    assert "cuda_graph" not in stored["train_config"]
    for graphed in (False, True):
        old = {**stored, "train_config": {**stored["train_config"], "cuda_graph": graphed}}
        assert _same_run(json.dumps(old, sort_keys=True), ckpt["fingerprint"])
        changed = {**old, "train_config": {**old["train_config"], "lr": 0.5}}
        assert not _same_run(json.dumps(changed, sort_keys=True), ckpt["fingerprint"])
    ckpt["fingerprint"] = json.dumps({**stored, "train_config": {**stored["train_config"], "cuda_graph": False}},
                                     sort_keys=True)
    save_checkpoint(ckpt_file, ckpt)
    result = _fake_train(tiny_ds, tmp_path, out=out, train_config={"epochs": 3, "patience": 0})
    assert result["resumed_from_epoch"] == 1 and result["epochs_run"] == 3


@pytest.mark.parametrize("saved,wanted", [(False, True), (True, False)])
def test_set_capturable_overrides_what_the_checkpoint_restored(saved, wanted):
    """Adam's load_state_dict restores the saved ``capturable``; a run resumed with(out) the CUDA graph needs its
    own, and the step counters where that mode keeps them."""
    from seqrec.train import set_capturable

    w = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.Adam([w], lr=0.1)
    w.grad = torch.randn(3)
    opt.step()
    state = opt.state_dict()
    state["param_groups"][0]["capturable"] = saved
    fresh = torch.optim.Adam([w], lr=0.1, capturable=wanted)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["capturable"] is saved  # what makes set_capturable necessary
    set_capturable(fresh, wanted)
    assert fresh.param_groups[0]["capturable"] is wanted
    step = fresh.state[w]["step"]
    assert step.dtype == torch.float32 and step.device == (w.device if wanted else torch.device("cpu"))
    assert float(step) == 1.0


@pytest.mark.parametrize("saved", [None, True])
def test_set_capturable_also_sets_fused_whatever_the_checkpoint_said(saved):
    """A checkpoint of a run with the other Adam (foreach or fused) resumes with this run's: load_state_dict
    restores the saved ``fused``; set_capturable puts this run's back. The fused Adam's steps are PyTorch's fused
    kernel (on CPU here) and agree with the foreach Adam's."""
    from seqrec.train import set_capturable

    w = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([w], lr=0.1, fused=saved)
    w.grad = torch.randn(5)
    opt.step()
    state = opt.state_dict()
    assert state["param_groups"][0]["fused"] is saved
    for wanted in (None, True):
        fresh = torch.optim.Adam([w], lr=0.1, fused=wanted)
        fresh.load_state_dict(copy.deepcopy(state))
        set_capturable(fresh, False, fused=wanted)
        assert fresh.param_groups[0]["fused"] is wanted


def test_graph_adam_is_fused_unless_asked_for_foreach(monkeypatch):
    from seqrec.train import build_adam, graph_adam_fused

    tcfg = {"lr": 1e-3, "weight_decay": 0.0}
    w = torch.nn.Parameter(torch.randn(4))
    assert build_adam([w], tcfg, graphed=False).defaults["fused"] is None  # eager: PyTorch's default Adam
    monkeypatch.delenv("SEQREC_GRAPH_ADAM", raising=False)
    assert graph_adam_fused()
    monkeypatch.setenv("SEQREC_GRAPH_ADAM", "foreach")
    assert not graph_adam_fused()
    monkeypatch.setenv("SEQREC_GRAPH_ADAM", "fast")
    with pytest.raises(TrainSetupError, match="SEQREC_GRAPH_ADAM='fast'"):
        graph_adam_fused()


def test_a_compiled_run_records_inductors_mix_order_reduction():
    """Under compile the result says whether inductor fused norms' row and column sums (part 21: their column sums
    end in aten sums); eager it does not; on the CPU the conv backward is torch's."""
    from torch._inductor import config

    from seqrec.train import implementation

    opt = torch.optim.Adam([nn.Parameter(torch.randn(3))])
    eager = implementation(opt, {"compile": False, "amp": None})
    assert "inductor_mix_order_reduction" not in eager and eager["conv_bwd"] == "torch"
    for value in (True, False):  # config.patch restores it (monkeypatch's undo removed the key from inductor's
        # config: a later test's compile then failed, "config.triton.mix_order_reduction does not exist")
        with config.patch({"triton.mix_order_reduction": value}):
            assert implementation(opt, {"compile": True, "amp": None})["inductor_mix_order_reduction"] is value
    assert hasattr(config.triton, "mix_order_reduction")


def test_a_result_says_which_implementations_ran_and_bad_settings_stop_before_training(fake_models, tiny_ds,
                                                                                         tmp_path, monkeypatch):
    monkeypatch.delenv("SEQREC_ITEM_TABLE_PAD", raising=False)
    result = _fake_train(tiny_ds, tmp_path, train_config={"epochs": 1, "patience": 0})
    assert result["implementation"] == {"adam": "single-tensor", "padding_grad": "row 0", "item_table_rows_multiple": 1,
                                        "linear_out_multiple": 1, "time_mlp": "linear", "ssd_bf16_product": False,
                                        "fp32_scores": False, "conv_bwd": "torch"}
    monkeypatch.setenv("SEQREC_TIME_MLP_KERNEL", "1")
    assert _fake_train(tiny_ds, tmp_path, out=tmp_path / "k.json",
                       train_config={"epochs": 1, "patience": 0})["implementation"]["time_mlp"] == "kernel"
    monkeypatch.delenv("SEQREC_TIME_MLP_KERNEL")
    monkeypatch.setenv("SEQREC_SSD_BF16_PRODUCT", "yes")
    with pytest.raises(TrainSetupError, match="SEQREC_SSD_BF16_PRODUCT='yes'"):
        _fake_train(tiny_ds, tmp_path, out=tmp_path / "bad.json", train_config={"epochs": 1, "patience": 0})
    monkeypatch.delenv("SEQREC_SSD_BF16_PRODUCT")
    monkeypatch.setenv("SEQREC_CONV_BWD_SEQUENTIAL", "on")
    with pytest.raises(TrainSetupError, match="SEQREC_CONV_BWD_SEQUENTIAL='on'"):
        _fake_train(tiny_ds, tmp_path, out=tmp_path / "bad.json", train_config={"epochs": 1, "patience": 0})
    monkeypatch.delenv("SEQREC_CONV_BWD_SEQUENTIAL")
    monkeypatch.setenv("SEQREC_ITEM_TABLE_PAD", "0")
    epochs = []
    with pytest.raises(TrainSetupError, match="SEQREC_ITEM_TABLE_PAD='0'"):
        _fake_train(tiny_ds, tmp_path, out=tmp_path / "bad.json", train_config={"epochs": 1, "patience": 0},
                    on_epoch_end=epochs.append)
    assert not epochs and not (tmp_path / "bad.json").exists()


def test_fused_adam_takes_the_foreach_adams_steps():
    """What the graphed step's fused Adam changes: the update's rounding only (fp32, 20 steps, lr 1e-2)."""
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(7, 3, generator=g) for _ in range(20)]
    out = {}
    for fused in (None, True):
        w = torch.nn.Parameter(torch.ones(7, 3))
        opt = torch.optim.Adam([w], lr=1e-2, fused=fused)
        for gr in grads:
            w.grad = gr.clone()
            opt.step()
        out[fused] = w.detach()
    torch.testing.assert_close(out[True], out[None], rtol=1e-6, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_eager_checkpoint_resumes_as_a_cuda_graph_run(tmp_path):
    """An eager run interrupted after one epoch goes on as a CUDA-graph run, and the other way round."""
    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8)
    kw = dict(config={"hidden_size": 16, "max_len": 8}, seed=0, progress=False, device="cuda")
    for first, then in (({}, {"cuda_graph": True}), ({"cuda_graph": True}, {})):
        out = tmp_path / f"r{len(first)}.json"

        def crash(record):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train("sasrec", ds, out=out, train_config={**first, "batch_size": 16}, on_epoch_end=crash, **kw)
        result = train("sasrec", ds, out=out, train_config={**then, "batch_size": 16, "epochs": 3, "patience": 0},
                       **kw)
        assert result["resumed_from_epoch"] == 1 and result["epochs_run"] == 3
        assert result["train_config"]["cuda_graph"] is bool(then)


def test_compiled_checkpoint_resumes_only_with_its_dropout_generator():
    """A compiled run's checkpoint resumes only with the compile_rng it ran with; one written before the key
    existed ran with inductor's generator (the behaviour then), not today's default."""
    from seqrec.train import TRAIN_DEFAULTS, _same_run

    def fp(**tc):
        return json.dumps({"model": "m", "seed": 0, "train_config": tc}, sort_keys=True)

    assert TRAIN_DEFAULTS["compile_rng"] == "eager"
    base = {k: v for k, v in TRAIN_DEFAULTS.items() if k not in ("epochs", "patience", "compile_rng")}
    compiled = {**base, "compile": True}
    assert _same_run(fp(**compiled), fp(**compiled, compile_rng="inductor"))
    assert not _same_run(fp(**compiled), fp(**compiled, compile_rng="eager"))
    assert not _same_run(fp(**compiled, compile_rng="inductor"), fp(**compiled, compile_rng="eager"))
    assert _same_run(fp(**base, compile_rng="inductor"), fp(**base, compile_rng="eager"))
    assert not _same_run(fp(**base), fp(**compiled, compile_rng="inductor"))


def test_compile_rng_must_be_known():
    from seqrec.train import resolve_train_config

    with pytest.raises(TrainSetupError, match="compile_rng"):
        resolve_train_config("sasrec", None, {"compile_rng": "philox"})


def _model_under_dropout(name: str, p: float, device: str):
    """(model in training mode, its first batch of 16): hidden 16, every dropout (TiM4Rec's time path too) at p."""
    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8).to(device)
    torch.manual_seed(0)
    config = {"hidden_size": 16, "dropout": p, "max_len": 8}
    model = models.build(name, {**config, "time_dropout": p} if name == "tim4rec" else config, n_items=60)
    return model.to(device).train(), next(iter(ds.train_batches(16, seed=0, epoch=0)))


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])])
@pytest.mark.parametrize("name", ["sasrec", "tim4rec"])
def test_compiled_loss_with_eager_rng_draws_eager_dropout_masks(name, device):
    """compile_rng="eager": the compiled loss gives eager's losses and gradients under dropout for the same seed
    (the same masks); inductor's own generator gives other ones (why the option exists)."""
    from seqrec.train import training_loss

    model, batch = _model_under_dropout(name, 0.3, device)
    args = (batch.item_seq, batch.seq_len, batch.time_seq, batch.target)

    def draws(loss_fn):
        torch.manual_seed(5)
        out = []
        for _ in range(3):
            model.zero_grad(set_to_none=True)
            loss = loss_fn(*args)
            loss.backward()
            out.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
        return out

    eager = draws(model.loss)
    runs = {}
    for rng in ("eager", "inductor"):
        torch._dynamo.reset()
        runs[rng] = draws(training_loss(model, {"compile": True, "compile_rng": rng, "amp": None, "batch_size": 16},
                                        torch.device(device)))
    for (loss, grads), (ref_loss, ref_grads) in zip(runs["eager"], eager, strict=True):
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)
    assert all(not torch.allclose(a[0], b[0]) for a, b in zip(runs["inductor"], eager, strict=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_tim4rec_loss_at_ml1m_shape_matches_eager():
    """TiM4Rec's compiled loss at ml-1m's shape (B = 2048, L = 200), our kernels, no dropout: eager's loss and
    gradients. On torch 2.11 inductor failed to generate this graph without INDUCTOR_WORKAROUNDS (part 8)."""
    from seqrec.train import training_loss
    from seqrec.workloads import build_for_workload, synthetic_batch

    torch.manual_seed(0)
    model = build_for_workload("tim4rec", 64, 200, 3706, "cuda", backend="auto")
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    model.train()
    batch = synthetic_batch(2048, 200, 3706, "cuda")
    args = (batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
    torch._dynamo.reset()
    runs = []
    for fn in (model.loss, training_loss(model, {"compile": True, "compile_rng": "eager", "amp": None,
                                                  "batch_size": 2048}, torch.device("cuda"))):
        model.zero_grad(set_to_none=True)
        loss = fn(*args)
        loss.backward()
        runs.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (ref_loss, ref_grads), (loss, grads) = runs
    torch.testing.assert_close(loss, ref_loss, rtol=1e-4, atol=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-3, atol=1e-5)


def test_early_stopping_restores_best_weights(fake_models, tiny_ds, tmp_path):
    result = _fake_train(tiny_ds, tmp_path, name="peaking", max_steps_per_epoch=1, config={"peak": 3},
                         train_config={"patience": 4})
    ndcg = [e["valid"]["ndcg@10"] for e in result["epochs"]]
    assert ndcg[2] == 1.0 and max(ndcg[:2] + ndcg[3:]) < 0.5
    assert result["best_epoch"] == 3 and result["epochs_run"] == 3 + 4
    assert result["metrics"]["valid"]["ndcg@10"] == 1.0
    # the test split is scored with the epoch-3 weights (steps == 3); the last weights would score ~0
    assert result["metrics"]["test"]["ndcg@10"] == 1.0
    assert all(e["train_steps"] == 1 for e in result["epochs"])


def test_result_file_schema(fake_models, tiny_ds, tmp_path):
    out = tmp_path / "sub" / "res.json"
    result = _fake_train(tiny_ds, tmp_path, out=out, backend="torch", variant="v1", extra={"suite": "x"})
    on_disk = json.loads(out.read_text())
    assert on_disk["kind"] == "train" and on_disk["status"] == "ok" and on_disk["schema"] >= 1
    for key in ("model", "dataset", "config", "train_config", "seed", "metrics", "best_epoch", "epochs_run",
                "epochs", "peak_memory_bytes", "n_parameters", "provenance", "variant", "suite"):
        assert key in on_disk, key
    assert set(on_disk["dataset"]) >= {"name", "checksum", "n_users", "n_items", "max_len"}
    assert on_disk["dataset"]["n_users"] == tiny_ds.n_users
    assert on_disk["config"] == {"hidden_size": 8, "dropout": 0.3, "backend": "torch"}
    tc = on_disk["train_config"]
    assert tc["batch_size"] == 16 and tc["lr"] == 1e-3 and tc["device"] == "cpu" and tc["backend"] == "torch"
    for split in ("valid", "test"):
        assert {f"{m}@{k}" for m in ("hit", "ndcg", "mrr") for k in (10, 20, 50)} <= set(on_disk["metrics"][split])
    for e in on_disk["epochs"]:
        assert {"epoch", "train_loss", "train_seconds", "eval_seconds", "valid"} <= set(e)
        assert e["train_seconds"] > 0 and math.isfinite(e["train_loss"])
    assert on_disk["peak_memory_bytes"] is None  # CPU
    assert on_disk["n_parameters"] == sum(p.numel() for p in TinyModel(tiny_ds.n_items).parameters())
    assert set(on_disk["provenance"]) >= {"git_commit", "source_sha256", "torch", "device_name", "created_at"}
    assert on_disk["metrics"] == json.loads(json.dumps(result["metrics"]))
    assert [p.name for p in out.parent.iterdir()] == ["res.json"]  # checkpoint gone, no temp files


@pytest.mark.parametrize("timed,compiled", [(0, False), (2, False), (1, True)])
def test_step_times_record_each_step_of_the_first_epochs(fake_models, tiny_ds, tmp_path, monkeypatch, timed,
                                                         compiled):
    """The timed epochs record each step, and where compile time went so far (torch's metrics: none where nothing
    compiled; the first epoch's compile where the loss compiled)."""
    monkeypatch.setenv("SEQREC_STEP_TIMES", str(timed))
    torch._dynamo.reset()
    torch._dynamo.utils.compilation_time_metrics.clear()  # the process's metrics so far: this run's alone
    result = _fake_train(tiny_ds, tmp_path, train_config={"epochs": 3, "patience": 0, "compile": compiled})
    for e in result["epochs"]:
        if e["epoch"] <= timed:
            assert len(e["step_seconds"]) == e["train_steps"] > 1
            assert all(s > 0 for s in e["step_seconds"]) and sum(e["step_seconds"]) <= e["train_seconds"]
            torch_seconds = e["compile_seconds"]["torch"]
            if compiled:
                assert 0 < torch_seconds["_compile.compile_inner"] <= e["step_seconds"][0]
                assert list(torch_seconds.values()) == sorted(torch_seconds.values(), reverse=True)
            else:
                assert torch_seconds == {}
            assert set(e["compile_seconds"]["triton_jit"]) == {"kernels", "seconds", "cache_hits", "slowest"}
        else:
            assert "step_seconds" not in e and "compile_seconds" not in e


@pytest.mark.parametrize("raw", ["-1", "two"])
def test_step_times_must_be_a_count_of_epochs(fake_models, tiny_ds, tmp_path, monkeypatch, raw):
    monkeypatch.setenv("SEQREC_STEP_TIMES", raw)
    with pytest.raises(TrainSetupError, match=f"SEQREC_STEP_TIMES='{raw}'"):
        _fake_train(tiny_ds, tmp_path)


def test_mask_history_ranks_seen_items_last():
    # user 0: the target is not in the history; user 2: the target repeats a history item
    ds = make_dataset([[1, 2, 3, 1, 4, 5], [2, 3, 4, 5, 6, 7], [1, 2, 3, 2]], n_items=7, max_len=6)

    class Scores(TinyModel):
        def full_scores(self, item_seq, seq_len, time_seq):  # history items score highest
            s = torch.zeros(item_seq.size(0), self.n_items + 1)
            return s.scatter(1, item_seq, 10.0)

    model = Scores(7)
    plain = evaluate(model, ds, "test", 8)
    masked = evaluate(model, ds, "test", 8, mask_history=True)
    assert plain["mrr@10"] == pytest.approx((1 / 5 + 1 / 6 + 1) / 3)
    assert masked["mrr@10"] == 1.0  # history masked, the repeated target kept


def test_setup_errors_are_clear(fake_models, tiny_ds, tmp_path):
    with pytest.raises(TrainSetupError, match="unknown model 'nope'"):
        _fake_train(tiny_ds, tmp_path, name="nope")
    with pytest.raises(TrainSetupError, match=r"unknown config key\(s\) \['hiden'\]"):
        _fake_train(tiny_ds, tmp_path, config={"hiden": 3})
    with pytest.raises(TrainSetupError, match=r"unknown train config key\(s\) \['lrate'\]"):
        _fake_train(tiny_ds, tmp_path, train_config={"lrate": 3})
    with pytest.raises(TrainSetupError, match="batch_size must be a positive integer"):
        _fake_train(tiny_ds, tmp_path, train_config={"batch_size": 0})
    with pytest.raises(TrainSetupError, match="device 'tpu'"):
        _fake_train(tiny_ds, tmp_path, device="tpu")


# ---------------------------------------------------------------------------------------------- CLI
def test_parse_set():
    assert parse_set(["dropout=0.3", "n_layers=1", "ffn=false", "backend=torch", 'name="a b"', "xs=[1, 2]"]) == {
        "dropout": 0.3, "n_layers": 1, "ffn": False, "backend": "torch", "name": "a b", "xs": [1, 2]}
    for bad in ("dropout", "=3", "x=1 2"):
        with pytest.raises(ValueError, match="--set"):
            parse_set([bad])


def test_cli_with_fakes(fake_models, tiny_ds, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(seqrec.data, "load_dataset", lambda name, data_dir=None, **kw: tiny_ds)
    monkeypatch.chdir(tmp_path)
    rc = cli_main(["train", "--model", "tiny", "--dataset", "fake", "--hidden", "4", "--epochs", "2", "--seed", "3",
                   "--device", "cpu", "--set", "dropout=0.1", "--no-progress"])
    assert rc == 0
    out = tmp_path / "results" / "train" / "tiny-fake-h4-s3.json"
    written = json.loads(out.read_text())
    assert written["config"]["hidden_size"] == 4 and written["config"]["dropout"] == 0.1
    assert written["train_config"]["epochs"] == 2 and written["seed"] == 3
    line = capsys.readouterr().out.strip()
    assert len(line.splitlines()) == 1 and "ndcg@10=" in line and str(out.relative_to(tmp_path)) in line


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope", "--dataset", "fake"], "unknown model 'nope'"),
    (["--model", "tiny", "--dataset", "fake", "--set", "hiden=3"], "unknown config key"),
    (["--model", "tiny", "--dataset", "fake", "--set", "dropout"], "expected KEY=VALUE"),
    (["--model", "tiny", "--dataset", "fake", "--device", "tpu"], "unknown device 'tpu'"),
    (["--model", "tiny", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--model", "tiny", "--dataset", "amazon-beauty", "--data-dir", "EMPTY"], "dataset 'amazon-beauty'"),
])
def test_cli_errors_exit_2(fake_models, tiny_ds, tmp_path, monkeypatch, capsys, argv, message):
    real_load = seqrec.data.load_dataset
    monkeypatch.setattr(seqrec.data, "load_dataset",
                        lambda name, **kw: tiny_ds if name == "fake" else real_load(name, **kw))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMPTY").mkdir()
    assert cli_main(["train", *argv, "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("seqrec train: error:") and message in err
    assert not (tmp_path / "results").exists()


# -------------------------------------------------------------------------------------- real pieces
REAL_TRAIN = {"epochs": 2, "patience": 0, "batch_size": 64, "eval_batch_size": 512}


@needs_sasrec
def test_real_sasrec_on_ml100k_deterministic_and_resumable(raw_data_dir, tmp_path):
    kw = dict(config={"hidden_size": 16, "n_layers": 1}, train_config=REAL_TRAIN, seed=0, device="cpu",
              progress=False, max_steps_per_epoch=3, data_dir=raw_data_dir, dataset_options={"max_len": 20})
    a = train("sasrec", "ml-100k", out=tmp_path / "a.json", **kw)
    b = train("sasrec", "ml-100k", out=tmp_path / "b.json", **kw)
    assert _comparable(a) == _comparable(b)
    assert a["dataset"]["n_users"] == 943 and a["dataset"]["max_len"] == 20 and a["config"]["max_len"] == 20
    assert all(0 <= v <= 1 for v in a["metrics"]["test"].values())

    def crash(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("sasrec", "ml-100k", out=tmp_path / "c.json", on_epoch_end=crash, **kw)
    c = train("sasrec", "ml-100k", out=tmp_path / "c.json", **kw)
    assert c["resumed_from_epoch"] == 1 and _comparable(c) == _comparable(a)


@needs_sasrec
def test_real_cli_end_to_end(raw_data_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli_main(["train", "--model", "sasrec", "--dataset", "ml-100k", "--hidden", "16", "--epochs", "1",
                   "--batch-size", "64", "--eval-batch-size", "512", "--max-steps-per-epoch", "2", "--max-len", "20",
                   "--device", "cpu", "--data-dir", str(raw_data_dir), "--out", str(out), "--set", "n_layers=1",
                   "--no-progress"])
    assert rc == 0
    written = json.loads(out.read_text())
    assert written["model"] == "sasrec" and written["dataset"]["name"] == "ml-100k" and written["epochs_run"] == 1
    assert len(written["dataset"]["checksum"]) >= 8
    assert "sasrec ml-100k h16 s0: test hit@10=" in capsys.readouterr().out
    assert not Path(str(out) + ".ckpt").exists()


def _registered(name: str) -> bool:
    try:
        models.model_class(name)
    except (ImportError, AttributeError):
        return False
    return models.config_path(name).exists()


@pytest.mark.parametrize("name", list(models.MODELS))
def test_each_real_model_trains_deterministically_on_tiny_data(name, tmp_path):
    if not _registered(name):
        pytest.skip(f"models/{name}.py or its config not written yet")
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 16}, train_config={"epochs": 2, "patience": 0, "batch_size": 16}, seed=0,
              progress=False, backend="torch" if "backend" in models.default_config(name) else None)

    def crash(record):
        raise KeyboardInterrupt

    a = train(name, ds, out=tmp_path / "a.json", **kw)
    with pytest.raises(KeyboardInterrupt):
        train(name, ds, out=tmp_path / "b.json", on_epoch_end=crash, **kw)
    b = train(name, ds, out=tmp_path / "b.json", **kw)
    assert b["resumed_from_epoch"] == 1 and _comparable(a) == _comparable(b)
    assert a["config"].get("max_len", 8) == 8 and a["n_parameters"] > 0


@pytest.mark.parametrize("name", list(models.MODELS))
def test_model_train_tables_use_known_keys(name):
    if not _registered(name):
        pytest.skip(f"models/{name}.py or its config not written yet")
    import tomllib

    from seqrec.train import resolve_train_config

    datasets = tomllib.loads(models.config_path(name).read_text()).get("dataset", {})
    for ds_name in [None, *datasets]:
        cfg = resolve_train_config(name, ds_name, None)
        assert cfg["lr"] > 0 and cfg["batch_size"] >= 1


def test_source_digest_names_the_code_on_disk(tmp_path):
    from seqrec.results import source_digest

    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.py").write_text("x = 1\n")
    first = source_digest(tmp_path)
    assert source_digest(tmp_path) == first and len(first) == 64
    source_digest.cache_clear()
    (tmp_path / "models" / "a.py").write_text("x = 2\n")
    assert source_digest(tmp_path) != first
    source_digest.cache_clear()
    (tmp_path / "notes.txt").write_text("not code")
    (tmp_path / "models" / "a.py").write_text("x = 1\n")
    assert source_digest(tmp_path) == first


# ------------------------------------------------------------------------------------- CUDA-graph step
def test_cuda_graph_needs_cuda_capturable_adam_and_no_host_rng(fake_models, tmp_path):
    from seqrec.cuda_graph import GraphedTrainStep

    ds = consecutive_dataset()
    if not torch.cuda.is_available():
        with pytest.raises(TrainSetupError, match="cuda_graph=true needs a CUDA device"):
            _fake_train(ds, tmp_path, train_config={"cuda_graph": True}, device="cpu")
    model = TinyModel(60)
    with pytest.raises(ValueError, match="capturable=True"):
        GraphedTrainStep(model, torch.optim.Adam(model.parameters()), 16)
    capturable = torch.optim.Adam(model.parameters(), capturable=True)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not on a CUDA device"):
            GraphedTrainStep(model, capturable, 16)
    host_seeded = TinyModel(60)
    host_seeded.host_rng_in_step = True  # a step that draws its seed on the host would replay one mask
    with pytest.raises(ValueError, match="replay one mask"):
        GraphedTrainStep(host_seeded, torch.optim.Adam(host_seeded.parameters(), capturable=True), 16)
    tis = models.build("tisasrec", {"hidden_size": 8, "max_len": 8}, n_items=60)
    assert not getattr(tis, "host_rng_in_step", False)  # its fused attention draws the kernel seed on the device


def deterministic_compile(monkeypatch, request):
    """Deterministic compiled runs for a test: inductor sums the embedding backward (index_put) with atomics and may
    pick kernels by timing them, so two compiled runs differ in rounding; Adam turns that into lr-sized steps on
    parameters whose true gradient is 0 (SASRec's key bias: H200, 36a7754, 0.016 apart in bf16). Deterministic mode:
    aten's sorted fallbacks, no timing-based choices; what is left to differ is the graph."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    monkeypatch.setattr(torch._inductor.config, "deterministic", True, raising=False)
    was = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    request.addfinalizer(lambda: torch.use_deterministic_algorithms(was[0], warn_only=was[1]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp,compiled", [(None, False), (None, True), ("bf16", False), ("bf16", True)])
@pytest.mark.parametrize("name", ["sasrec", "tim4rec", "tisasrec", "mamba4rec", "ssd4rec"])
def test_cuda_graph_step_matches_eager(name, amp, compiled, monkeypatch, request):
    """Same batches, dropout 0, the same (capturable) Adam, the same loss (fp32, or under bf16 autocast, eager or
    compiled): the graphed steps (warm-up, capture, replays; the partial batch of 14 rows eager in the first epoch,
    captured in the second and replayed in the third) leave the same parameters and losses as the eager loop.
    (Against the
    non-capturable Adam the losses agreed to 1e-4 but parameters drifted up to 2e-4 over the 2 epochs at lr 1e-2
    on an H200; that Adam takes its bias corrections as host floats, the capturable one as float32 device
    tensors in another order, which likely accounts for it.)"""
    from seqrec.cuda_graph import GraphedTrainStep
    from seqrec.train import eager_step, training_loss

    if compiled:
        deterministic_compile(monkeypatch, request)
    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8).to("cuda")
    runs = {}
    for graphed in (False, True):
        torch.manual_seed(0)
        model = models.build(name, {"hidden_size": 16, "dropout": 0.0, "max_len": 8} if name != "tim4rec" else
                             {"hidden_size": 16, "dropout": 0.0, "time_dropout": 0.0, "max_len": 8}, n_items=60)
        model.cuda().train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2, capturable=True)
        torch._dynamo.reset()
        loss_fn = training_loss(model, {"compile": compiled, "amp": amp, "cuda_graph": graphed, "batch_size": 15},
                                torch.device("cuda"))
        step = (GraphedTrainStep(model, opt, 15, warmup=2, loss_fn=loss_fn) if graphed
                else eager_step(model, opt, loss_fn=loss_fn))
        batches = [b for epoch in range(3) for b in ds.train_batches(15, seed=0, epoch=epoch)]
        assert [b.target.numel() for b in batches].count(14) == 3  # 224 samples: 14 batches of 15, one of 14
        losses = [float(step(b)) for b in batches]
        runs[graphed] = (losses, [p.detach().clone() for p in model.parameters()])
        if graphed:
            assert step.graph is not None and step.replays > 0
            assert list(step.partial_graphs) == [14] and step.partial_replays == 2
    torch.testing.assert_close(runs[True][0], runs[False][0], rtol=1e-4, atol=1e-5)
    for a, b in zip(runs[True][1], runs[False][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp,compiled", [(None, False), ("bf16", True), ("fp16", True)])
def test_cuda_graph_step_with_the_runs_fused_adam_matches_eager(amp, compiled, monkeypatch, request):
    """The run's graphed Adam (``build_adam``: capturable and fused) against eager fused Adam, TiM4Rec, dropout 0:
    the same losses and parameters. fp32: against torch's uncapturable fused Adam (the capturable kernel's steps are
    the same steps). bf16, compiled: against the same capturable fused Adam run eagerly (only the graph differs),
    deterministic as in test_cuda_graph_step_matches_eager. Without determinism the losses were 1.8e-4 apart at step
    21 on an H200, against either eager Adam (part 18, 29ab21e and b9ab602): the compiled embedding backward's
    atomics, not the graph. fp16: the loss scaled (GradScaler) in the graph as in the eager steps, and the scale
    the same after."""
    from seqrec.cuda_graph import GraphedTrainStep
    from seqrec.train import build_adam, eager_step, training_loss

    if compiled:
        deterministic_compile(monkeypatch, request)

    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8).to("cuda")
    runs = {}
    for graphed in (False, True):
        torch.manual_seed(0)
        model = models.build("tim4rec", {"hidden_size": 16, "dropout": 0.0, "time_dropout": 0.0, "max_len": 8},
                             n_items=60).cuda().train()
        opt = (build_adam(model.parameters(), {"lr": 1e-2, "weight_decay": 0.0}, graphed=True) if graphed or amp
               else torch.optim.Adam(model.parameters(), lr=1e-2, fused=True))
        assert opt.defaults["fused"] is True
        torch._dynamo.reset()
        loss_fn = training_loss(model, {"compile": compiled, "amp": amp, "cuda_graph": graphed, "batch_size": 15},
                                torch.device("cuda"))
        scaler = torch.amp.GradScaler("cuda", growth_interval=5) if amp == "fp16" else None  # grows in 3 epochs
        step = (GraphedTrainStep(model, opt, 15, warmup=2, loss_fn=loss_fn, scaler=scaler) if graphed
                else eager_step(model, opt, loss_fn=loss_fn, scaler=scaler))
        losses = [float(step(b)) for epoch in range(3) for b in ds.train_batches(15, seed=0, epoch=epoch)]
        runs[graphed] = (losses, [p.detach().clone() for p in model.parameters()],
                         scaler.get_scale() if scaler else None)
    assert runs[True][2] == runs[False][2]
    torch.testing.assert_close(runs[True][0], runs[False][0], rtol=1e-4, atol=1e-5)
    for a, b in zip(runs[True][1], runs[False][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_train_indices_are_the_samples_of_train_batches():
    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8)
    batches = list(ds.train_batches(15, seed=3, epoch=1))
    indices = list(ds.train_indices(15, seed=3, epoch=1))
    assert [i.numel() for i in indices] == [b.target.numel() for b in batches]
    for index, batch in zip(indices, batches, strict=True):
        again = ds.make_batch("train", index)
        for field in ("user", "item_seq", "time_seq", "seq_len", "target"):
            assert torch.equal(getattr(again, field), getattr(batch, field)), field


@pytest.mark.parametrize("tc", [{"graph_batch": True}, {"graph_batch": 1, "cuda_graph": True}])
def test_graph_batch_is_a_flag_of_the_graphed_step(tc):
    from seqrec.train import resolve_train_config

    with pytest.raises(TrainSetupError, match="graph_batch must be true or false, and true only with cuda_graph"):
        resolve_train_config("sasrec", None, tc)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["sasrec", "tisasrec", "tim4rec"])
def test_a_graph_that_builds_its_batches_takes_the_same_steps(name):
    """make_batch (train_config graph_batch): the batch gathered inside the graph from its indices; under dropout
    0.3 (the device generator's draws are the graph's either way) the losses and parameters are the same bits as
    with the batch built outside, the partial batch's own graph included."""
    from seqrec.cuda_graph import GraphedTrainStep

    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8).to("cuda")
    runs = {}
    for inside in (False, True):
        model, _ = _model_under_dropout(name, 0.3, "cuda")
        opt = torch.optim.Adam(model.parameters(), lr=1e-2, capturable=True)
        step = GraphedTrainStep(model, opt, 15, warmup=2,
                                make_batch=(lambda i: ds.make_batch("train", i)) if inside else None)
        torch.manual_seed(7)
        feed = ds.train_indices if inside else ds.train_batches
        losses = [float(step(x)) for epoch in range(3) for x in feed(15, seed=0, epoch=epoch)]
        assert step.replays > 0 and step.partial_replays == 2
        runs[inside] = (losses, [p.detach().clone() for p in model.parameters()])
    assert runs[True][0] == runs[False][0]
    for a, b in zip(runs[True][1], runs[False][1], strict=True):
        assert torch.equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_run_with_graph_batch_is_the_run_without(tmp_path):
    ds = consecutive_dataset(n_users=40, n_items=60, max_len=8)
    kw = dict(config={"hidden_size": 16, "max_len": 8}, seed=0, progress=False, device="cuda")
    tc = {"batch_size": 15, "epochs": 3, "patience": 0, "cuda_graph": True}
    plain = train("sasrec", ds, out=tmp_path / "a.json", train_config=tc, **kw)
    inside = train("sasrec", ds, out=tmp_path / "b.json", train_config={**tc, "graph_batch": True}, **kw)
    assert inside["train_config"]["graph_batch"] is True
    assert {**_comparable(inside), "train_config": None} == {**_comparable(plain), "train_config": None}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec"])
def test_cuda_graph_replays_draw_new_dropout_masks(name):
    """Dropout 0.5 and lr 0: the same batch, replayed through the graph 24 times, gives 24 different losses (a mask
    frozen into the graph would repeat one), as spread as 24 eager steps' losses on that batch."""
    from seqrec.cuda_graph import GraphedTrainStep
    from seqrec.train import eager_step

    model, batch = _model_under_dropout(name, 0.5, "cuda")
    opt = torch.optim.Adam(model.parameters(), lr=0.0, capturable=True)
    eager = eager_step(model, opt)
    eager_losses = torch.tensor([float(eager(batch)) for _ in range(24)])
    graphed = GraphedTrainStep(model, opt, 16, warmup=2)
    for _ in range(2):
        graphed(batch)
    graph_losses = torch.tensor([float(graphed(batch)) for _ in range(24)])
    assert graphed.replays == 24
    assert len(set(graph_losses.tolist())) == 24, graph_losses
    ratio = float(graph_losses.std() / eager_losses.std())
    assert 1 / 3 < ratio < 3, (ratio, graph_losses, eager_losses)


def test_a_declared_commit_replaces_the_copied_trees_git(monkeypatch):
    from seqrec.results import DECLARED_COMMIT_ENV, provenance

    monkeypatch.delenv(DECLARED_COMMIT_ENV, raising=False)
    own = provenance("cpu")
    assert "git_commit_declared_by" not in own
    monkeypatch.setenv(DECLARED_COMMIT_ENV, "f" * 40)
    declared = provenance("cpu")
    assert declared["git_commit"] == "f" * 40 and declared["git_dirty"] is None
    assert declared["git_commit_declared_by"] == DECLARED_COMMIT_ENV
    assert declared["source_sha256"] == own["source_sha256"]


@pytest.mark.slow
def test_a_compiled_loss_trains_the_same_model(tmp_path, monkeypatch):
    """train_config compile: the loss goes through torch.compile with the SSD op left opaque (a graph break,
    the op runs eagerly with its own autograd) and trains what the eager loss trains; the last, partial batch
    of each epoch runs eagerly, so nothing is compiled twice. Dynamo and AOTAutograd run for real; inductor's
    code generation is swapped for aot_eager (minutes of C++ compilation on 2 cores)."""
    real_compile, compiled, batch_sizes = torch.compile, [], []

    def aot_eager(fn, **kw):
        compiled.append(fn)
        inner = real_compile(fn, backend="aot_eager", **kw)
        return lambda *args: batch_sizes.append(args[-1].shape[0]) or inner(*args)

    monkeypatch.setattr(torch, "compile", aot_eager)
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32, "dropout": 0.0, "time_dropout": 0.0},
              seed=0, progress=False, backend="torch")
    eager = train("tim4rec", ds, out=tmp_path / "e.json", train_config={"epochs": 2, "patience": 0,
                                                                        "batch_size": 20}, **kw)  # 4 x 20 + 16
    assert not compiled
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=False):
        comp = train("tim4rec", ds, out=tmp_path / "c.json", train_config={"epochs": 2, "patience": 0,
                                                                           "batch_size": 20, "compile": True}, **kw)
    assert len(compiled) == 1 and comp["train_config"]["compile"] is True
    assert batch_sizes == [20] * 8  # the compiled loss saw the full batches only, 4 an epoch
    for a, b in zip(eager["epochs"], comp["epochs"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    for split in ("valid", "test"):
        for k, v in eager["metrics"][split].items():
            assert comp["metrics"][split][k] == pytest.approx(v, abs=1e-6), (split, k)
    with pytest.raises(TrainSetupError, match="cuda_graph=true needs a CUDA device"):
        train("tim4rec", ds, out=tmp_path / "x.json", train_config={"cuda_graph": True, "compile": True}, **kw)


@pytest.mark.parametrize("model", ["sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec"])
def test_bf16_autocast_trains_in_bf16_and_keeps_fp32_state(tmp_path, model, monkeypatch):
    """train_config amp="bf16": the loss's forward runs under autocast (its matmuls in bfloat16, so the losses
    move off the fp32 run's by about bf16 rounding), while parameters, Adam and evaluation stay fp32."""
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32}, seed=0, progress=False, backend="torch")
    tcfg = {"epochs": 2, "patience": 0, "batch_size": 16}
    fp32 = train(model, ds, out=tmp_path / "f.json", train_config=tcfg, **kw)
    seen = []
    real_linear = torch.nn.functional.linear

    def spy(x, w, b=None):
        out = real_linear(x, w, b)
        seen.append((w.dtype, out.dtype))
        return out

    monkeypatch.setattr(torch.nn.functional, "linear", spy)
    amp = train(model, ds, out=tmp_path / "a.json", train_config={**tcfg, "amp": "bf16"}, **kw)
    assert amp["train_config"]["amp"] == "bf16"
    assert (torch.float32, torch.bfloat16) in seen  # projections computed in bf16 from fp32 weights
    assert (torch.float32, torch.float32) in seen  # and evaluation in fp32
    for a, b in zip(fp32["epochs"], amp["epochs"], strict=True):
        assert b["train_loss"] != a["train_loss"]
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=2e-2)


def test_fp32_islands_train_recorded_and_a_bad_pattern_stops_the_run(tmp_path, monkeypatch):
    """SEQREC_FP32_MODULES (models/fp32_islands.py) under bf16: the kept modules are recorded in the result's
    ``implementation`` and change the losses; a pattern that names no module stops the run before training."""
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32}, seed=0, progress=False, backend="torch")
    tcfg = {"epochs": 1, "patience": 0, "batch_size": 16, "amp": "bf16"}
    monkeypatch.delenv("SEQREC_FP32_MODULES", raising=False)
    plain = train("ssd4rec", ds, out=tmp_path / "p.json", train_config=tcfg, **kw)
    assert "fp32_modules" not in plain["implementation"]
    monkeypatch.setenv("SEQREC_FP32_MODULES", "layers.*.ffn")
    kept = train("ssd4rec", ds, out=tmp_path / "k.json", train_config=tcfg, **kw)
    assert kept["implementation"]["fp32_modules"] == ["layers.0.ffn", "layers.1.ffn"]
    assert kept["epochs"][0]["train_loss"] != plain["epochs"][0]["train_loss"]
    monkeypatch.setenv("SEQREC_FP32_MODULES", "layers.*.fnn")
    with pytest.raises(TrainSetupError, match="pattern 'layers.*.fnn' matches no module of SSD4Rec"):
        train("ssd4rec", ds, out=tmp_path / "bad.json", train_config=tcfg, **kw)
    assert not (tmp_path / "bad.json").exists()


def test_amp_rejects_an_unknown_precision(tmp_path):
    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    with pytest.raises(TrainSetupError, match="amp='fp8'"):
        train("sasrec", ds, out=tmp_path / "x.json", train_config={"amp": "fp8"}, progress=False)


@pytest.mark.parametrize("model", ["sasrec", "tim4rec"])
def test_fp16_autocast_scales_the_loss_and_resumes_with_its_scale(tmp_path, model, monkeypatch):
    """train_config amp="fp16": the forward in float16 under autocast, the loss scaled by PyTorch's GradScaler
    (the losses move off bf16's: 3 more mantissa bits), its final scale recorded, and a run stopped after an epoch
    resumes with the scale its checkpoint holds, to the uninterrupted run's losses."""
    import seqrec.train as train_mod

    ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
    kw = dict(config={"hidden_size": 32}, seed=0, progress=False, backend="torch")
    tcfg = {"epochs": 2, "patience": 0, "batch_size": 16}
    seen = []
    real_linear = torch.nn.functional.linear

    def spy(x, w, b=None):
        out = real_linear(x, w, b)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "linear", spy)
    whole = train(model, ds, out=tmp_path / "a.json", train_config={**tcfg, "amp": "fp16"}, **kw)
    assert torch.float16 in seen
    bf16 = train(model, ds, out=tmp_path / "b.json", train_config={**tcfg, "amp": "bf16"}, **kw)
    assert whole["implementation"]["loss_scale"] > 1 and "loss_scale" not in bf16["implementation"]
    assert [e["train_loss"] for e in whole["epochs"]] != [e["train_loss"] for e in bf16["epochs"]]
    real_scaler = train_mod.grad_scaler

    def scaler_with_a_start(*args):
        assert real_scaler(*args) is not None
        return torch.amp.GradScaler("cpu", init_scale=512.0)  # a resumed run must take this scale from its checkpoint

    class Crash(Exception):
        pass

    def crash(record):
        raise Crash

    monkeypatch.setattr(train_mod, "grad_scaler", scaler_with_a_start)
    out = tmp_path / "c.json"
    with pytest.raises(Crash):
        train(model, ds, out=out, train_config={**tcfg, "amp": "fp16"}, on_epoch_end=crash, **kw)
    assert load_checkpoint(out.with_name(out.name + ".ckpt"))["grad_scaler"]["scale"] == 512.0
    monkeypatch.setattr(train_mod, "grad_scaler", real_scaler)  # 65536 to start, unless the checkpoint says
    resumed = train(model, ds, out=out, train_config={**tcfg, "amp": "fp16"}, **kw)
    assert resumed["resumed_from_epoch"] == 1 and resumed["implementation"]["loss_scale"] == 512.0


def test_a_scaled_step_with_a_non_finite_gradient_is_skipped_and_backs_the_scale_off():
    """eager_step with a GradScaler (fp16): a step whose loss is not finite leaves the parameters as they were and
    halves the scale; a finite one steps."""
    from seqrec.train import eager_step

    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3))

        def loss(self, item_seq, seq_len, time_seq, target):
            return (self.w * item_seq).sum()

    toy = Toy()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    step = eager_step(toy, torch.optim.Adam(toy.parameters(), lr=0.1), scaler=scaler)
    batch = type("B", (), {"item_seq": torch.tensor([1.0, float("inf"), 2.0]), "seq_len": None, "time_seq": None,
                           "target": None})
    step(batch)
    assert torch.equal(toy.w.detach(), torch.ones(3)) and scaler.get_scale() == 512.0
    batch.item_seq = torch.tensor([1.0, 1.0, 2.0])
    step(batch)
    assert not torch.equal(toy.w.detach(), torch.ones(3))


def test_tf32_is_set_for_the_run_only_and_recorded(tmp_path):
    """train_config tf32: CUDA's fp32 matmuls as TF32 while the run trains and evaluates (read back at each epoch's
    end), the flag restored after, the choice in the result; a value other than true/false stops the run before it
    starts; false touches nothing (torch's matmul precision stays unset, part of inductor's cache key). In a child
    process: a run with tf32 leaves the precision "ieee", not unset, behind (torch's legacy flag)."""
    import subprocess
    import sys

    code = f"""
import json, torch, pytest
from test_train import consecutive_dataset
from seqrec.train import TrainSetupError, train
ds = consecutive_dataset(n_users=16, n_items=40, max_len=8)
matmul = torch.backends.cuda.matmul
kw = dict(progress=False, config={{"hidden_size": 16}})
train("sasrec", ds, out=r"{tmp_path}/f.json", train_config={{"epochs": 1, "patience": 0, "batch_size": 16}}, **kw)
untouched = getattr(matmul, "fp32_precision", "none")
seen = []
result = train("sasrec", ds, out=r"{tmp_path}/t.json", train_config={{"epochs": 2, "patience": 0, "batch_size": 16,
               "tf32": True}}, on_epoch_end=lambda record: seen.append(matmul.allow_tf32), **kw)
after = matmul.allow_tf32
with pytest.raises(TrainSetupError, match="tf32 must be true or false, got 'yes'"):
    train("sasrec", ds, out=r"{tmp_path}/x.json", progress=False, train_config={{"tf32": "yes"}})
print(json.dumps([untouched, seen, after, result["train_config"]["tf32"]]))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == ["none", [True, True], False, True]


def test_patched_environ_restores_each_key_as_it_was(monkeypatch):
    monkeypatch.setenv("SEQREC_TEST_SET", "before")
    monkeypatch.delenv("SEQREC_TEST_UNSET", raising=False)
    with runtime.patched_environ({"SEQREC_TEST_SET": "inside", "SEQREC_TEST_UNSET": "inside"}):
        assert os.environ["SEQREC_TEST_SET"] == os.environ["SEQREC_TEST_UNSET"] == "inside"
    assert os.environ["SEQREC_TEST_SET"] == "before" and "SEQREC_TEST_UNSET" not in os.environ
    with pytest.raises(RuntimeError), runtime.patched_environ({"SEQREC_TEST_SET": "inside"}):
        raise RuntimeError
    assert os.environ["SEQREC_TEST_SET"] == "before"
