"""kernels.prewarm_claims: each kernel specialization compiled once, by whichever process claims it first; the
training process waits only for kernels a prewarm process holds."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kernels import prewarm_claims as claims
from tests.test_prewarm import ARGS, PTXAS, REPO, TINY

triton = pytest.importorskip("triton")


def test_a_claim_is_taken_once_and_waited_for_until_done_or_its_holders_stop(tmp_path):
    stem = claims.marker(tmp_path, "_ssd_fwd_kernel", "key-1")
    assert stem != claims.marker(tmp_path, "_ssd_fwd_kernel", "key-2")
    assert claims.claim(stem) and not claims.claim(stem)
    threading.Timer(0.2, claims.mark_done, [stem]).start()
    start = time.monotonic()
    assert claims.wait_done(stem, lambda: True) and time.monotonic() - start >= 0.15
    other = claims.marker(tmp_path, "_conv_fwd_kernel", "key-1")
    assert claims.claim(other)
    assert not claims.wait_done(other, lambda: False)  # its holder ended without it
    start = time.monotonic()
    assert not claims.wait_done(other, lambda: True, limit_s=0.1) and time.monotonic() - start < 5


class Fn:
    def __init__(self, name: str):
        self.name = name


def test_the_trainers_side_waits_claims_or_finds_and_chains_the_hook_before_it(tmp_path, monkeypatch):
    from triton import knobs

    seen = []
    monkeypatch.setattr(knobs.runtime, "jit_cache_hook", lambda **kw: seen.append(kw["key"]) or False)
    before = knobs.runtime.jit_cache_hook
    stats: dict = {}
    undo = claims.trainer_side(tmp_path, lambda: True, stats)
    hook = knobs.runtime.jit_cache_hook
    done, held, free = (claims.marker(tmp_path, "k", key) for key in ("done", "held", "free"))
    claims.claim(done)
    claims.mark_done(done)
    claims.claim(held)  # a prewarm process's, done 0.2 s later
    threading.Timer(0.2, claims.mark_done, [held]).start()
    assert [hook(key=key, fn=Fn("k")) for key in ("done", "held", "free")] == [False] * 3  # each compiles here
    assert {k: stats[k] for k in ("found_done", "waited", "claimed")} == {"found_done": 1, "waited": 1, "claimed": 1}
    assert 0.15 <= stats["wait_seconds"] < 5
    assert not claims.claim(free) and seen == ["done", "held", "free"]  # it claimed "free"; the earlier hook ran
    undo()
    assert knobs.runtime.jit_cache_hook is before


def test_a_bad_switch_is_an_error_naming_it(monkeypatch):
    monkeypatch.setenv(claims.CLAIMS_ENV, "2")
    with pytest.raises(ValueError, match="SEQREC_PREWARM_CLAIMS='2'"):
        claims.claims_on()
    from seqrec.train import TrainSetupError, train
    from tests.test_train import consecutive_dataset

    with pytest.raises(TrainSetupError, match="SEQREC_PREWARM_CLAIMS"):  # on any device, before the run starts
        train("sasrec", consecutive_dataset(), train_config={"epochs": 1}, progress=False)
    monkeypatch.delenv(claims.CLAIMS_ENV)
    assert not claims.claims_on()  # off until measured on a GPU


TRAINER = """
import json, subprocess, sys
from pathlib import Path
from kernels import prewarm_claims as claims
from kernels.prewarm import dry_steps
from kernels.ptxas_report import compile_only

folder, tiny, prewarm = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in prewarm]
stats = {}
undo = claims.trainer_side(folder, lambda: any(p.poll() is None for p in procs), stats)
with compile_only(90, 132, cold=False, launchers=False) as here:
    for _ in dry_steps("tim4rec", tiny, 30, 8, [4, 3], [4]):
        pass
undo()
outs = [p.communicate(timeout=600) for p in procs]
assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
print(json.dumps({"stats": stats, "here": len(here), "prewarm": [o for o, _ in outs]}))
"""


def prewarm_command(folder: Path, share: str) -> list[str]:
    return [sys.executable, "-m", "kernels.prewarm", *ARGS, "--share", share, "--claims", str(folder)]


def prewarmed_kernels(stdout: str) -> int:
    return int(re.search(r"(\d+) kernel specializations", stdout).group(1))


@pytest.mark.slow
@pytest.mark.skipif(not PTXAS.exists(), reason="needs the ptxas that Triton ships (Linux x86-64)")
def test_prewarm_processes_and_the_trainer_compile_each_kernel_once(tmp_path):
    """Two prewarm processes with claims walk the whole dry step while the trainer's side (a process compiling for
    sm_90 without a GPU) runs the same step: together they compile every kernel exactly once, and every kernel a
    prewarm process claimed is marked done."""
    env = {**{k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}, "PYTHONPATH": str(REPO)}
    alone = tmp_path / "alone"
    alone.mkdir()
    done = subprocess.run(prewarm_command(alone, "0/1"), cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**env, "TRITON_CACHE_DIR": str(tmp_path / "cache-alone")})
    assert done.returncode == 0, done.stderr[-3000:]
    total = prewarmed_kernels(done.stdout)  # one process: every kernel
    assert total > 0 and len(list(alone.glob("*.done"))) == len(list(alone.glob("*.claim"))) == total
    folder = tmp_path / "claims"
    folder.mkdir()
    both = json.dumps([prewarm_command(folder, f"{k}/2") for k in range(2)])
    run = subprocess.run([sys.executable, "-c", TRAINER, str(folder), json.dumps(TINY), both], cwd=REPO,
                         capture_output=True, text=True, timeout=900,
                         env={**env, "TRITON_CACHE_DIR": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    stats, by_prewarm = got["stats"], [prewarmed_kernels(o) for o in got["prewarm"]]
    assert sum(by_prewarm) + stats["claimed"] == total, (by_prewarm, stats)
    assert stats["claimed"] + stats["waited"] + stats["found_done"] == got["here"] == total
    assert len(list(folder.glob("*.claim"))) == total
    assert len(list(folder.glob("*.done"))) == sum(by_prewarm)  # the trainer's own are not marked: nobody waits
