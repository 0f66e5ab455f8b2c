"""Where one training step's memory traffic and arithmetic go, module by module.

Every aten op of one step (forward, loss over all items, backward, Adam) is recorded with the module that ran
it (``torch.utils.module_tracker``), the bytes it reads and writes (its tensor inputs and outputs, each once;
views and allocations move nothing) and its FLOPs (``torch.utils.flop_counter``'s formulas). That is the traffic
of the step run eagerly, one kernel per op; divided by the card's bandwidth it is the least time that eager step
can take, to set against the measured step (``results/*/latency``): near it, the step is bound by traffic that
only fusing ops removes; far below it, by kernels that run under their bandwidth or by launches.

The step runs on the ``meta`` device by default: shapes only, nothing computed, any size on any machine. Meta
tensors need the PyTorch references (``backend="torch"``), so a mixer's row is its reference's traffic, not the
Triton kernel's (the kernel benchmarks state those: ``min_bytes`` in ``results/*/kernels``). Two more ways the
table differs from the CUDA step: off CUDA, dropout runs as bernoulli_, div_ and mul, where CUDA fuses it into
one native_dropout (about half the bytes); and under TRITON_INTERPRET the interpreter's host copies show up as
copy_ ops.

``python -m seqrec anatomy --model tim4rec --batch 2048 --seq-len 50 --hidden 64``; on a GPU,
``--device cuda --backend auto --profile 10 [--compile]`` adds what the kernels of the step took there (torch.profiler;
our Triton kernels are not aten ops, so the byte table leaves them out and the profile shows them).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.module_tracker import ModuleTracker

from seqrec.kernel_sources import main_source
from seqrec.train_choices import AMP_NAMES

H200_BANDWIDTH = 4.25e12  # bytes/s: the copy bandwidth bench_ssd.py measured on an H200 (results/full/kernels)
FREE_OPS = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "detach", "alias",
            "lift_fresh", "_local_scalar_dense", "set_", "resize_", "_unsafe_view"}


@dataclass
class OpRecord:
    phase: str  # forward | backward | optimizer
    module: str  # dotted path of the innermost module running the op ("" outside any module: loss, Adam)
    op: str  # aten op name
    bytes: int
    flops: int


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class _OpRecorder(TorchDispatchMode):
    def __init__(self, tracker: ModuleTracker, phase: Callable[[], str], root: str):
        super().__init__()
        self.tracker, self.phase, self.root, self.records = tracker, phase, root, []

    def _module(self) -> str:
        parents = [p for p in self.tracker.parents if p != "Global"]
        if not parents:
            return ""
        inner = max(parents, key=lambda p: p.count("."))
        return inner.removeprefix(self.root).removeprefix(".")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._overloadpacket.__name__
        if func.is_view or name in FREE_OPS:
            return out
        moved = sum(_nbytes(t) for t in _tensors((args, kwargs)) + _tensors(out))
        from torch.utils.flop_counter import flop_registry  # imports triton: not at module import

        flops = 0
        if func._overloadpacket in flop_registry:
            flops = int(flop_registry[func._overloadpacket](*args, **kwargs, out_val=out))
        phase = "backward" if self.tracker.is_bw else self.phase()
        self.records.append(OpRecord(phase, self._module(), name, moved, flops))
        return out


def record_train_step(model: torch.nn.Module, batch, lr: float = 1e-3) -> list[OpRecord]:
    """The ops of one training step of ``model`` (zero_grad, loss, backward, Adam) on ``batch`` (fields item_seq,
    seq_len, time_seq, target; any device, ``meta`` included). Adam's state is created by an unrecorded first
    step, so the recorded one is a steady-state step."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    step_phase = {"now": "forward"}

    def step():
        opt.zero_grad(set_to_none=True)
        step_phase["now"] = "forward"
        loss = model.loss(batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
        loss.backward()
        step_phase["now"] = "optimizer"
        opt.step()

    step()
    with ModuleTracker() as tracker:
        root = type(model).__name__
        try:  # full paths ("SASRec.layers.0.attention"); the tracker alone names a module its class at first sight
            for path, mod in model.named_modules():
                tracker._known_modules[mod] = f"{root}.{path}" if path else root
        except AttributeError:  # another torch's tracker: class-based names
            pass
        with _OpRecorder(tracker, lambda: step_phase["now"], root) as rec:
            step()
    return rec.records


def by_module(records: list[OpRecord], depth: int = 2, bandwidth: float = H200_BANDWIDTH) -> pd.DataFrame:
    """One row per (module truncated to ``depth`` levels, phase): ops, MB moved, GFLOP, and the time that
    traffic takes at ``bandwidth`` bytes/s (ms); sorted by bytes, largest first."""
    df = pd.DataFrame([r.__dict__ for r in records])
    df["module"] = df["module"].map(lambda m: ".".join(m.split(".")[:depth]) if m else "(no module: loss, Adam)")
    out = df.groupby(["module", "phase"], sort=False).agg(ops=("op", "size"), bytes=("bytes", "sum"),
                                                          flops=("flops", "sum")).reset_index()
    out["MB"] = out["bytes"] / 1e6
    out["GFLOP"] = out["flops"] / 1e9
    out["floor_ms"] = out["bytes"] / bandwidth * 1e3
    return out.sort_values("bytes", ascending=False, ignore_index=True)[
        ["module", "phase", "ops", "MB", "GFLOP", "floor_ms"]]


def by_op(records: list[OpRecord], top: int = 15, bandwidth: float = H200_BANDWIDTH) -> pd.DataFrame:
    """The ``top`` aten ops by bytes moved over the whole step (calls, MB, floor ms)."""
    df = pd.DataFrame([r.__dict__ for r in records])
    out = df.groupby("op").agg(calls=("op", "size"), bytes=("bytes", "sum"), flops=("flops", "sum")).reset_index()
    out["MB"] = out["bytes"] / 1e6
    out["floor_ms"] = out["bytes"] / bandwidth * 1e3
    return out.sort_values("bytes", ascending=False, ignore_index=True).head(top)[["op", "calls", "MB", "floor_ms"]]


def host_profile(step: Callable[[], object], steps: int = 10, top: int = 15) -> pd.DataFrame:
    """The ``top`` host-side entries by self CPU time over ``steps`` calls of ``step`` (torch.profiler, CPU
    activity): name, calls and ms per step. Where a step's wall time far exceeds its kernels' time, this says
    which ops hold the host: many cheap launches, or a few that block (an allocation that frees the cache, a
    copy or ``item`` that waits for the GPU)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    rows = [{"host op": e.key[:90], "calls": e.count / steps, "ms": e.self_cpu_time_total / 1e3 / steps}
            for e in prof.key_averages() if e.self_cpu_time_total > 0]
    return pd.DataFrame(rows).sort_values("ms", ascending=False, ignore_index=True).head(top)


def profile_train_step(model: torch.nn.Module, batch, steps: int = 10, top: int | None = 25,
                       compiled: bool = False, amp: str | None = None
                       ) -> tuple[float, pd.DataFrame, dict, dict]:
    """(device ms per step, table of the ``top`` kernels by device time: calls and ms per step and the code that
    launched them (``source``: ``step_kernel_sources``), the first step,
    the warm step's host) of the training step on CUDA (eager, or with the loss through torch.compile; under bf16
    autocast with ``amp="bf16"``), from torch.profiler, after warm-up steps (compilation, autotuning, Adam state).
    The first step: its wall seconds (our kernels' Triton compilation, and with ``compiled`` inductor's, where their
    caches are cold) and, compiled, torch's compile phases of 0.05 s or more (``torch._dynamo.utils.compile_times``).
    The warm step's host: ``wall_ms_per_step``, its wall time without the profiler (far above the kernels' time, the
    host holds the step), and ``by_op``, its ``host_profile``."""
    from torch.profiler import ProfilerActivity, profile

    from seqrec.runtime import Stopwatch
    from seqrec.train import training_loss
    from seqrec.workloads import train_step_fn

    device = next(model.parameters()).device
    step = train_step_fn(model, batch, loss_fn=training_loss(model, {"compile": compiled, "amp": amp}, device))
    with Stopwatch(device) as first_step:
        step()
    first = {"seconds": first_step.seconds}
    if compiled:
        from torch._dynamo.utils import compile_times

        names, values = compile_times(repr="csv", aggregate=True)
        first["compile_phases"] = {n: float(v) for n, v in zip(names, values, strict=True) if float(v) >= 0.05}
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    with Stopwatch(device) as warm:
        for _ in range(steps):
            step()
    host = {"wall_ms_per_step": warm.seconds * 1e3 / steps, "by_op": host_profile(step, steps)}
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    sources = step_kernel_sources(step)
    rows = [{"kernel": e.key[:90], "calls": e.count / steps, "ms": e.self_device_time_total / 1e3 / steps,
             "source": main_source(sources[e.key]) if e.key in sources else "?"}
            for e in prof.key_averages() if e.self_device_time_total > 0]
    table = pd.DataFrame(rows).sort_values("ms", ascending=False, ignore_index=True)
    return float(table["ms"].sum()), table if top is None else table.head(top), first, host


def step_kernel_sources(step: Callable[[], object], steps: int = 2) -> dict[str, dict[str, float]]:
    """``seqrec.kernel_sources.kernel_sources`` of ``steps`` calls of ``step``, profiled apart (host and device,
    with Python stacks: slower on the host, so not the pass the kernel times come from)."""
    from torch.profiler import ProfilerActivity, profile

    from seqrec.epoch_profile import trace_events
    from seqrec.kernel_sources import kernel_sources

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], with_stack=True) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    return kernel_sources(trace_events(prof))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--seq-len", dest="seq_len", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--n-items", dest="n_items", type=int, default=12101, help="catalogue size (amazon-beauty's)")
    parser.add_argument("--device", default="meta", help="meta (shapes only; default), cpu or cuda")
    parser.add_argument("--backend", default="torch", help="kernel backend (meta needs torch, the references)")
    parser.add_argument("--depth", type=int, default=3, help="module path levels to group by")
    parser.add_argument("--bandwidth", type=float, default=H200_BANDWIDTH, help="bytes/s for the floor column")
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS",
                        help="on CUDA: also profile STEPS eager steps (backend as given) and list the kernels by time")
    parser.add_argument("--compile", action="store_true", help="with --profile: the loss through torch.compile")
    parser.add_argument("--amp", choices=AMP_NAMES, default=None,
                        help="with --profile: the loss under bf16 or fp16 autocast (no loss scaling)")
    parser.add_argument("--out", default=None, help="with --profile: also write it as a result file (kind profile)")


def run(args: argparse.Namespace) -> int:
    from seqrec.workloads import build_for_workload, synthetic_batch

    with torch.device(args.device):
        model = build_for_workload(args.model, args.hidden, args.seq_len, args.n_items, args.device,
                                   backend=args.backend)
    batch = synthetic_batch(args.batch, args.seq_len, args.n_items, args.device)
    records = record_train_step(model, batch)
    total = sum(r.bytes for r in records)
    print(f"{args.model}, batch {args.batch}, L {args.seq_len}, hidden {args.hidden}, {args.n_items} items, "
          f"backend {args.backend}, device {args.device}: {len(records)} ops, {total / 1e9:.2f} GB moved, "
          f"{sum(r.flops for r in records) / 1e9:.1f} GFLOP; at {args.bandwidth / 1e12:.2f} TB/s the traffic "
          f"takes {total / args.bandwidth * 1e3:.2f} ms\n")
    two = {"index": False, "float_format": lambda v: f"{v:.2f}"}
    print(by_module(records, args.depth, args.bandwidth).to_string(**two), "\n")
    print(by_op(records, bandwidth=args.bandwidth).to_string(**two))
    if args.out and not args.profile:
        raise SystemExit("seqrec anatomy: --out writes the kernel profile; it needs --profile N (and a GPU)")
    if args.profile:
        if not str(args.device).startswith("cuda"):
            raise SystemExit("seqrec anatomy: --profile needs --device cuda")
        ms, table, first, host = profile_train_step(model, batch, steps=args.profile, top=None,
                                                    compiled=args.compile, amp=args.amp)
        how = ("compiled" if args.compile else "eager") + (f", {args.amp} autocast" if args.amp else "")
        print(f"\nfirst step {first['seconds']:.2f} s (compilation where caches are cold)")
        for name, sec in sorted(first.get("compile_phases", {}).items(), key=lambda kv: -kv[1]):
            print(f"  {sec:8.2f} s  {name}")
        print(f"\nprofiled {args.profile} {how} steps on {torch.cuda.get_device_name()}: {ms:.2f} ms of kernels "
              f"per step, {host['wall_ms_per_step']:.2f} ms wall per step without the profiler\n")
        print(table.head(25).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("\nthe host's time per step, by op (self CPU time, without waiting for the GPU):\n")
        print(host["by_op"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.out:
            from seqrec.step_profile import write_profile

            setup = {"model": args.model, "batch": args.batch, "seq_len": args.seq_len, "hidden": args.hidden,
                     "n_items": args.n_items, "backend": args.backend, "compiled": args.compile, "amp": args.amp,
                     "steps": args.profile, "first_step": first, "wall_ms_per_step": host["wall_ms_per_step"]}
            print(f"wrote {write_profile(args.out, table, ms, setup, torch.cuda.get_device_name())}")
    return 0
