"""Compile the Triton kernels a training run will launch before it launches them, in background processes.

A cold run (empty Triton cache: a fresh machine or container) compiles each of our kernels' specializations at its
first launch, one after another, on the critical path of the first step: part 9 measured a cold first step of
28 s on an H100 host, of which inductor's own compilation was about half. ``start`` launches a few CPU-only
processes that run the step (forward, loss, backward; then the evaluation's forward) on CPU tensors with every
Triton launch compiled for the GPU's target and not run (``kernels.ptxas_report.compile_only``, the cache in use
kept), with its C launcher (``kernels.triton_launchers``: built by gcc at a kernel's first real launch, so part 10's
prewarmed step still wrote 11 cache entries of its own, most likely those). Each process compiles its share of the
launch specializations (``launch_signature``, split by a stable hash), into the Triton cache the training process
reads: while that process loads data and traces and compiles with inductor, its kernels are being compiled beside
it, and its first launch of each finds the compiled kernel in the cache. A kernel the processes have not reached
yet is compiled by the training process as before (the cache's writes are atomic), so prewarming changes when
kernels compile, never what runs.

Off unless ``SEQREC_PREWARM=1``: on an H200 host (part 10, results/full-cold-prewarm-*) TiM4Rec's cold first
epoch, bf16 + compile + CUDA graph, took 34.4 s with it and 32.2 s without; inductor's compilation, not our
kernels', holds that epoch (``seqrec/compile_ahead.py`` takes it off the first epoch instead).

    python -m kernels.prewarm --model tim4rec --config '{"hidden_size": 64}' --n-items 12101 --seq-len 50 \\
        --train-batches 2048,1234 --eval-batches 4096,1813 [--amp bf16] --arch 90 --sms 132 --share 0/4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import torch

from seqrec.runtime import child_env

REPO = Path(__file__).resolve().parent.parent
# The dry step runs PyTorch's ops on the CPU at the run's full shapes (a smaller batch changes some kernels'
# launch parameters, so some specializations), a few GB at amazon-beauty's B = 2048, L = 50, hidden 256 in each
# process. Beyond that (ml-1m's L = 200 at hidden 128 and up) its CPU time and memory, times the processes of every
# run a multi-GPU host trains at once, outgrow what it saves: an epoch there takes seconds of kernels anyway.
MAX_DRY_ELEMENTS = 2**25


def dry_steps(model_name: str, config: dict, n_items: int, seq_len: int, train_batches: list[int],
              eval_batches: list[int], amp: str | None = None, dataset: str | None = None) -> Iterator[tuple[str, int]]:
    """Run a training step (forward, loss, backward) at each of ``train_batches``, then the scoring forward at
    each of ``eval_batches``, on (B, seq_len) synthetic batches on CPU with our Triton kernels; yields
    ("train" | "eval", B) after each. Run it inside ``ptxas_report.compile_only`` (or ``specializations``), which
    turns the Triton launches into compilations."""
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
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
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
            sms: int = 132, share: tuple[int, int] = (0, 1)) -> list:
    """The kernels compiled (``ptxas_report.Compiled``) by one process: ``dry_steps``'s launches whose signature
    hashes to ``share[0]`` modulo ``share[1]``."""
    from kernels.ptxas_report import compile_only

    k, n = share
    take = None if n == 1 else (lambda signature: zlib.crc32(signature.encode()) % n == k)
    with compile_only(arch, sms, cold=False, take=take, launchers=True) as compiled:
        for _ in dry_steps(model_name, config, n_items, seq_len, train_batches, eval_batches, amp, dataset):
            pass
    return compiled


def start(model_name: str, config: dict, n_items: int, seq_len: int, train_batches: list[int],
          eval_batches: list[int], amp: str | None, device: torch.device, dataset: str | None = None,
          processes: int | None = None, hidden_size: int = 64) -> list[subprocess.Popen]:
    """Start the prewarm processes for a run on CUDA ``device``: none elsewhere, under the Triton interpreter, for
    a model whose kernel backend is not ours, unless ``SEQREC_PREWARM=1``, or for a step larger than
    ``MAX_DRY_ELEMENTS`` (batch x length x hidden). Their output goes to the file ``SEQREC_PREWARM_LOG`` names,
    else nowhere. Reap them with ``finish``."""
    if device.type != "cuda" or os.environ.get("TRITON_INTERPRET", "0") not in ("", "0") or \
            os.environ.get("SEQREC_PREWARM") != "1" or config.get("backend", "auto") not in ("auto", "triton") or \
            max(train_batches, default=0) * seq_len * hidden_size > MAX_DRY_ELEMENTS:
        return []
    n = processes or max(1, min(4, (os.cpu_count() or 1) // 4))
    major, minor = torch.cuda.get_device_capability(device)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    env = child_env(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="2")
    common = ["--model", model_name, "--config", json.dumps(config), "--n-items", str(n_items),
              "--seq-len", str(seq_len), "--train-batches", ",".join(map(str, train_batches)),
              "--eval-batches", ",".join(map(str, eval_batches)), "--arch", str(major * 10 + minor),
              "--sms", str(sms), *(["--amp", amp] if amp else []), *(["--dataset", dataset] if dataset else [])]
    log = os.environ.get("SEQREC_PREWARM_LOG")
    return [subprocess.Popen([sys.executable, "-m", "kernels.prewarm", *common, "--share", f"{k}/{n}",
                              *(["--log", log] if log else [])], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            for k in range(n)]


def finish(procs: list[subprocess.Popen]) -> None:
    """Wait for the prewarm processes (they end on their own within the first epoch; killed if still running)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", default="{}", help="the model's config overrides, JSON")
    ap.add_argument("--dataset", default=None, help="dataset name (a model's per-dataset config)")
    ap.add_argument("--n-items", dest="n_items", type=int, required=True)
    ap.add_argument("--seq-len", dest="seq_len", type=int, required=True)
    ap.add_argument("--train-batches", dest="train_batches", default="", help="comma list of batch sizes")
    ap.add_argument("--eval-batches", dest="eval_batches", default="", help="comma list of batch sizes")
    ap.add_argument("--amp", choices=["bf16"], default=None)
    ap.add_argument("--arch", type=int, default=90, help="compute capability x 10")
    ap.add_argument("--sms", type=int, default=132, help="the GPU's SM count (a launch sizes its grid by it)")
    ap.add_argument("--share", default="0/1", help="K/N: this process compiles the K-th of N shares")
    ap.add_argument("--log", default=None, help="append this process's output to the file")
    args = ap.parse_args(argv)
    if args.log:
        with open(args.log, "a") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
    k, n = map(int, args.share.split("/"))
    sizes = [[int(b) for b in s.split(",") if b.strip()] for s in (args.train_batches, args.eval_batches)]
    compiled = dry_run(args.model, json.loads(args.config), args.n_items, args.seq_len, *sizes, amp=args.amp,
                       dataset=args.dataset, arch=args.arch, sms=args.sms, share=(k, n))
    print(f"prewarm {args.share}: {len(compiled)} kernel specializations, "
          f"{sum(c.seconds for c in compiled):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
