"""Benchmark-suite profiles, case parametrisation and result recording.

Profiles (``--profile`` or ``SEQREC_PROFILE``; default ``full`` with CUDA, ``smoke`` without):
  smoke  embedded ml-100k, short sequences, a few hundred steps, small grid: minutes on a 2-core CPU;
  full   real datasets, early stopping, the whole grid, 3 seeds.
Narrow any profile with ``--models``, ``--datasets``, ``--hidden``, ``--seeds``, ``--backends`` (comma
lists; backends are the latency/memory kernel providers, ``auto`` = ours and ``mamba_ssm`` = the official
kernels) or the ``SEQREC_<OPTION>`` variables (``SEQREC_MODELS``, ...): that is how a campaign is split into
parts. Each case writes one result file under ``results/<profile>/`` (or
``--results-dir``); a case whose result file already exists with status ok is skipped (resume), unless
``--rerun``. A case that cannot run (out of memory, backend missing) is recorded with its reason and
skipped; any other error is recorded and fails the case; the suite goes on either way. A case that another process
is training (``seqrec.run_claim``) is skipped and left to it, without a result file.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import torch

from kernels.dispatch import BackendUnavailable
from seqrec.results import provenance, write_result
from seqrec.run_claim import RunClaimed
from seqrec.runtime import release_error_memory
from seqrec.train_choices import AMP_NAMES

REPO = Path(__file__).resolve().parent.parent
ALL_MODELS = ("sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec")
MAMBA_SSM_MODELS = ("mamba4rec", "ssd4rec", "tim4rec")  # their mixers have a mamba_ssm backend
SHARED_RAW = REPO.parent / "shared" / "data" / "raw"
if "SEQREC_DATA" not in os.environ and SHARED_RAW.is_dir():
    os.environ["SEQREC_DATA"] = str(SHARED_RAW)


@dataclass(frozen=True)
class Profile:
    name: str
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    hidden_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    patience: int
    max_steps_per_epoch: int | None
    batch_size: int | None  # None: the model's configured batch size
    max_len: int | None  # None: the dataset's default
    latency_seq_lens: tuple[int, ...]
    latency_batches: tuple[int, ...]
    latency_hiddens: tuple[int, ...]
    n_items: int  # catalogue size of the synthetic latency workload (amazon-beauty's)
    warmup: int
    reps: int
    # kernel providers of the latency and memory grids: "auto" (ours) for every model, "mamba_ssm" (the official
    # kernels: mamba_chunk_scan_combined, the compiled selective scan) for MAMBA_SSM_MODELS
    latency_backends: tuple[str, ...] = ("auto",)


PROFILES = {
    "smoke": Profile(
        name="smoke", models=ALL_MODELS, datasets=("ml-100k",), hidden_sizes=(32, 64), seeds=(0,),
        epochs=2, patience=2, max_steps_per_epoch=30, batch_size=256, max_len=50,
        latency_seq_lens=(50, 200), latency_batches=(64,), latency_hiddens=(64,), n_items=12101,
        warmup=1, reps=3,
    ),
    "full": Profile(
        name="full", models=ALL_MODELS, datasets=("amazon-beauty", "amazon-sports", "ml-1m", "ml-100k"),
        hidden_sizes=(32, 64, 128, 256), seeds=(0, 1, 2), epochs=200, patience=10, max_steps_per_epoch=None,
        batch_size=None, max_len=None, latency_seq_lens=(50, 200, 800, 3200), latency_batches=(256, 1024, 2048),
        latency_hiddens=(64, 256), n_items=12101, warmup=5, reps=20, latency_backends=("auto", "mamba_ssm"),
    ),
}

_NARROW = {"models": str, "datasets": str, "hidden": int, "seeds": int, "backends": str}
BACKENDS = ("auto", "mamba_ssm")


def pytest_addoption(parser):
    group = parser.getgroup("seqrec suites")
    group.addoption("--profile", choices=sorted(PROFILES), default=None,
                    help="suite profile (default: $SEQREC_PROFILE, else full with CUDA, smoke without)")
    group.addoption("--results-dir", default=None, help="where result files go (default results/<profile>)")
    group.addoption("--rerun", action="store_true", help="run cases whose result files already exist")
    group.addoption("--device", default=None, help="cpu | cuda (default: cuda when available)")
    group.addoption("--cuda-graph", action="store_true",
                    help="train the accuracy and ablation cases' steps as CUDA graphs ($SEQREC_CUDA_GRAPH=1): the "
                         "same runs as eager, with less host time a step (seqrec.train.EXECUTION_ONLY)")
    group.addoption("--compile", action="store_true",
                    help="train the accuracy and ablation cases' loss through torch.compile with eager's dropout "
                         "draws ($SEQREC_COMPILE=1; train config compile, compile_rng 'eager', recorded in each "
                         "result): eager's accuracy seed for seed on 10 seeds up to float rounding "
                         "(results/full-compile-eager-rng/), fewer kernels a step where the GPU is the bound")
    group.addoption("--tf32", action="store_true",
                    help="train the accuracy and ablation cases with CUDA's fp32 matmuls and our SSD kernels' dots as "
                         "TF32 tensor-core products ($SEQREC_TF32=1; train config tf32, recorded in each result): "
                         "eager fp32's accuracy seed for seed on 10 seeds (results/full-tf32-seeds/), a third less "
                         "of an ml-1m epoch (results/full-tf32-ml1m-3-epochs/)")
    group.addoption("--amp", choices=AMP_NAMES, default=None,
                    help="train the accuracy and ablation cases under autocast to bf16 or fp16 ($SEQREC_AMP; train "
                         "config amp, recorded in each result), drawing the fp32 run's dropout masks: with --compile "
                         "--cuda-graph #4's fast path, eager fp32's NDCG@10 seed for seed on 10 seeds "
                         "(results/full-amp-compile-cuda-graph-fp32-masks-seeds/)")
    for key in _NARROW:
        group.addoption(f"--{key}", default=None, help=f"comma list narrowing the profile's {key}")


def active_profile(config) -> Profile:
    name = config.getoption("--profile") or os.environ.get("SEQREC_PROFILE") or (
        "full" if torch.cuda.is_available() else "smoke")
    if name not in PROFILES:
        raise pytest.UsageError(f"unknown profile {name!r} (SEQREC_PROFILE); choose one of {sorted(PROFILES)}")
    prof = PROFILES[name]
    fields = {"models": "models", "datasets": "datasets", "hidden": "hidden_sizes", "seeds": "seeds",
              "backends": "latency_backends"}
    for key, cast in _NARROW.items():
        raw = config.getoption(f"--{key}") or os.environ.get(f"SEQREC_{key.upper()}")
        if raw:
            values = tuple(cast(v.strip()) for v in raw.split(",") if v.strip())
            if key == "models" and (bad := set(values) - set(ALL_MODELS)):
                raise pytest.UsageError(f"--models: unknown model(s) {sorted(bad)}; known: {ALL_MODELS}")
            if key == "backends" and (bad := set(values) - set(BACKENDS)):
                raise pytest.UsageError(f"--backends: unknown provider(s) {sorted(bad)}; known: {BACKENDS}")
            prof = replace(prof, **{fields[key]: values})
            if key == "hidden":
                prof = replace(prof, latency_hiddens=values)
    return prof


def pytest_configure(config):
    config._seqrec_profile = active_profile(config)


def pytest_report_header(config):
    p = config._seqrec_profile
    return (f"seqrec profile: {p.name} (models {','.join(p.models)}; datasets {','.join(p.datasets)}; "
            f"hidden {p.hidden_sizes}; seeds {p.seeds}; device {device_of(config)})")


def device_of(config) -> str:
    return config.getoption("--device") or ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="session")
def profile(pytestconfig) -> Profile:
    return pytestconfig._seqrec_profile


@pytest.fixture(scope="session")
def device(pytestconfig) -> str:
    return device_of(pytestconfig)


def execution_of(config, device: str) -> dict[str, Any]:
    """Train-config entries of how the training cases run: ``{"cuda_graph": True}`` with ``--cuda-graph`` or
    ``SEQREC_CUDA_GRAPH=1`` (the same runs, ``EXECUTION_ONLY``); ``{"compile": True, "compile_rng": "eager"}``
    with ``--compile`` or ``SEQREC_COMPILE=1`` (the same runs up to float rounding, recorded as such);
    ``{"tf32": True}`` with ``--tf32`` or ``SEQREC_TF32=1`` (TF32 products on CUDA, recorded); ``{"amp": "bf16"}``
    with ``--amp bf16`` or ``SEQREC_AMP=bf16`` (or fp16; another value of the variable is a UsageError naming it)."""
    out: dict[str, Any] = {}
    if config.getoption("--cuda-graph") or os.environ.get("SEQREC_CUDA_GRAPH") == "1":
        if not device.startswith("cuda"):
            raise pytest.UsageError(f"--cuda-graph (SEQREC_CUDA_GRAPH) needs the cuda device, not {device!r}")
        out["cuda_graph"] = True
    if config.getoption("--compile") or os.environ.get("SEQREC_COMPILE") == "1":
        out.update(compile=True, compile_rng="eager")
    if config.getoption("--tf32") or os.environ.get("SEQREC_TF32") == "1":
        out["tf32"] = True
    amp = config.getoption("--amp") or os.environ.get("SEQREC_AMP")
    if amp:
        if amp not in AMP_NAMES:
            raise pytest.UsageError(f"SEQREC_AMP={amp!r}: choose one of {', '.join(AMP_NAMES)}")
        out["amp"] = amp
    return out


@pytest.fixture(scope="session")
def execution(pytestconfig, device) -> dict[str, Any]:
    return execution_of(pytestconfig, device)


@pytest.fixture(scope="session")
def results_dir(pytestconfig, profile) -> Path:
    root = pytestconfig.getoption("--results-dir") or os.environ.get("SEQREC_RESULTS")
    return Path(root) if root else REPO / "results" / profile.name


@pytest.fixture
def rerun(pytestconfig) -> bool:
    return pytestconfig.getoption("--rerun")


def already_done(path: Path, rerun: bool) -> bool:
    """True when ``path`` holds a finished result and the case need not run again: status ok, or a failure
    that broke the CUDA context (``fatal``; running it again would only break the resumed process too)."""
    if rerun or not path.exists():
        return False
    try:
        r = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return r.get("status") == "ok" or (r.get("status") == "failed" and bool(r.get("fatal")))


def workload_case_start(kind: str, case: tuple, profile: Profile, results_dir: Path,
                        rerun: bool) -> tuple[Path, dict[str, Any]]:
    """(result path, base fields) of one latency/memory case; skips the case when its result exists."""
    model_name, phase, seq_len, batch_size, hidden, backend = case
    tag = "" if backend == "auto" else f"-{backend}"
    out = results_dir / kind / f"{model_name}-{phase}-L{seq_len}-B{batch_size}-h{hidden}{tag}.json"
    if already_done(out, rerun):
        pytest.skip(f"done: {out}")
    base = {"kind": kind, "model": model_name, "phase": phase, "seq_len": seq_len, "batch_size": batch_size,
            "hidden_size": hidden, "backend": backend, "n_items": profile.n_items, "profile": profile.name}
    return out, base


def workload_fn(case: tuple, profile: Profile, device: str) -> tuple[torch.nn.Module, Callable[[], None]]:
    """(model, fn) of one latency/memory case: the model built for the case's provider on ``device``, and a
    callable running one training step or one full-sort inference on a synthetic batch."""
    from seqrec.workloads import build_for_workload, graphed_train_step_fn, inference_fn, synthetic_batch, train_step_fn

    model_name, phase, seq_len, batch_size, hidden, backend = case
    torch.manual_seed(0)
    model = build_for_workload(model_name, hidden, seq_len, profile.n_items, device,
                               backend=workload_backend(model_name, backend))
    batch = synthetic_batch(batch_size, seq_len, profile.n_items, device)
    phases = {"train_step": train_step_fn, "train_step_graph": graphed_train_step_fn, "inference": inference_fn}
    return model, phases[phase](model, batch)


@functools.cache
def graph_refused(model_name: str) -> bool:
    """Whether the model, as the workloads build it, draws a host seed in its training step (``host_rng_in_step``;
    none of ours does), which a CUDA graph would freeze (seqrec/cuda_graph.py)."""
    from seqrec.workloads import build_for_workload

    return bool(getattr(build_for_workload(model_name, 64, 8, 10, "cpu"), "host_rng_in_step", False))


def workload_cases(prof: Profile, device: str) -> list[tuple[str, str, int, int, int, str]]:
    """(model, phase, seq_len, batch, hidden, provider) of the latency/memory grid. Phases: ``train_step``,
    ``inference``, and on CUDA ``train_step_graph`` (the training step replayed as a CUDA graph; ours only, and
    not for models whose step draws a host seed: graph_refused)."""
    cases = []
    for be in prof.latency_backends:
        for h in prof.latency_hiddens:
            for L in prof.latency_seq_lens:
                for b in prof.latency_batches:
                    for m in prof.models:
                        if be != "auto" and m not in MAMBA_SSM_MODELS:
                            continue
                        phases = ["train_step", "inference"]
                        if device.startswith("cuda") and be == "auto" and not graph_refused(m):
                            phases.insert(1, "train_step_graph")
                        cases += [(m, ph, L, b, h, be) for ph in phases]
    return cases


def workload_backend(model_name: str, backend: str) -> str | None:
    """The backend to build a workload model with (None: its configured one), after making mamba-ssm usable for
    the "mamba_ssm" provider; raises BackendUnavailable (the case is then recorded as skipped) when it is not."""
    if backend == "auto":
        return None
    from mamba_sdist import ensure_mamba_ssm

    if reason := ensure_mamba_ssm(need_cuda_scan=model_name == "mamba4rec"):
        raise BackendUnavailable(f"{model_name}: backend 'mamba_ssm' unavailable: {reason}")
    return backend


CANNOT_RUN = (torch.cuda.OutOfMemoryError, MemoryError, BackendUnavailable)
# errors after which this process's CUDA context is unusable: every later CUDA call fails the same way
CONTEXT_FATAL = ("illegal memory access", "unspecified launch failure", "device-side assert", "misaligned address")
_context_lost: list[str] = []  # the result file of the case that broke the CUDA context, once one has


def breaks_cuda_context(e: BaseException) -> bool:
    return isinstance(e, getattr(torch, "AcceleratorError", RuntimeError)) and any(
        s in str(e) for s in CONTEXT_FATAL)


def run_case(path: Path, base: dict[str, Any], fn: Callable[[], dict[str, Any]], device: str) -> dict[str, Any]:
    """Run one case and write its result file. ``fn`` returns the measured fields. Cases that cannot run
    here (out of memory, backend missing) are written with status "skipped" and skipped; other errors
    are written with status "failed" and re-raised. An error that breaks the CUDA context is written with
    ``fatal: true`` (a resumed suite skips that case), and every later case of this process is skipped
    without a result file, so that running the suite again resumes them in a fresh process."""
    if _context_lost:
        pytest.skip(f"not run: the CUDA context broke in {_context_lost[0]}; run the suite again to resume")
    skipped = None
    try:
        fields = fn()
    except RunClaimed as e:  # another process trains this case and writes its result: nothing to record here
        pytest.skip(f"left to another process: {e}")
    except CANNOT_RUN as e:
        skipped = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        release_error_memory(e)
        write_result(path, {**base, "status": "skipped", "reason": skipped, "provenance": provenance(device)})
    except Exception as e:
        fatal = breaks_cuda_context(e)
        write_result(path, {**base, "status": "failed", "reason": f"{type(e).__name__}: {e}", "fatal": fatal,
                            "provenance": provenance(device)})
        if fatal:
            _context_lost.append(str(path))
        else:
            release_error_memory(e)
        raise
    if skipped is not None:  # raised outside the handler, so the skip does not chain (and keep) the error
        pytest.skip(f"recorded as skipped: {skipped}")
    result = {**base, **fields, "status": "ok", "provenance": provenance(device)}
    write_result(path, result)
    return result


def pytest_generate_tests(metafunc):
    prof: Profile = metafunc.config._seqrec_profile
    names = set(metafunc.fixturenames)
    if "accuracy_case" in names:
        cases = [(m, d, h, s) for d in prof.datasets for h in prof.hidden_sizes for m in prof.models
                 for s in prof.seeds]
        metafunc.parametrize("accuracy_case", cases, ids=[f"{m}-{d}-h{h}-s{s}" for m, d, h, s in cases])
    if "workload_case" in names:
        cases = workload_cases(prof, device_of(metafunc.config))
        metafunc.parametrize("workload_case", cases, ids=[
            f"{m}-{ph}-L{L}-B{b}-h{h}" + ("" if be == "auto" else f"-{be}") for m, ph, L, b, h, be in cases])
