"""seqrec.run_claim: one process at a time holds a run; a killed holder's lock is free again; a claim that opened the
lock file of a holder that finished meanwhile locks the new file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqrec import run_claim
from seqrec.run_claim import RunClaimed, claimed, lock_path

REPO = Path(__file__).resolve().parent.parent
HOLD = ("import sys, time\nfrom seqrec.run_claim import claimed\nwith claimed(sys.argv[1]):\n"
        "    print('held', flush=True)\n    time.sleep(120)\n")


def hold_in_another_process(checkpoint: Path) -> subprocess.Popen:
    """A process that claims ``checkpoint`` and sleeps; returns once it holds the claim."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(checkpoint)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_second_claim_is_refused_until_the_first_ends(tmp_path):
    ckpt = tmp_path / "run.json.ckpt"
    with claimed(ckpt):
        assert lock_path(ckpt).read_text().startswith(f"pid {os.getpid()} on ")
        holder = f"pid {os.getpid()} "
        with pytest.raises(RunClaimed, match=f"run.json.ckpt.lock: another process is training this run \\({holder}"):
            claim_in_another_process(ckpt)
    assert not lock_path(ckpt).exists()
    claim_in_another_process(ckpt)  # free again
    with claimed(ckpt):
        pass


def claim_in_another_process(checkpoint: Path) -> None:
    """Claim ``checkpoint`` in a fresh process and let go; RunClaimed with its message where that was refused."""
    done = subprocess.run([sys.executable, "-c", "import sys\nfrom seqrec.run_claim import claimed\n"
                           "with claimed(sys.argv[1]):\n    pass\n", str(checkpoint)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RunClaimed(done.stderr.strip().splitlines()[-1].split("RunClaimed: ", 1)[-1])


def test_a_holder_may_claim_its_run_again_inside(tmp_path):
    """The ablation suite claims a case, then calls train(), which claims it again: the inner claim holds nothing
    more, and the run stays held until the outer claim ends."""
    ckpt, relative = tmp_path / "run.json.ckpt", Path(os.path.relpath(tmp_path / "run.json.ckpt"))
    with claimed(ckpt):
        with claimed(relative), claimed(ckpt):  # the same lock file by another spelling
            pass
        with pytest.raises(RunClaimed):
            claim_in_another_process(ckpt)  # still held
        assert lock_path(ckpt).exists()
    assert not lock_path(ckpt).exists()
    claim_in_another_process(ckpt)


def test_no_checkpoint_claims_nothing(tmp_path):
    with claimed(None), claimed(None):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holders_lock_file_does_not_block(tmp_path):
    ckpt = tmp_path / "sub" / "run.json.ckpt"
    holder = hold_in_another_process(ckpt)
    try:
        with pytest.raises(RunClaimed, match=f"pid {holder.pid} "):
            with claimed(ckpt):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert lock_path(ckpt).exists()  # left behind by the kill, but no longer locked
    with claimed(ckpt):
        pass


def test_a_claim_on_a_file_its_finished_holder_removed_locks_the_new_one(tmp_path, monkeypatch):
    """The holder finishes (removes the lock file) between this claim's open and its lock, and a third process
    creates a fresh file: the claim must hold that current file, or the third process could claim the run too."""
    ckpt = tmp_path / "run.json.ckpt"
    path = lock_path(ckpt)
    real_flock, calls = run_claim.fcntl.flock, []

    def flock(fd, op):
        if not calls:  # the first lock attempt: the file this claim opened is replaced meanwhile
            path.unlink()
            path.write_text("")
        calls.append(fd)
        return real_flock(fd, op)

    monkeypatch.setattr(run_claim.fcntl, "flock", flock)
    with claimed(ckpt):
        assert len(calls) == 2  # locked the first (stale) file, saw it replaced, locked the current one
        monkeypatch.setattr(run_claim.fcntl, "flock", real_flock)
        with pytest.raises(RunClaimed):
            claim_in_another_process(ckpt)
