"""The training loss compiled in a background process while the run trains eagerly (``train_config
["compile_ahead"]``, ``--compile-ahead``).

With ``compile`` alone a run's first step waits for inductor: part 10's TiM4Rec first epoch took 32 s on an H200
with every cache empty, 10.8 s of its first step in ``compile_fx_inner`` (results/full/README.md), while an eager
first epoch, our Triton kernels compiling, took 7-9 s (results/full, results/full-amp). Here a second process,
started with the run, builds the same model, runs the compiled loss forward and backward once on the run's first
full batch (saved to a file: the same shapes, dtypes and layout) and exits; its compilation lands in inductor's
on-disk caches (``TORCHINDUCTOR_CACHE_DIR``, shared through the environment). Meanwhile the run trains eagerly;
at the first epoch boundary after the process has finished, it compiles its loss, now mostly a cache hit, and
trains compiled from the next epoch on. If the process failed, the run compiles itself there all the same (its log
says why).

On an H200 (part 11, results/full-cold-*): TiM4Rec's cold first epoch took 18.4 s this way against 20.6 s eager
alone, so the process beside it does not slow it; started after the first step instead (2af2f2d), it took 20.7 s
and finished too late for any compiled epoch, so it starts with the run again. The eager first epoch, not
inductor, is then what stands between a cold run and issue #4's 15 s.

Which epoch the switch comes at depends on timing, so a run's epochs are not bitwise those of another run of the
same seed: compiled and eager steps agree to rounding (``compile_rng`` "eager": the same dropout masks; 10 seeds
of TiM4Rec stopped at the same epochs, results/full-compile-eager-rng/). Each epoch record says whether it ran
compiled (``"compiled"``), and the result file gives ``compiled_from_epoch``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from seqrec import runtime

REPO = Path(__file__).resolve().parent.parent


class CompileAhead:
    """The background process and its files; ``ready()`` polls, ``stop()`` ends it and removes its files."""

    def __init__(self, proc: subprocess.Popen, workdir: Path):
        self.proc, self.workdir = proc, workdir
        self.log = workdir / "compile-ahead.log"
        self.started = time.time()

    def ready(self) -> bool | None:
        """None while the process runs; then whether it compiled (exit status 0)."""
        rc = self.proc.poll()
        return None if rc is None else rc == 0

    def failure(self) -> str:
        """The end of the process's log (for a run's warning)."""
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return "(no log)"

    def report(self, epoch: int | None) -> dict[str, Any]:
        """What the run records (``cold_start["compile_ahead"]``): whether the process compiled (``ok``; None: it
        had not finished when the run ended), the epoch after which the run found it finished and the seconds
        since it started then; a failed process's log tail (the run's own log is gone once the run succeeds)."""
        done = self.ready()
        out: dict[str, Any] = {"ok": done, "found_after_epoch": epoch if done is not None else None,
                               "seconds": round(time.time() - self.started, 1)}
        if done is False:
            out["log_tail"] = self.failure()
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in self.workdir.iterdir():
            f.unlink()
        self.workdir.rmdir()


def start(model_name: str, overrides: dict[str, Any], n_items: int, dataset: str | None, train_config: dict[str, Any],
          device: torch.device, batch: Any) -> CompileAhead:
    """Start compiling ``training_loss`` for ``train_config`` (compile on) in a background process, on ``batch``
    (a full training batch: item_seq, seq_len, time_seq (B, L) and target (B,) as the run's loader yields them)."""
    workdir = Path(tempfile.mkdtemp(prefix="seqrec-compile-ahead-"))
    torch.save({"args": [t.detach().cpu() for t in (batch.item_seq, batch.seq_len, batch.time_seq, batch.target)],
                "model": model_name, "overrides": overrides, "n_items": int(n_items), "dataset": dataset,
                "train_config": train_config, "device": str(device)}, workdir / "job.pt")
    with open(workdir / "compile-ahead.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "seqrec.compile_ahead", str(workdir / "job.pt")], cwd=REPO,
                                env=runtime.child_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return CompileAhead(proc, workdir)


def compile_job(job: dict[str, Any]) -> None:
    """Build the job's model and run its compiled loss forward and backward once (what fills the caches)."""
    import models
    from seqrec.train import adapt_precision, training_loss

    device = torch.device(job["device"])
    # as train() runs: both settings are part of inductor's cache key
    with runtime.deterministic(device.type == "cpu"), runtime.tf32_matmuls(job["train_config"].get("tf32", False)):
        model = models.build(job["model"], job["overrides"], job["n_items"], dataset=job["dataset"])
        model.to(device).train()
        args = [t.to(device) for t in job["args"]]
        adapt_precision(model, job["train_config"]["amp"], lambda: tuple(t[:2] for t in args[:3]))  # as the run's
        loss_fn = training_loss(model, {**job["train_config"], "compile": True}, device)
        loss = loss_fn(*args)
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="compile a run's training loss into inductor's caches (internal)")
    ap.add_argument("job", type=Path, help="the job file compile_ahead.start wrote")
    args = ap.parse_args(argv)
    job = torch.load(args.job, weights_only=False)
    compile_job(job)
    print(json.dumps({"compiled": job["model"], "batch": list(job["args"][0].shape)}))


if __name__ == "__main__":
    main()
