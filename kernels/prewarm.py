"""Compile the Triton kernels a training run will launch before it launches them, in background processes.

A cold run (empty Triton cache: a fresh machine or container) compiles each of our kernels' specializations at its
first launch, one after another, on the critical path of the first step: 9-12 s of TiM4Rec's cold first epoch on
an H200 (part 12b, results/full/README.md). ``start`` launches a few CPU-only processes that run a dry step
(forward, loss, backward; then the evaluation's forward) on small CPU batches with every Triton launch compiled
for the GPU's target and not run (``kernels.ptxas_report.compile_only``, the cache in use kept), with its C
launcher (``kernels.triton_launchers``: built by gcc at a kernel's first real launch). A kernel's specialization
does not depend on the batch size (``tests/test_kernel_specializations.py``), so the dry step's batch is
``dry_batch_size(seq_len)``, a few sequences, and the processes start compiling within their imports. Each process
compiles its share of the launch specializations (``launch_signature``, split by a stable hash; with claims,
``kernels.prewarm_claims``, whatever no other process has claimed), into the Triton cache the training process
reads; a kernel the processes have not reached yet is compiled by the training process as before (the cache's
writes are atomic), so prewarming changes when kernels compile, never what runs. A training
run starts them once the run is its own (``seqrec.train``), before it moves its data to the device and builds its
model, and its result records each process's report (``finish``: kernels, when imported, when ready) beside when its
first epoch began (``cold_start``): whether the processes were ready in time.

On by default (``SEQREC_PREWARM``: 1 or 0). Its former form ran the dry step at the run's full batches, up to 2048 x
50 rows scored against every item on the CPU in each process: on an H200 host it made TiM4Rec's first step slower
(12.3 s against 8.9 s, part 12b). This form, on H200s with #4's fast path, cold: first epochs of 20.7, 24.4 and 20.9 s
with it (parts 27, 28), 33.8, 28.2, 30.4 and 37.1 s without (parts 27, 28, 25, 24; a cold start varies with the
host's load); in part 28 all 16 of TiM4Rec's kernel specializations were compiled by the time the first step
launched them (results/full-amp-compile-cuda-graph-cold-prewarm-pool/). The dry step makes the device's choices as
on CUDA (``dry_steps``): part 27's missed TiM4Rec's time-MLP kernels.

    python -m kernels.prewarm --model tim4rec --config '{"hidden_size": 64}' --n-items 12101 --seq-len 50 \\
        --train-batches 2 --eval-batches 2 [--amp bf16] --arch 90 --sms 132 --share 0/4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kernels import prewarm_claims
from models.switches import env_flag
from seqrec.runtime import child_env, patched_environ

REPO = Path(__file__).resolve().parent.parent
PREWARM_ENV = "SEQREC_PREWARM"
PROCESSES_ENV = "SEQREC_PREWARM_PROCESSES"
DRY_ROWS = 64  # rows (B x L) of the dry step: past every kernel's smallest block, so its blocks are a full batch's


def dry_batch_size(seq_len: int) -> int:
    """The dry step's batch: the fewest sequences whose rows reach ``DRY_ROWS``."""
    return max(1, -(-DRY_ROWS // max(seq_len, 1)))


def dry_steps(model_name: str, config: dict, n_items: int, seq_len: int, train_batches: list[int],
              eval_batches: list[int], amp: str | None = None, dataset: str | None = None) -> Iterator[tuple[str, int]]:
    """Run a training step (forward, loss, backward) at each of ``train_batches``, then the scoring forward at
    each of ``eval_batches``, on (B, seq_len) synthetic batches on CPU with our Triton kernels; yields
    ("train" | "eval", B) after each. Run it inside ``ptxas_report.compile_only`` (or ``specializations``), which
    turns the Triton launches into compilations."""
    from models.tim4rec import TIME_MLP_KERNEL_ENV, time_mlp_kernel

    # choices a model makes by the device, made as on CUDA: TiM4Rec's time MLP through kernels.time_mlp (nn.Linear
    # on CPU features; part 27's prewarm missed its two kernels, 0.72 s of a cold first step on an H200)
    with patched_environ({TIME_MLP_KERNEL_ENV: "1" if time_mlp_kernel(on_cuda=True) else "0"}):
        yield from _dry_steps(model_name, config, n_items, seq_len, train_batches, eval_batches, amp, dataset)


def _dry_steps(model_name: str, config: dict, n_items: int, seq_len: int, train_batches: list[int],
               eval_batches: list[int], amp: str | None, dataset: str | None) -> Iterator[tuple[str, int]]:
    import models
    from models.common import set_norm_backend
    from seqrec.workloads import synthetic_batch

    has_backend = "backend" in models.default_config(model_name, dataset)  # SASRec's kernels are its norms only
    cfg = {**config, **({"backend": "triton"} if has_backend else {})}
    torch.manual_seed(0)
    model = models.build(model_name, cfg, n_items, dataset=dataset)
    set_norm_backend(model, "triton")  # "auto" on CUDA; on CPU it would pick PyTorch's norms
    model.train()
    for b in train_batches:
        x = synthetic_batch(b, seq_len, n_items, "cpu")
        with torch.autocast("cpu", dtype=torch.float16 if amp == "fp16" else torch.bfloat16, enabled=amp is not None):
            loss = model.loss(x.item_seq, x.seq_len, x.time_seq, x.target)
        loss.float().backward()
        yield "train", b
    model.eval()
    with torch.no_grad():
        for b in eval_batches:
            x = synthetic_batch(b, seq_len, n_items, "cpu")
            model.full_scores(x.item_seq, x.seq_len, x.time_seq)
            yield "eval", b


def dry_run(model_name: str, config: dict, n_items: int, seq_len: int, train_batches: list[int],
            eval_batches: list[int], amp: str | None = None, dataset: str | None = None, arch: int = 90,
            sms: int = 132, share: tuple[int, int] = (0, 1), claims: Path | None = None) -> list:
    """The kernels compiled (``ptxas_report.Compiled``) by one process: ``dry_steps``'s launches whose signature
    hashes to ``share[0]`` modulo ``share[1]``; with a ``claims`` folder (``kernels.prewarm_claims``), instead every
    launch whose kernel no other process has claimed."""
    from kernels.ptxas_report import compile_only

    k, n = share
    take = None if n == 1 or claims is not None else (lambda signature: zlib.crc32(signature.encode()) % n == k)
    with contextlib.ExitStack() as stack:
        on_compiled = stack.enter_context(prewarm_claims.prewarm_side(claims)) if claims is not None else None
        compiled = stack.enter_context(compile_only(arch, sms, cold=False, take=take, launchers=True,
                                                    on_compiled=on_compiled))
        for _ in dry_steps(model_name, config, n_items, seq_len, train_batches, eval_batches, amp, dataset):
            pass
    return compiled


def enabled() -> bool:
    """``SEQREC_PREWARM`` (1 or 0, default 1); another value is a ValueError naming it."""
    return env_flag(PREWARM_ENV, default=True)


def wanted(config: dict, device: torch.device) -> bool:
    """Whether ``start`` launches processes for a run of a model with ``config`` on ``device``: on CUDA, not under
    the Triton interpreter, for a model whose kernel backend is ours (``auto`` or ``triton``), with ``enabled()``."""
    return enabled() and device.type == "cuda" and os.environ.get("TRITON_INTERPRET", "0") in ("", "0") and \
        config.get("backend", "auto") in ("auto", "triton")  # the switch checked on every run


@dataclass
class Prewarm:
    """One run's prewarm processes (``start``): when they started (``time.time()``), the folder where each writes
    its report (``main``'s ``--report``) and, with claims (``kernels.prewarm_claims``), its claims; the training
    process's side of the claims (``undo_claims``) and what it counted (``claim_stats``)."""
    procs: list = field(default_factory=list)
    started: float = 0.0
    reports: Path | None = None
    claim_stats: dict | None = None
    undo_claims: Callable[[], None] | None = None

    def __bool__(self) -> bool:
        return bool(self.procs)

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)


def processes_for(cpus: int | None) -> int:
    """How many processes ``start`` launches: ``SEQREC_PREWARM_PROCESSES`` (a positive integer), else a quarter of
    the host's CPUs, 1 to 8. A bad value is a ValueError naming the variable."""
    raw = os.environ.get(PROCESSES_ENV)
    if raw is None:
        return max(1, min(8, (cpus or 1) // 4))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{PROCESSES_ENV}={raw!r}: expected a positive integer")
    return int(raw)


def start(model_name: str, config: dict, n_items: int, seq_len: int, amp: str | None, device: torch.device,
          dataset: str | None = None, processes: int | None = None) -> Prewarm:
    """Start the prewarm processes for a run on CUDA ``device`` where ``wanted`` (else none): ``processes`` of
    them, or ``processes_for`` the host. Their output goes to the file ``SEQREC_PREWARM_LOG`` names, else
    nowhere. Reap them with ``finish``."""
    if not wanted(config, device):
        return Prewarm()
    n = processes or processes_for(os.cpu_count())
    major, minor = torch.cuda.get_device_capability(device)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    env = child_env(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    dry = str(dry_batch_size(seq_len))
    reports, started = Path(tempfile.mkdtemp(prefix="seqrec-prewarm-")), time.time()
    common = ["--model", model_name, "--config", json.dumps(config), "--n-items", str(n_items),
              "--seq-len", str(seq_len), "--train-batches", dry, "--eval-batches", dry,
              "--arch", str(major * 10 + minor), "--sms", str(sms), *(["--amp", amp] if amp else []),
              *(["--dataset", dataset] if dataset else []), "--t0", repr(started)]
    log = os.environ.get("SEQREC_PREWARM_LOG")
    claims = prewarm_claims.claims_on()
    procs = [subprocess.Popen([sys.executable, "-m", "kernels.prewarm", *common, "--share", f"{k}/{n}",
                               "--report", str(reports / f"{k}.json"), *(["--claims", str(reports)] if claims else []),
                               *(["--log", log] if log else [])], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
             for k in range(n)]
    warm = Prewarm(procs, started, reports)
    if claims:  # this process's side: wait for a kernel a prewarm process holds, claim one nobody does
        warm.claim_stats = {}
        warm.undo_claims = prewarm_claims.trainer_side(reports, warm.alive, warm.claim_stats)
    return warm


def finish(warm: Prewarm) -> list[dict]:
    """Wait for the prewarm processes (they end on their own within the first epoch; killed if still running) and
    return their reports, by share: {"share": "K/N", "kernels": n, "compile_seconds": s, "imported_seconds": s,
    "ready_seconds": s} (seconds since ``start``; a killed process has none). Called again, it returns []."""
    if warm.undo_claims is not None:
        warm.undo_claims()
        warm.undo_claims = None
    for p in warm.procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    warm.procs = []
    if warm.reports is None:
        return []
    found = sorted(warm.reports.glob("[0-9]*.json"), key=lambda f: int(f.stem))
    reports = [json.loads(f.read_text()) for f in found]
    shutil.rmtree(warm.reports, ignore_errors=True)
    warm.reports = None
    return reports


def add_dry_step_arguments(ap: argparse.ArgumentParser) -> None:
    """``dry_steps``'s arguments on a command line: --model, --config, --dataset, --n-items, --seq-len,
    --train-batches, --eval-batches (comma lists), --amp."""
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", default="{}", help="the model's config overrides, JSON")
    ap.add_argument("--dataset", default=None, help="dataset name (a model's per-dataset config)")
    ap.add_argument("--n-items", dest="n_items", type=int, required=True)
    ap.add_argument("--seq-len", dest="seq_len", type=int, required=True)
    ap.add_argument("--train-batches", dest="train_batches", default="", help="comma list of batch sizes")
    ap.add_argument("--eval-batches", dest="eval_batches", default="", help="comma list of batch sizes")
    ap.add_argument("--amp", choices=["bf16", "fp16"], default=None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dry_step_arguments(ap)
    ap.add_argument("--arch", type=int, default=90, help="compute capability x 10")
    ap.add_argument("--sms", type=int, default=132, help="the GPU's SM count (a launch sizes its grid by it)")
    ap.add_argument("--share", default="0/1", help="K/N: this process compiles the K-th of N shares")
    ap.add_argument("--log", default=None, help="append this process's output to the file")
    ap.add_argument("--report", default=None, help="write this process's report (JSON) to the file")
    ap.add_argument("--t0", type=float, default=None, help="time.time() of the start its report's times count from")
    ap.add_argument("--claims", default=None, help="the run's claims folder (kernels.prewarm_claims): compile what "
                    "no other process has claimed, in place of the --share")
    args = ap.parse_args(argv)
    imported = time.time()
    if args.log:
        with open(args.log, "a") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
    k, n = map(int, args.share.split("/"))
    sizes = [[int(b) for b in s.split(",") if b.strip()] for s in (args.train_batches, args.eval_batches)]
    compiled = dry_run(args.model, json.loads(args.config), args.n_items, args.seq_len, *sizes, amp=args.amp,
                       dataset=args.dataset, arch=args.arch, sms=args.sms, share=(k, n),
                       claims=Path(args.claims) if args.claims else None)
    print(f"prewarm {args.share}: {len(compiled)} kernel specializations, "
          f"{sum(c.seconds for c in compiled):.1f} s", flush=True)
    if args.report:
        t0 = imported if args.t0 is None else args.t0
        report = {"share": args.share, "kernels": len(compiled), "compile_seconds": round(sum(
            c.seconds for c in compiled), 3), "imported_seconds": round(imported - t0, 3),
            "ready_seconds": round(time.time() - t0, 3)}
        tmp = Path(args.report).with_suffix(".tmp")
        tmp.write_text(json.dumps(report))
        tmp.replace(args.report)  # whole or absent
    return 0


if __name__ == "__main__":
    sys.exit(main())
