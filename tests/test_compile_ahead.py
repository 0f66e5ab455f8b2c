"""seqrec.compile_ahead: the loss compiled in a background process while the run trains eagerly, then compiled
from the epoch after it finished, its compilation read from inductor's cache."""

from __future__ import annotations

import pytest
import torch
from test_train import consecutive_dataset

from seqrec import compile_ahead
from seqrec.train import TrainSetupError, compiled_from_epoch, resolve_train_config, train


def test_compile_ahead_is_a_bool_and_needs_compile():
    assert resolve_train_config("sasrec", None, {"compile": True, "compile_ahead": True})["compile_ahead"] is True
    for bad in ({"compile_ahead": True}, {"compile": True, "compile_ahead": "yes"}):
        with pytest.raises(TrainSetupError, match="compile_ahead"):
            resolve_train_config("sasrec", None, bad)


def test_compiled_from_epoch_is_the_start_of_the_last_compiled_stretch():
    def history(*flags):
        return [{"epoch": i + 1, **({} if f is None else {"compiled": f})} for i, f in enumerate(flags)]

    assert compiled_from_epoch(history(False, False, True, True)) == 3
    assert compiled_from_epoch(history(True, False, True)) == 3  # resumed eagerly, then compiled again
    assert compiled_from_epoch(history(True, True)) == 1
    assert compiled_from_epoch(history(True, False)) is None
    assert compiled_from_epoch(history(None, None, False, True)) == 4  # records from before the flag: compiled
    assert compiled_from_epoch(history(None, None)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("model,device,amp", [("sasrec", "cpu", None), ("sasrec", "cpu", "bf16"), *[
    pytest.param(m, "cuda", amp, marks=[
        pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])
    for m, amp in (("sasrec", None), ("tim4rec", None), ("tim4rec", "bf16"))]])
def test_run_trains_eagerly_then_compiled_from_the_background_processes_cache(tmp_path, monkeypatch, model, device,
                                                                             amp):
    """The run's epochs before the switch are its eager run's, to the bit; after it, compiled, they agree to
    rounding. Its own compilation then finds the background process's graphs in the (fresh) inductor cache: no
    miss, in the process's counters and in the switch epoch's record (its compile alone, timed without
    SEQREC_STEP_TIMES). A run that compiles in-process from the start, on another fresh cache, misses (the check
    can fail). On CUDA the steps are CUDA graphs (a new graph is captured at the switch), as #4's fast path runs
    them with bf16 (the prewarm on, its default). Under bf16 the run's dropouts draw the fp32 run's masks (wrapped
    modules): the background process's model must be adapted alike, or its graph is another (part 30's misses)."""
    from torch._dynamo.utils import counters

    ds = consecutive_dataset(n_users=48, n_items=60, max_len=8)
    started = []
    real_start = compile_ahead.start
    monkeypatch.setattr(compile_ahead, "start", lambda *a, **k: started.append(real_start(*a, **k)) or started[-1])

    def wait_for_it(record):  # after epoch 1 the process is done, so the run compiles from epoch 3 (deterministic)
        if record["epoch"] == 1:
            assert started[0].proc.wait(timeout=600) == 0, started[0].failure()

    monkeypatch.delenv("SEQREC_STEP_TIMES", raising=False)
    kw = dict(config={"hidden_size": 16, "max_len": 8}, device=device, progress=False, seed=3)
    tc = {"batch_size": 16, "epochs": 4, "patience": 0, "cuda_graph": device == "cuda", "amp": amp}
    eager = train(model, ds, train_config=tc, **kw)
    caches = {}
    for name, extra in (("ahead", {"compile_ahead": True}), ("inline", {})):
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / name))
        torch._dynamo.reset()
        counters.clear()
        run = train(model, ds, train_config={**tc, "compile": True, **extra}, **kw,
                    on_epoch_end=wait_for_it if extra else None)
        caches[name] = dict(counters["inductor"])
        if extra:
            ahead = run
        else:
            inline = run
    torch._dynamo.reset()
    assert [r["compiled"] for r in ahead["epochs"]] == [False, False, True, True]
    assert ahead["compiled_from_epoch"] == 3 and len(started) == 1 and not started[0].workdir.exists()
    if device == "cpu":  # deterministic there: bitwise
        assert [r["train_loss"] for r in ahead["epochs"][:2]] == [r["train_loss"] for r in eager["epochs"][:2]]
    for r, e in zip(ahead["epochs"], eager["epochs"], strict=True):
        assert r["train_loss"] == pytest.approx(e["train_loss"], rel=1e-2 if amp else 1e-4)  # bf16 rounds apart
    assert caches["ahead"].get("fxgraph_cache_hit", 0) >= 1 and caches["ahead"].get("fxgraph_cache_miss", 0) == 0
    switch = ahead["epochs"][2]
    assert len(switch["step_seconds"]) == switch["train_steps"] and switch["compile_seconds"]["torch"]
    assert switch["compile_seconds"]["caches"].get("fxgraph_cache_hit", 0) >= 1
    assert "fxgraph_cache_miss" not in switch["compile_seconds"]["caches"]
    assert ["compile_seconds" in r for r in ahead["epochs"]] == [False, False, True, False]
    report = ahead["cold_start"]["compile_ahead"]
    assert report["ok"] is True and report["found_after_epoch"] == 2 and report["seconds"] > 0
    assert "compile_ahead" not in eager["cold_start"] and "compile_ahead" not in inline["cold_start"]
    assert caches["inline"].get("fxgraph_cache_miss", 0) >= 1


def test_a_failed_background_compilation_is_reported_and_the_run_compiles_itself(tmp_path, monkeypatch, capsys):
    ds = consecutive_dataset(n_users=48, n_items=60, max_len=8)
    real_start = compile_ahead.start

    def failing(*a, **k):
        ahead = real_start(*a, **k)
        ahead.proc.kill()
        ahead.proc.wait()
        ahead.log.write_text("boom: no compiler\n")
        return ahead

    monkeypatch.setattr(compile_ahead, "start", failing)
    calls = []
    import seqrec.train as train_mod

    real_loss = train_mod.training_loss
    monkeypatch.setattr(train_mod, "training_loss", lambda m, tc, d: calls.append(tc["compile"]) or real_loss(
        m, {**tc, "compile": False}, d))  # compiled or not, run it eagerly: this test is about the switch
    run = train("sasrec", ds, config={"hidden_size": 16, "max_len": 8}, device="cpu", progress=False,
                train_config={"batch_size": 16, "epochs": 2, "patience": 0, "compile": True, "compile_ahead": True})
    assert calls == [False, True] and [r["compiled"] for r in run["epochs"]] == [False, True]
    report = run["cold_start"]["compile_ahead"]
    assert report["ok"] is False and report["found_after_epoch"] == 1 and "boom: no compiler" in report["log_tail"]
    err = capsys.readouterr().err
    assert "background compilation failed" in err and "boom: no compiler" in err


def test_a_background_compilation_still_running_at_the_end_is_recorded_as_unfinished(monkeypatch):
    """A run that ends before its background process finished trains eagerly throughout, records the process as
    unfinished (ok None, found after no epoch), and ends the process and its files."""
    import subprocess
    import sys

    ds = consecutive_dataset(n_users=48, n_items=60, max_len=8)
    real_start, started = compile_ahead.start, []

    def slow(*a, **k):
        ahead = real_start(*a, **k)
        ahead.proc.kill()
        ahead.proc.wait()
        ahead.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        started.append(ahead)
        return ahead

    monkeypatch.setattr(compile_ahead, "start", slow)
    run = train("sasrec", ds, config={"hidden_size": 16, "max_len": 8}, device="cpu", progress=False,
                train_config={"batch_size": 16, "epochs": 2, "patience": 0, "compile": True, "compile_ahead": True})
    assert [r["compiled"] for r in run["epochs"]] == [False, False] and run["compiled_from_epoch"] is None
    report = run["cold_start"]["compile_ahead"]
    assert report["ok"] is None and report["found_after_epoch"] is None and "log_tail" not in report
    assert started[0].proc.poll() is not None and not started[0].workdir.exists()
