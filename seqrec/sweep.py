"""``python -m seqrec sweep``: a grid of independent training runs (models x datasets x hidden sizes x
seeds, from flags or a YAML/TOML file), resumable and fault-tolerant.

Each run is ``python -m seqrec train ... --out <dir>/<model>-<dataset>-h<hidden>-s<seed>[-<tag>].json`` in
its own process. Engines:
  local (default)  one worker per GPU on this machine (``CUDA_VISIBLE_DEVICES`` pinned per worker), or
                   ``--workers N`` processes on CPU;
  ray              the same commands scheduled as Ray tasks (``num_gpus=1`` each on GPU clusters;
                   ``--ray-address`` to join a cluster, a local instance otherwise). Optional: pip install ray.
A run whose result file exists with status ok is skipped (resume). A failed run gets a result file with
status "failed" and the tail of its log as the reason, and the rest go on. Progress is shown as runs finish.
Two sweeps (or suites) over one folder share it: a run that another process is training (``seqrec.run_claim``), or
that one finished after this sweep started, is left to it and counted as neither ok nor failed.

Grid file (YAML or TOML)::

    models: [sasrec, tim4rec]
    datasets: [amazon-beauty]
    hidden: [32, 64]
    seeds: [0, 1, 2]
    train: {epochs: 200, patience: 10}      # passed as --epochs/--patience/--batch-size/--backend
    set: {dropout: 0.3}                     # model config overrides (--set key=value), optional
    variants: {noffn: {ffn: false}}         # optional named config variants, each a separate run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any

from seqrec import run_claim
from seqrec.results import write_result
from seqrec.train_choices import AMP_NAMES, COMPILE_RNGS

TRAIN_FLAGS = {"epochs": "--epochs", "patience": "--patience", "batch_size": "--batch-size", "backend": "--backend",
               "device": "--device", "data_dir": "--data-dir", "max_steps_per_epoch": "--max-steps-per-epoch",
               "max_len": "--max-len", "eval_batch_size": "--eval-batch-size", "lr": "--lr",
               "cuda_graph": "--cuda-graph", "graph_batch": "--graph-batch", "compile": "--compile",
               "compile_ahead": "--compile-ahead", "tf32": "--tf32",
               # booleans are bare flags: given when true
               "amp": "--amp", "compile_rng": "--compile-rng"}


@dataclass(frozen=True)
class Run:
    model: str
    dataset: str
    hidden: int
    seed: int
    variant: str = ""
    overrides: tuple[tuple[str, Any], ...] = ()
    train: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        tag = f"-{self.variant}" if self.variant else ""
        return f"{self.model}-{self.dataset}-h{self.hidden}-s{self.seed}{tag}"

    def command(self, out: Path) -> list[str]:
        cmd = [sys.executable, "-m", "seqrec", "train", "--model", self.model, "--dataset", self.dataset,
               "--hidden", str(self.hidden), "--seed", str(self.seed), "--out", str(out), "--no-progress"]
        for key, value in self.train:
            if isinstance(value, bool):
                cmd += [TRAIN_FLAGS[key]] if value else []
            else:
                cmd += [TRAIN_FLAGS[key], str(value)]
        for key, value in self.overrides:
            cmd += ["--set", f"{key}={_toml_literal(value)}"]
        if self.variant:
            cmd += ["--variant", self.variant]
        return cmd


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


@dataclass
class Grid:
    models: list[str]
    datasets: list[str]
    hidden: list[int]
    seeds: list[int]
    train: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    def runs(self) -> list[Run]:
        variants = self.variants or {"": {}}
        train = tuple(sorted(self.train.items()))
        return [Run(m, d, h, s, tag, tuple(sorted({**self.overrides, **extra}.items())), train)
                for d in self.datasets for h in self.hidden for m in self.models for s in self.seeds
                for tag, extra in variants.items()]


def load_grid_file(path: Path) -> dict[str, Any]:
    """Read a grid file (``.yaml``/``.yml`` or ``.toml``); errors name the file."""
    try:
        text = path.read_text()
    except OSError as e:
        raise SystemExit(f"seqrec sweep: cannot read grid file {path}: {e.strerror}") from e
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:
        raise SystemExit(f"seqrec sweep: {path}: not a valid grid file: {e}") from e
    if not isinstance(data, dict):
        raise SystemExit(f"seqrec sweep: {path}: expected a mapping with models/datasets/hidden/seeds")
    unknown = set(data) - {"models", "datasets", "hidden", "seeds", "train", "set", "variants"}
    if unknown:
        raise SystemExit(f"seqrec sweep: {path}: unknown key(s) {sorted(unknown)}")
    bad_train = set(data.get("train") or {}) - set(TRAIN_FLAGS)
    if bad_train:
        raise SystemExit(f"seqrec sweep: {path}: unknown train key(s) {sorted(bad_train)}; known {sorted(TRAIN_FLAGS)}")
    return data


def _csv(value: str | None, cast: Callable = str) -> list | None:
    return None if value is None else [cast(v.strip()) for v in value.split(",") if v.strip()]


def grid_from_args(args: argparse.Namespace) -> Grid:
    data: dict[str, Any] = load_grid_file(Path(args.grid)) if args.grid else {}
    flags = {"models": _csv(args.models), "datasets": _csv(args.datasets), "hidden": _csv(args.hidden, int),
             "seeds": _csv(args.seeds, int)}
    grid = {k: flags[k] if flags[k] is not None else data.get(k) for k in flags}
    missing = [k for k, v in grid.items() if not v]
    if missing:
        raise SystemExit(f"seqrec sweep: no {', '.join(missing)} given (flags or grid file)")
    train = dict(data.get("train") or {})
    for key in TRAIN_FLAGS:
        value = getattr(args, key, None)
        if value is not None:
            train[key] = value
    overrides = dict(data.get("set") or {})
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"seqrec sweep: --set {item!r}: expected key=value")
        overrides[key] = tomllib.loads(f"v = {value}")["v"] if value else value
    return Grid(grid["models"], grid["datasets"], grid["hidden"], grid["seeds"], train, overrides,
                dict(data.get("variants") or {}))


def is_done(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("status") == "ok"
    except (OSError, json.JSONDecodeError):
        return False


def execute(run: Run, out: Path, env: dict[str, str]) -> tuple[Run, int, float]:
    """Run one training process; its output goes to ``<out>.log``. A failure without a result file gets
    one with status failed and the log's tail. A run that another process finished meanwhile or is training
    returns ``run_claim.EXIT_CODE`` and writes nothing."""
    if is_done(out):  # finished by another process since this sweep planned it
        return run, run_claim.EXIT_CODE, 0.0
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(run.command(out), stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.perf_counter() - start
    if rc == run_claim.EXIT_CODE:
        log.unlink(missing_ok=True)
    elif rc != 0 and not is_done(out):
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        write_result(out, {"kind": "train", "model": run.model, "dataset": {"name": run.dataset},
                           "config": {"hidden_size": run.hidden, **dict(run.overrides)}, "seed": run.seed,
                           "variant": run.variant or None, "status": "failed",
                           "reason": f"exit code {rc}; log {log}:\n" + "\n".join(tail)})
    elif rc == 0:
        log.unlink(missing_ok=True)
    return run, rc, seconds


def local_slots(workers: int | None, gpus: str | None) -> list[dict[str, str]]:
    """One environment per worker: pinned to one GPU each, or CPU workers (several of them share the cores:
    ``OMP_NUM_THREADS`` = cores / workers unless already set).

    GPU ids (``gpus`` or, by default, every visible GPU) count within an inherited ``CUDA_VISIBLE_DEVICES``, as
    CUDA's own ordinals do: with ``CUDA_VISIBLE_DEVICES=2,3`` the default is workers on GPUs 2 and 3, and
    ``gpus="1"`` means GPU 3. A repeated id gives that GPU several workers."""
    base = dict(os.environ)
    visible = [v.strip() for v in base.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if gpus is None and workers is None:
        if "CUDA_VISIBLE_DEVICES" in base:
            gpus = ",".join(str(i) for i in range(len(visible))) or None
        else:
            try:
                import torch

                n = torch.cuda.device_count()
            except ImportError:
                n = 0
            gpus = ",".join(str(i) for i in range(n)) if n else None
    if not gpus:
        n = max(1, workers or 1)
        if n > 1 and "OMP_NUM_THREADS" not in base:  # share the cores instead of each worker taking all of them
            base["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
        return [dict(base) for _ in range(n)]
    ids = [g.strip() for g in gpus.split(",")]
    if visible:
        bad = [g for g in ids if not g.isdigit() or int(g) >= len(visible)]
        if bad:
            raise SystemExit(f"seqrec sweep: --gpus {gpus}: ids {bad} are not among the {len(visible)} GPUs of "
                             f"CUDA_VISIBLE_DEVICES={base['CUDA_VISIBLE_DEVICES']}")
        ids = [visible[int(g)] for g in ids]
    return [{**base, "CUDA_VISIBLE_DEVICES": g} for g in ids]


def run_local(runs: list[tuple[Run, Path]], slots: list[dict[str, str]], report: Callable) -> None:
    free: Queue = Queue()
    for env in slots:
        free.put(env)

    def task(run: Run, out: Path):
        env = free.get()
        try:
            return execute(run, out, env)
        finally:
            free.put(env)

    with ThreadPoolExecutor(max_workers=len(slots)) as pool:
        futures = [pool.submit(task, r, o) for r, o in runs]
        for fut in as_completed(futures):
            report(*fut.result())


def run_ray(runs: list[tuple[Run, Path]], address: str | None, report: Callable) -> None:
    try:
        import ray
    except ImportError as e:
        raise SystemExit("seqrec sweep: --engine ray needs Ray (pip install 'seqrec-bench[ray]')") from e
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    remote = ray.remote(num_gpus=gpus, num_cpus=1)(execute)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    pending = {remote.remote(r, o, env): r for r, o in runs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            pending.pop(ref)
            report(*ray.get(ref))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", help="YAML or TOML grid file")
    parser.add_argument("--models", help="comma list (overrides the grid file)")
    parser.add_argument("--datasets", help="comma list")
    parser.add_argument("--hidden", help="comma list of hidden sizes")
    parser.add_argument("--seeds", help="comma list of seeds")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--patience", type=int)
    parser.add_argument("--batch-size", dest="batch_size", type=int)
    parser.add_argument("--backend", choices=["auto", "torch", "triton", "mamba_ssm"])
    parser.add_argument("--cuda-graph", dest="cuda_graph", action="store_true", default=None,
                        help="capture each run's training step as a CUDA graph (seqrec/cuda_graph.py)")
    parser.add_argument("--graph-batch", dest="graph_batch", action="store_true", default=None,
                        help="with --cuda-graph, each run builds its batches inside the graph (train --graph-batch)")
    parser.add_argument("--compile", dest="compile", action="store_true", default=None,
                        help="torch.compile each run's loss (our kernels enter as custom ops)")
    parser.add_argument("--compile-ahead", dest="compile_ahead", action="store_true", default=None,
                        help="with --compile, each run trains eagerly until a background process has compiled its "
                             "loss (train --compile-ahead)")
    parser.add_argument("--tf32", dest="tf32", action="store_true", default=None,
                        help="each run's fp32 matmuls as TF32 tensor-core products (train --tf32)")
    parser.add_argument("--amp", choices=AMP_NAMES,
                        help="autocast each run's loss to bfloat16 or float16 (train --amp)")
    parser.add_argument("--compile-rng", dest="compile_rng", choices=COMPILE_RNGS,
                        help="with --compile, whose random numbers dropout draws (train --compile-rng)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--data-dir", dest="data_dir")
    parser.add_argument("--max-len", dest="max_len", type=int)
    parser.add_argument("--max-steps-per-epoch", dest="max_steps_per_epoch", type=int)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="model config override for every run")
    parser.add_argument("--out", default="results/full/accuracy", help="directory of result files")
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--gpus", help="comma list of GPU ids for the local engine, one worker each (default: all); "
                        "repeat an id for several workers on one GPU (0,0,1,1); this pays only where runs leave "
                        "the GPU idle (amazon-beauty at batch 2048 did not: results/full/README.md, part 2)")
    parser.add_argument("--workers", type=int, help="CPU worker processes when there is no GPU")
    parser.add_argument("--ray-address", help="Ray cluster address (default: start a local instance)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and what would be skipped")


def run(args: argparse.Namespace) -> int:
    grid = grid_from_args(args)
    out_dir = Path(args.out)
    planned = [(r, out_dir / f"{r.name}.json") for r in grid.runs()]
    todo = [(r, o) for r, o in planned if not is_done(o)]
    print(f"sweep: {len(planned)} runs, {len(planned) - len(todo)} already done, {len(todo)} to run -> {out_dir}",
          flush=True)
    if args.dry_run:
        for r, o in planned:
            print(f"  {'done' if (r, o) not in todo else 'todo'}  {r.name}")
        return 0
    failed: list[str] = []
    elsewhere: list[str] = []
    lock = threading.Lock()
    counter = {"n": 0}

    def report(r: Run, rc: int, seconds: float) -> None:
        with lock:
            counter["n"] += 1
            if rc == 0:
                status = "ok"
            elif rc == run_claim.EXIT_CODE:
                status = "left to another process (it holds the run or has finished it)"
                elsewhere.append(r.name)
            else:
                status = f"FAILED (exit {rc}, see {out_dir / r.name}.log)"
                failed.append(r.name)
            print(f"[{counter['n']}/{len(todo)}] {r.name}: {status} in {seconds:.0f}s", flush=True)

    if todo:
        if args.engine == "ray":
            run_ray(todo, args.ray_address, report)
        else:
            run_local(todo, local_slots(args.workers, args.gpus), report)
    print(f"sweep finished: {len(todo) - len(failed) - len(elsewhere)} ok, "
          + (f"{len(elsewhere)} left to other processes, " if elsewhere else "") + f"{len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0

