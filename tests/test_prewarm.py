"""kernels.prewarm: a run's Triton kernels compiled ahead of it, in processes that share the work, into the cache
the run reads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kernels import prewarm

REPO = Path(__file__).resolve().parent.parent
triton = pytest.importorskip("triton")
PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
TINY = {"hidden_size": 16, "max_len": 8, "backend": "auto"}
ARGS = ["--model", "tim4rec", "--config", json.dumps(TINY), "--n-items", "30", "--seq-len", "8",
        "--train-batches", "4,3", "--eval-batches", "4"]


def run_prewarm(cache: Path, share: str) -> int:
    """The number of kernel specializations the share compiled (or found in ``cache``); its report agrees."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    report, t0 = cache.parent / f"report-{share.replace('/', '-')}.json", time.time()
    done = subprocess.run([sys.executable, "-m", "kernels.prewarm", *ARGS, "--share", share, "--report", str(report),
                           "--t0", repr(t0)], cwd=REPO, env={**env, "TRITON_CACHE_DIR": str(cache)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    n = int(re.search(r"(\d+) kernel specializations", done.stdout).group(1))
    got = json.loads(report.read_text())
    assert got["share"] == share and got["kernels"] == n and got["compile_seconds"] >= 0
    assert 0 < got["imported_seconds"] <= got["ready_seconds"] <= time.time() - t0  # counted from t0
    return n


@pytest.mark.slow
@pytest.mark.skipif(not PTXAS.exists(), reason="needs the ptxas that Triton ships (Linux x86-64)")
def test_shares_compile_every_kernel_once_into_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first, second = run_prewarm(cache, "0/2"), run_prewarm(cache, "1/2")
    entries = sorted(os.listdir(cache))
    assert first > 0 and second > 0  # the work is shared out
    # one process over everything finds each kernel in the cache: nothing new is written, nothing was left out
    # (counted by PTX, specializations that compile alike count once in one process, once a share in two)
    assert 0 < run_prewarm(cache, "0/1") <= first + second
    assert sorted(os.listdir(cache)) == entries


def test_start_launches_nothing_where_nothing_would_use_it(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setenv("SEQREC_PREWARM", "1")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    card = type("Card", (), {"multi_processor_count": 132})
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d=None: card)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: "proc")
    assert prewarm.start("tim4rec", TINY, 30, 8, None, cuda, processes=3).procs == ["proc"] * 3  # on: it starts
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("no process should start"))
    assert not prewarm.start("tim4rec", TINY, 30, 8, None, torch.device("cpu"))
    assert not prewarm.start("tim4rec", {**TINY, "backend": "torch"}, 30, 8, None, cuda)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert not prewarm.start("tim4rec", TINY, 30, 8, None, cuda)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setenv("SEQREC_PREWARM", "0")
    assert not prewarm.start("tim4rec", TINY, 30, 8, None, cuda)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: "proc")
    monkeypatch.delenv("SEQREC_PREWARM")  # on by default (parts 27-28: cold first epochs 20.7-24.4 s, 28-37 without)
    assert prewarm.start("tim4rec", TINY, 30, 8, None, cuda, processes=2).procs == ["proc"] * 2


def test_a_bad_switch_is_an_error_naming_it_on_any_device(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQREC_PREWARM", "yes")
    for device in ("cpu", "cuda"):
        with pytest.raises(ValueError, match="SEQREC_PREWARM='yes'"):
            prewarm.wanted(TINY, torch.device(device))
    from seqrec.train import TrainSetupError, train
    from tests.test_train import consecutive_dataset

    with pytest.raises(TrainSetupError, match="SEQREC_PREWARM"):  # before the run starts anything
        train("sasrec", consecutive_dataset(), train_config={"epochs": 1}, out=tmp_path / "r.json", progress=False)
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.json.ckpt").exists()


def test_the_number_of_processes_is_the_hosts_or_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(prewarm.PROCESSES_ENV, raising=False)
    assert [prewarm.processes_for(c) for c in (None, 2, 16, 32, 128)] == [1, 1, 4, 8, 8]
    monkeypatch.setenv(prewarm.PROCESSES_ENV, "16")
    assert prewarm.processes_for(32) == 16
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv(prewarm.PROCESSES_ENV, bad)
        with pytest.raises(ValueError, match=f"SEQREC_PREWARM_PROCESSES='{bad}'"):
            prewarm.processes_for(32)
    from seqrec.train import TrainSetupError, train
    from tests.test_train import consecutive_dataset

    with pytest.raises(TrainSetupError, match="SEQREC_PREWARM_PROCESSES"):  # on any device, before the run starts
        train("sasrec", consecutive_dataset(), train_config={"epochs": 1}, out=tmp_path / "r.json", progress=False)


def test_finish_reaps_and_reads_each_report_once(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    for k in (1, 0):
        (reports / f"{k}.json").write_text(json.dumps({"share": f"{k}/2", "kernels": k}))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    warm = prewarm.Prewarm([sleeper], time.time(), reports)
    assert prewarm.finish(warm) == [{"share": "0/2", "kernels": 0}, {"share": "1/2", "kernels": 1}]
    assert sleeper.returncode is not None and not reports.exists()  # killed, its folder gone
    assert prewarm.finish(warm) == [] and not warm


def test_dry_batch_reaches_the_kernels_full_blocks():
    assert [prewarm.dry_batch_size(L) for L in (8, 50, 64, 200)] == [8, 2, 1, 1]
    assert all(prewarm.dry_batch_size(L) * L >= prewarm.DRY_ROWS for L in range(1, 300))


STEP = """
import json, sys, torch, models
from seqrec.workloads import synthetic_batch
model = models.build("tim4rec", json.loads(sys.argv[1]), 30).cuda().train()
for b in (4, 3):
    x = synthetic_batch(b, 8, 30, "cuda")
    model.loss(x.item_seq, x.seq_len, x.time_seq, x.target).backward()
model.eval()
with torch.no_grad():
    x = synthetic_batch(4, 8, 30, "cuda")
    model.full_scores(x.item_seq, x.seq_len, x.time_seq)
torch.cuda.synchronize()
"""


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_prewarmed_step_compiles_nothing_itself(tmp_path, monkeypatch):
    """The step's own launches (a fresh process) find every kernel the prewarm processes compiled: its cache
    gains no entry. Without the prewarm, the same step fills an empty cache (the check can fail)."""
    def step(cache: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        subprocess.run([sys.executable, "-c", STEP, json.dumps(TINY)], cwd=REPO, check=True, timeout=600,
                       env={**env, "TRITON_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)})

    cold = tmp_path / "cold"
    step(cold)
    assert len(os.listdir(cold)) > 0
    warm = tmp_path / "warm"
    monkeypatch.setenv("TRITON_CACHE_DIR", str(warm))
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("SEQREC_PREWARM", "1")
    started = prewarm.start("tim4rec", TINY, 30, 8, None, torch.device("cuda"), processes=2)
    assert len(started.procs) == 2
    assert [p.wait(timeout=600) for p in started.procs] == [0, 0]
    reports = prewarm.finish(started)
    assert [r["share"] for r in reports] == ["0/2", "1/2"] and sum(r["kernels"] for r in reports) > 0
    assert all(0 < r["imported_seconds"] < r["ready_seconds"] for r in reports)
    before = sorted(os.listdir(warm))
    step(warm)
    assert sorted(os.listdir(warm)) == before
