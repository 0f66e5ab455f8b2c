"""The training loop: one model on one dataset, early stopping on validation NDCG@10, test with the best
weights, one JSON result file.

    from seqrec.train import train
    result = train("tim4rec", "amazon-beauty", config={"hidden_size": 64}, device="cuda",
                   out="results/train/tim4rec-amazon-beauty-h64-s0.json")

Protocol: cross-entropy over all items (``model.loss``), Adam; each epoch walks
``ds.train_batches(batch_size, seed, epoch)`` and then ranks every item for each validation user
(``model.full_scores`` in eval mode, no grad); the epoch with the best validation NDCG@10 is kept, the run
stops after ``patience`` epochs without improvement, the best weights are restored and the test split is
scored the same way. Seeded, and deterministic on CPU (``torch.use_deterministic_algorithms`` inside the
run). After every epoch a checkpoint is written atomically (``<out>.ckpt`` by default); a run started
again with the same ``out`` resumes from it and ends with the same result as an uninterrupted run; the
checkpoint is deleted once the result file is written. One process at a time trains a run: another that
starts it meanwhile raises ``seqrec.run_claim.RunClaimed`` before it reads the checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

import models
from kernels import prewarm, prewarm_claims
from models import aligned_linear, dropout_masks, fp32_islands, item_table, switches, tim4rec
from seqrec import (
    compile_ahead,
    compile_scope,
    compile_times,
    epoch_profile,
    inductor_fixes,
    inductor_pool,
    run_claim,
    runtime,
)
from seqrec.checkpoint import best_weights, checkpoint_path, load_checkpoint, remove_checkpoint, save_checkpoint
from seqrec.results import provenance, write_result
from seqrec.train_choices import AMP_NAMES, COMPILE_RNGS

# Training hyper-parameters and their defaults; models/configs/<name>.toml [train] and ``train_config``
# override them key by key (RecBole's sequential defaults for the batch sizes).
TRAIN_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 2048,
    "eval_batch_size": 4096,
    "epochs": 200,
    "patience": 10,  # epochs without a better validation NDCG@10 before stopping; 0 or None: never stop early
    "mask_history": False,  # at evaluation, rank the items of the input sequence (except the target) last
    "cuda_graph": False,  # capture the training step as a CUDA graph and replay it (seqrec/cuda_graph.py)
    "graph_batch": False,  # with cuda_graph: build each batch inside the graph from its sample indices (the same
    # batches; about twenty fewer launches from the host a step)
    "compile": False,  # torch.compile the loss (forward): inductor fuses the ops between our kernels, which it
    # calls as custom ops in one graph (kernels/*/op.py); with cuda_graph the compiled loss is compiled in the
    # warm-up steps and captured with the rest of the step
    "compile_rng": "eager",  # with compile, whose random numbers dropout draws: "eager" (torch's dropout kernels
    # called from the compiled graph: eager's masks, so a compiled run follows its eager run seed for seed; on an
    # H200 at no cost in epoch time, results/full-compile-eager-rng/) or "inductor" (its own generator, fused into
    # its kernels: other masks than eager's; TiM4Rec scored 1.7% under eager over 10 seeds that way)
    "compile_ahead": False,  # with compile: train eagerly while a background process compiles the loss into
    # inductor's caches, then compiled from the first epoch boundary after it finished (seqrec/compile_ahead.py;
    # each epoch record says whether it ran compiled)
    "amp": None,  # None (fp32), "bf16" or "fp16": the loss's forward under torch.autocast to bfloat16 or float16
    # (matmuls and our kernels' inputs in 16 bits, accumulation fp32); weights, gradients, Adam and evaluation stay
    # fp32. fp16 (3 more mantissa bits than bf16, a narrower range) scales the loss (``grad_scaler``)
    "tf32": False,  # on CUDA, fp32 matmuls as TF32 tensor-core products (10-bit mantissa inputs, fp32 accumulation;
    # torch.backends.cuda.matmul.allow_tf32 for the run, restored after; our SSD kernels' dots follow it); storage,
    # elementwise ops and reductions stay fp32. False: IEEE fp32 products, PyTorch's default and the grid's protocol
}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
assert tuple(AMP_DTYPES) == AMP_NAMES
# Inductor before torch 2.13 fails to generate a kernel kept without an x dimension that loads a tensor indexed by
# x only: TypeError in TritonSymbols.get_block_shape (pytorch/pytorch#180221). TiM4Rec's compiled step at L = 200
# hits it on torch 2.11 twice: a persistent reduction with XBLOCK = 1 (part 8: the weight gradient of a time norm,
# results/full/logs/part8-anatomy-tim4rec-l200-compiled.txt), avoided by looped reductions here, and a split scan
# (part 9: the time norm's cumsum over L = 200, logs/part9-gpu0-timing.log), which no option avoids: the upstream
# fix is applied at run time (seqrec/inductor_fixes.py), and covers the first case too.
INDUCTOR_WORKAROUNDS = ({"triton.persistent_reductions": False}
                        if torch.torch_version.TorchVersion(torch.__version__) < (2, 13) else {})
EARLY_STOP_METRIC = "ndcg@10"
STEP_TIMES_ENV = "SEQREC_STEP_TIMES"
# How a step runs, not what it computes: a CUDA graph replays the eager step's kernels with the same dropout
# draws (seed for seed the same runs: results/full-seeds-cuda-graph/, 10 seeds of TiM4Rec; GPU tests of the
# step for SASRec, TiM4Rec, TiSASRec), so a run may resume with or without it, and a suite may reuse a run made
# either way.
EXECUTION_ONLY = ("cuda_graph", "graph_batch")
# Train-config entries that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("epochs", "patience", "compile_ahead", *EXECUTION_ONLY)
# What runs did before a train-config key existed, where that differs from the key's default now: a checkpoint
# written before the key resumes as such a run.
BEFORE_KEY = {"compile_rng": "inductor"}


class TrainSetupError(ValueError):
    """A run that cannot start: unknown model, dataset or config key, bad device, mismatched checkpoint.
    The message is one line meant for the user."""


def _message(e: BaseException) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def resolve_train_config(model_name: str, dataset_name: str | None,
                         train_config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then the model's ``[train]`` table (and its dataset override), then ``train_config``.
    Unknown keys raise ``TrainSetupError`` naming the key and where it came from."""
    cfg = dict(TRAIN_DEFAULTS)
    from_file = models.default_train_config(model_name, dataset_name)
    for source, values in ((f"[train] of {models.config_path(model_name)}", from_file),
                           ("train_config", train_config or {})):
        unknown = sorted(set(values) - set(TRAIN_DEFAULTS))
        if unknown:
            raise TrainSetupError(f"unknown train config key(s) {unknown} in {source}; known: {sorted(TRAIN_DEFAULTS)}")
        cfg.update(values)
    for key in ("batch_size", "eval_batch_size", "epochs"):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise TrainSetupError(f"train config {key} must be a positive integer, got {cfg[key]!r}")
    if cfg["compile_rng"] not in COMPILE_RNGS:
        raise TrainSetupError(f"train config compile_rng must be one of {list(COMPILE_RNGS)}, "
                              f"got {cfg['compile_rng']!r}")
    if not isinstance(cfg["compile_ahead"], bool) or (cfg["compile_ahead"] and not cfg["compile"]):
        raise TrainSetupError(f"train config compile_ahead must be true or false, and true only with compile; got "
                              f"compile_ahead={cfg['compile_ahead']!r}, compile={cfg['compile']!r}")
    if cfg["compile_ahead"] and compile_scope.compile_scope() != "loss":
        raise TrainSetupError(f"train config compile_ahead compiles the whole loss: unset "
                              f"{compile_scope.COMPILE_SCOPE_ENV} (now {compile_scope.compile_scope()!r})")
    if not isinstance(cfg["tf32"], bool):
        raise TrainSetupError(f"train config tf32 must be true or false, got {cfg['tf32']!r}")
    if not isinstance(cfg["graph_batch"], bool) or (cfg["graph_batch"] and not cfg["cuda_graph"]):
        raise TrainSetupError(f"train config graph_batch must be true or false, and true only with cuda_graph; got "
                              f"graph_batch={cfg['graph_batch']!r}, cuda_graph={cfg['cuda_graph']!r}")
    if cfg["patience"] is not None and (not isinstance(cfg["patience"], int) or cfg["patience"] < 0):
        raise TrainSetupError(f"train config patience must be a non-negative integer or None, got {cfg['patience']!r}")
    return cfg


def _resolve_dataset(dataset: Any, data_dir: str | os.PathLike | None, dataset_options: dict[str, Any] | None):
    if not isinstance(dataset, str):
        if dataset_options:
            raise TrainSetupError("dataset_options apply only when the dataset is given by name")
        return dataset
    from seqrec.data import load_dataset

    try:
        return load_dataset(dataset, data_dir=data_dir, **(dataset_options or {}))
    except (KeyError, ValueError, FileNotFoundError, NotADirectoryError) as e:
        raise TrainSetupError(f"dataset {dataset!r}: {_message(e)}") from e


def resolve_model_config(model_name: str, dataset_name: str | None, config: dict[str, Any] | None,
                         backend: str | None, max_len: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(overrides passed to ``models.build``, the full config as built).

    ``backend`` sets ``config["backend"]`` for models that have that key (ignored by the others); a model
    with a ``max_len`` key gets the dataset's ``max_len`` unless ``config`` sets it."""
    try:
        defaults = models.default_config(model_name, dataset_name)
    except KeyError as e:
        raise TrainSetupError(_message(e)) from e
    overrides = dict(config or {})
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise TrainSetupError(f"unknown config key(s) {unknown} for model {model_name!r}; "
                              f"known: {sorted(defaults)} (see {models.config_path(model_name)})")
    if backend is not None and "backend" in defaults:
        overrides["backend"] = backend
    if "max_len" in defaults:
        overrides.setdefault("max_len", max_len)
        if overrides["max_len"] < max_len:
            raise TrainSetupError(f"config max_len={overrides['max_len']} is shorter than the dataset's "
                                  f"sequences (max_len {max_len})")
    return overrides, {**defaults, **overrides}


@torch.no_grad()
def evaluate(model: models.SeqRecModel, ds: Any, split: str, batch_size: int,
             mask_history: bool = False) -> dict[str, float]:
    """Full-ranking metrics (HR/NDCG/MRR@{10,20,50}) of ``model`` on ``split`` ("valid" | "test").

    With ``mask_history`` the items of each input sequence are left out of the ranking, except the target
    itself (a repeated item is still rankable)."""
    from seqrec.metrics import MetricAccumulator

    was_training = model.training
    model.eval()
    acc = MetricAccumulator()
    for batch in ds.eval_batches(split, batch_size):
        scores = model.full_scores(batch.item_seq, batch.seq_len, batch.time_seq).float()
        exclude = None
        if mask_history:  # (B, n_items + 1) bool; padding 0 lands in column 0, which is never ranked
            exclude = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, batch.item_seq, True)
        acc.update(scores, batch.target, exclude)
    model.train(was_training)
    return {k: float(v) for k, v in acc.compute().items()}


def eager_step(model: models.SeqRecModel, optimizer: torch.optim.Optimizer, set_to_none: bool = True,
               loss_fn: Callable[..., torch.Tensor] | None = None,
               scaler: torch.amp.GradScaler | None = None) -> Callable[[Any], torch.Tensor]:
    """``step(batch) -> loss``: zero the gradients (freed, or zeroed in place), loss over all items
    (``loss_fn``, default ``model.loss``: a compiled one may stand in), backward, optimizer step; with ``scaler``
    (fp16, ``grad_scaler``) the backward of the scaled loss, the step unscaled and skipped where a gradient is not
    finite, and the scale updated."""
    loss_of = loss_fn or model.loss

    def step(batch) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=set_to_none)
        loss = loss_of(batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
        backward_and_step(loss, optimizer, scaler)
        return loss

    return step


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler | None) -> None:
    """loss.backward() and optimizer.step(), through ``scaler`` where there is one."""
    if scaler is None:
        loss.backward()
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def grad_scaler(tcfg: dict[str, Any], device: torch.device, graphed: bool,
                optimizer: torch.optim.Optimizer) -> torch.amp.GradScaler | None:
    """PyTorch's dynamic loss scaler for ``amp`` fp16 (None otherwise: bf16 has fp32's range). Under a CUDA graph
    the Adam must be the fused one, which unscales and skips on the device (the others read the inf check back to
    the host, which a graph cannot)."""
    if tcfg["amp"] != "fp16":
        return None
    if graphed and not optimizer.defaults.get("fused"):
        raise TrainSetupError(f"train_config amp='fp16' with cuda_graph needs the fused Adam ({GRAPH_ADAM_ENV}=fused)")
    return torch.amp.GradScaler(device.type)


def training_loss(model: models.SeqRecModel, tcfg: dict[str, Any], device: torch.device) -> Callable[..., torch.Tensor]:
    """The loss function a training step calls: ``model.loss``, under autocast when ``amp`` is set, compiled for
    full batches (``batch_size`` rows) when ``compile`` is set (or, with ``SEQREC_COMPILE_SCOPE=blocks``, each of the
    model's blocks apart: ``seqrec.compile_scope``), its dropout drawn as ``compile_rng`` says."""
    amp = tcfg["amp"]
    if amp not in (None, *AMP_DTYPES):
        raise TrainSetupError(f"train_config amp={amp!r}: choose none or one of {sorted(AMP_DTYPES)}")
    loss = model.loss
    if amp is not None:
        dtype = AMP_DTYPES[amp]
        # autocast's cache of cast weights is off under a CUDA graph (PyTorch's advice for graphed callables):
        # the replayed casts then come from the recorded kernels, never from a cache entry of another step
        cache = not tcfg.get("cuda_graph", False)

        def loss(*args, _loss=model.loss):
            with torch.autocast(device.type, dtype=dtype, cache_enabled=cache):
                return _loss(*args).float()

    if not tcfg["compile"]:
        return loss
    # fallback_random: inductor calls torch's random ops (native_dropout: the eager kernel, the same generator)
    inductor_fixes.block_shape_without_x_dim()  # torch < 2.13: TiM4Rec at L = 200 (seqrec/inductor_fixes.py)
    if amp is not None:
        inductor_fixes.autocast_cacheable()  # warm compiles under autocast read AOT autograd's cache too
    eager_rng = tcfg.get("compile_rng", TRAIN_DEFAULTS["compile_rng"]) == "eager"
    options = {**INDUCTOR_WORKAROUNDS, **({"fallback_random": True} if eager_rng else {})}
    batch_size = tcfg.get("batch_size")
    if compile_scope.compile_scope() == "blocks":  # each block compiled apart, the rest eager (seqrec/compile_scope.py)
        compile_scope.compile_blocks(model, options, batch_size)
        return loss
    compiled = torch.compile(loss, options=options or None)

    def full_batches_compiled(*args):
        # an epoch's last, partial batch runs eagerly: compiling its shape as well would double the first
        # epoch's compilation for one step an epoch (no batch_size given: every batch is compiled)
        return (compiled if batch_size in (None, args[-1].shape[0]) else loss)(*args)

    return full_batches_compiled


def _train_one_epoch(model: models.SeqRecModel, step: Callable[[Any], torch.Tensor], batches: Iterator,
                     max_steps: int | None, step_seconds: list[float] | None = None) -> tuple[float, int]:
    """(mean training loss per sample, steps taken) over ``batches`` (what ``step`` takes: batches, or with
    graph_batch their sample indices); the loss is read back from the device once. With
    ``step_seconds`` (a list), each step's wall seconds are appended to it, the device synchronised after each."""
    from seqrec.data.dataset import batch_rows

    model.train()
    total = None
    n_samples = 0
    steps = 0
    dev = next(model.parameters()).device
    last = time.perf_counter()
    for batch in batches:
        if max_steps is not None and steps >= max_steps:
            break
        loss = step(batch)
        b = batch_rows(batch)
        total = loss.detach() * b if total is None else total + loss.detach() * b
        n_samples += b
        steps += 1
        if step_seconds is not None:
            runtime.synchronize(dev)
            now = time.perf_counter()
            step_seconds.append(now - last)
            last = now
    if total is None:
        raise RuntimeError("the training split yielded no batches")
    return float(total) / n_samples, steps


def step_times_epochs() -> int:
    """``SEQREC_STEP_TIMES``: how many of a run's first epochs record each training step's wall seconds
    (``step_seconds`` in the epoch's record; the device is synchronised after every step, so those epochs are
    timed a little slower); 0 (the default) records none. Where a cold first epoch's time goes: compilation at
    the first step, a CUDA graph's capture, the last partial batch. Those records also hold ``compile_seconds``
    (``seqrec.compile_times``): torch's compile metrics, its cache counters and the Triton kernels compiled in this
    process since the run began. A ``compile_ahead`` run's first compiled epoch records both always, its
    ``compile_seconds`` from the switch on."""
    raw = os.environ.get(STEP_TIMES_ENV, "0").strip() or "0"
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise TrainSetupError(f"{STEP_TIMES_ENV}={raw!r}: expected a whole number of epochs >= 0")
    return n


def _checkpoint_best(best_state: dict, best_epoch: int, epochs_done: int) -> dict | None:
    """The best weights as a checkpoint stores them: None where the best epoch is the one just done (its weights are
    the model's, in the same checkpoint), else the copy. That saves a quarter of a checkpoint (weights, best weights
    and Adam's two moments are four equal parts): an ml-1m h128 one is 11-14 MiB, and what travels from one session
    to the next is capped (results/full/README.md, part 14)."""
    return None if best_epoch == epochs_done else best_state


def _fingerprint(model_name: str, ds: Any, model_config: dict, train_config: dict, seed: int,
                 max_steps_per_epoch: int | None) -> str:
    """What a checkpoint must match to be resumed (JSON, sorted keys)."""
    tc = {k: v for k, v in train_config.items() if k not in RESUMABLE_CHANGES}
    return json.dumps({"model": model_name, "dataset": ds.name, "checksum": ds.checksum, "config": model_config,
                       "train_config": tc, "seed": seed, "max_steps_per_epoch": max_steps_per_epoch},
                      sort_keys=True, default=str)


def _effective_train_config(tc: dict) -> dict:
    """A fingerprint's train config as the run behaves: keys it predates at what runs did then (``BEFORE_KEY``,
    else the default), ``compile_rng`` dropped where nothing is compiled (it changes nothing there), and the
    ``RESUMABLE_CHANGES`` dropped (fingerprints written before ``cuda_graph`` was one still hold it)."""
    filled = {k: v for k, v in {**TRAIN_DEFAULTS, **BEFORE_KEY, **tc}.items() if k not in RESUMABLE_CHANGES}
    if not filled.get("compile"):
        filled.pop("compile_rng", None)
    return filled


def _same_run(stored: str, current: str) -> bool:
    """Whether a checkpoint's fingerprint is this run's: equal, or equal in how the run behaves
    (``_effective_train_config``: an eager checkpoint resumes whatever ``compile_rng`` says; one written before
    ``compile_rng`` existed resumes a run with inductor's generator, what it ran with)."""
    if stored == current:
        return True
    old, new = json.loads(stored), json.loads(current)
    for fp in (old, new):
        fp["train_config"] = _effective_train_config(fp.get("train_config", {}))
    return old == new


GRAPH_ADAM_ENV = "SEQREC_GRAPH_ADAM"  # "fused" (default) or "foreach": the graphed step's Adam


def graph_adam_fused() -> bool:
    """Whether the CUDA-graphed step's Adam is PyTorch's fused one (``SEQREC_GRAPH_ADAM``, default ``fused``).
    Capturable foreach Adam divides by its per-parameter bias corrections (lists of 0-d device tensors) on
    PyTorch's slow path, one launch a parameter: 106 of a compiled TiM4Rec step's 424 kernels (part 17,
    ``results/full-amp-compile-cuda-graph-kernels/``); the fused one is a multi-tensor kernel. ``foreach`` keeps the
    capturable foreach Adam (part 17 and before), for comparisons."""
    value = os.environ.get(GRAPH_ADAM_ENV, "fused")
    if value not in ("fused", "foreach"):
        raise TrainSetupError(f"{GRAPH_ADAM_ENV}={value!r}: expected 'fused' or 'foreach'")
    return value == "fused"


def build_adam(params, tcfg: dict[str, Any], graphed: bool) -> torch.optim.Optimizer:
    """The run's Adam: PyTorch's default (foreach) eager; capturable for a CUDA graph (its step counters on the
    device), and fused there unless ``SEQREC_GRAPH_ADAM=foreach``."""
    return torch.optim.Adam(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"], capturable=graphed,
                            fused=True if graphed and graph_adam_fused() else None)


def implementation(optimizer: torch.optim.Optimizer, tcfg: dict[str, Any]) -> dict[str, Any]:
    """What ran, where it changes only the kernels (not the values): Adam's implementation, the lookup's padding
    gradient (spread under compile, ``models.item_table``), the multiples the loss's item table and the SSD mixer's
    in_proj output are padded to (under amp; ``models.aligned_linear``) and TiM4Rec's pointwise time MLP
    ("kernel": ``kernels.time_mlp``, on CUDA unless turned off, in fp32 under autocast too; "elementwise" under
    compile where asked, ``models.tim4rec.pointwise_mlp``); and one that rounds more: the SSD kernels' mixed
    dots as one bf16 product (under bf16, ``models.switches.ssd_bf16_product``); and one that rounds less: the loss's
    scores in fp32 under autocast (``models.item_table.fp32_scores``). Also the conv backward's kernel on CUDA
    (``models.switches.conv_bwd_sequential``) and, compiled, whether inductor fused norms' row and column sums
    (``inductor_mix_order_reduction``: ``TORCHINDUCTOR_MIX_ORDER_REDUCTION``, which finishes the column sums with
    aten sums; part 21) and what was compiled (``compile_scope``: ``seqrec.compile_scope``; the padding gradient
    spreads only inside the loss's graph). ``train`` adds where set ``fp32_modules`` (``models.fp32_islands``),
    ``dropout_masks`` (``models.dropout_masks``: whose dropout masks the run drew), ``sdpa_backend``
    (``models.sdpa_backend``: the kernel of SASRec's attention) and, under fp16, ``loss_scale``."""
    spread, multiple = item_table.spread_padding_grad(), item_table.item_rows_multiple()  # all read: checked
    elementwise, linear_multiple = tim4rec.time_mlp_elementwise(), aligned_linear.linear_out_multiple()
    on_cuda = optimizer.param_groups[0]["params"][0].is_cuda  # PyTorch's default Adam: foreach on CUDA
    time_kernel = tim4rec.time_mlp_kernel(on_cuda)
    bf16_product = switches.ssd_bf16_product()
    fp32_scores = item_table.fp32_scores()
    conv_sequential = switches.conv_bwd_sequential()
    scope = compile_scope.compile_scope()  # the lookup is compiled (and spreads) only inside the loss's graph
    impl = {"adam": "fused" if optimizer.defaults.get("fused") else "foreach" if on_cuda else "single-tensor",
            "padding_grad": "spread" if tcfg["compile"] and spread and scope == "loss" else "row 0",
            "item_table_rows_multiple": multiple if tcfg["amp"] else 1,
            "linear_out_multiple": linear_multiple if tcfg["amp"] else 1,
            "time_mlp": "kernel" if time_kernel else "elementwise" if tcfg["compile"] and elementwise else "linear",
            "ssd_bf16_product": bool(bf16_product and tcfg["amp"] == "bf16"),
            "fp32_scores": bool(fp32_scores and tcfg["amp"]),
            "conv_bwd": "sequential" if conv_sequential and on_cuda else "tiled" if on_cuda else "torch"}
    if tcfg["compile"]:
        impl["inductor_mix_order_reduction"] = inductor_mix_order_reduction()
        impl["compile_scope"] = scope
    return impl


def inductor_mix_order_reduction() -> bool | None:
    """Inductor's ``triton.mix_order_reduction`` (None where this torch has no such setting)."""
    from torch._inductor import config

    return getattr(config.triton, "mix_order_reduction", None)


def set_capturable(optimizer: torch.optim.Optimizer, capturable: bool, fused: bool | None = None) -> None:
    """Make a loaded Adam ``capturable`` (and ``fused``: True, or None for PyTorch's default) or not, whatever the
    checkpoint's was (load_state_dict restores its flags): the flags in every param group, and the step counters on
    the parameters' device (capturable, for a CUDA graph) or the CPU (what torch keeps them on otherwise)."""
    for group in optimizer.param_groups:
        group["capturable"] = capturable
        group["fused"] = fused
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if torch.is_tensor(state.get("step")):
                state["step"] = state["step"].to(device=p.device if capturable or fused else "cpu", dtype=torch.float32)


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _progress_bar(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="epoch", dynamic_ncols=True, file=sys.stderr,
                disable=not enabled)


def adapt_precision(model: models.SeqRecModel, amp: str | None,
                    probe: Callable[[], tuple[torch.Tensor, ...]]) -> dict[str, Any]:
    """Change ``model`` as the environment asks for a run under ``amp``: the modules ``SEQREC_FP32_MODULES`` names
    kept in fp32 (``models.fp32_islands``) and the dropouts' masks drawn as ``SEQREC_DROPOUT_MASKS`` says ("fp32"
    under amp by default: ``models.dropout_masks``; "amp" runs one forward of ``probe()``, two rows of item_seq,
    seq_len, time_seq (2, L)). Returns the entries ``train`` adds to ``implementation``; a bad value is a ValueError.
    The compile-ahead process (``seqrec.compile_ahead``) adapts its model with this too: a loss it compiled without
    the masks' casts was another graph, and the run's compile missed its cache (part 30: 17 s switch epochs)."""
    kept = fp32_islands.keep_fp32(model, fp32_islands.fp32_module_patterns())
    masks = dropout_masks.dropout_masks(amp)
    impl: dict[str, Any] = {}
    if dropout_masks.draw_masks_as(model, masks, probe() if masks == "amp" else None):
        impl["dropout_masks"] = masks  # recorded where set: whose masks the dropouts drew
    if kept and amp:  # recorded where it changes the numbers: a diagnostic, not a default
        impl["fp32_modules"] = kept
    return impl


def train(model_name: str, dataset: Any, *, config: dict[str, Any] | None = None,
          train_config: dict[str, Any] | None = None, seed: int = 0, device: str | torch.device = "cpu",
          backend: str | None = None, out: str | os.PathLike | None = None,
          checkpoint_dir: str | os.PathLike | None = None, progress: bool = True,
          max_steps_per_epoch: int | None = None, data_dir: str | os.PathLike | None = None,
          dataset_options: dict[str, Any] | None = None, variant: str | None = None,
          extra: dict[str, Any] | None = None,
          on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``model_name`` on ``dataset`` (a name for ``seqrec.data.load_dataset`` or a ``SeqDataset``)
    and return the result dict (also written to ``out`` when given; see ``seqrec.results``).

    ``config`` overrides the model's config keys, ``train_config`` the training keys (``TRAIN_DEFAULTS``);
    ``backend`` sets the kernel backend of models that have one. ``max_steps_per_epoch`` caps the training
    batches per epoch (smoke runs). ``dataset_options`` go to ``load_dataset`` (e.g. ``max_len``).
    ``variant`` names a config variant in the result; ``extra`` keys are added to the result as they are.
    ``on_epoch_end(record)`` is called after each epoch's checkpoint is written (a hook for tests and
    callers; an exception raised there interrupts the run like a crash would).
    """
    # ---- set-up: everything that can fail because of user input fails here, as TrainSetupError
    try:
        dev = runtime.resolve_device(device)
    except ValueError as e:
        raise TrainSetupError(str(e)) from e
    try:
        models.config_path(model_name)
    except KeyError as e:
        raise TrainSetupError(_message(e)) from e
    ds_name = dataset if isinstance(dataset, str) else dataset.name
    tcfg = resolve_train_config(model_name, ds_name, train_config)
    resolve_model_config(model_name, ds_name, config, backend, max_len=0)  # key errors before the data loads
    ds = _resolve_dataset(dataset, data_dir, dataset_options)
    overrides, model_config = resolve_model_config(model_name, ds.name, config, backend, ds.max_len)
    if ds.n_samples("train") < 1:
        raise TrainSetupError(f"dataset {ds.name!r} has no training samples")
    run_name = f"{model_name}-{ds.name}-h{model_config.get('hidden_size')}-s{seed}" + (f"-{variant}" if variant else "")
    ckpt_path = checkpoint_path(out, checkpoint_dir, run_name)
    timed_epochs = step_times_epochs()
    try:
        profiled_epoch = epoch_profile.profile_epoch()
        # the switches read here: a bad value stops the run before it starts anything
        prewarming = prewarm.wanted(overrides, dev)
        prewarm.processes_for(os.cpu_count())
        prewarm_claims.claims_on()
        inductor_pool.pool_early(prewarming)
    except ValueError as e:
        raise TrainSetupError(str(e)) from e
    fingerprint = _fingerprint(model_name, ds, model_config, tcfg, seed, max_steps_per_epoch)
    # the run is this process's from reading its checkpoint to writing its result (RunClaimed: another's)
    with run_claim.claimed(ckpt_path), runtime.deterministic(dev.type == "cpu"), \
            runtime.tf32_matmuls(tcfg["tf32"]), contextlib.ExitStack() as reap:
        # a compiled CUDA run: inductor's compile workers start now, ready sooner (seqrec/inductor_pool.py), unless
        # our kernels compile in background processes from now on (kernels/prewarm.py, SEQREC_PREWARM=0: not)
        pool_early = inductor_pool.warm_early(dev, tcfg["compile"] and not tcfg["compile_ahead"], prewarming)
        warm = prewarm.start(model_name, overrides, ds.n_items, ds.max_len, tcfg["amp"], dev, dataset=ds.name)
        reap.callback(prewarm.finish, warm)  # a run that stops before its first epoch leaves none running
        ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
        if ckpt is not None and not _same_run(ckpt["fingerprint"], fingerprint):
            raise TrainSetupError(f"{ckpt_path}: checkpoint belongs to a different run (model, data, config or "
                                  f"seed differ); delete it or choose another --out")
        runtime.seed_everything(seed)
        ds = ds.to(dev)
        try:
            model = models.build(model_name, overrides, ds.n_items, dataset=ds.name)
        except (KeyError, TypeError, ValueError) as e:
            raise TrainSetupError(f"cannot build model {model_name!r}: {_message(e)}") from e
        model.to(dev)
        graphed = bool(tcfg["cuda_graph"])
        if graphed and dev.type != "cuda":
            raise TrainSetupError(f"train_config cuda_graph=true needs a CUDA device, got {dev}")
        optimizer = build_adam(model.parameters(), tcfg, graphed)
        scaler = grad_scaler(tcfg, dev, graphed, optimizer)

        def probe():  # two training samples: which dropouts autocast feeds 2-byte activations (draws nothing)
            first = ds.make_batch("train", torch.arange(min(2, ds.n_samples("train")), device=ds.device))
            return first.item_seq, first.seq_len, first.time_seq

        try:  # its variables are read here, before any epoch, so that a bad value stops the run at once
            impl = implementation(optimizer, tcfg)
            impl.update(adapt_precision(model, tcfg["amp"], probe))
        except ValueError as e:
            raise TrainSetupError(str(e)) from e
        chosen = {m.sdpa_backend for m in model.modules() if getattr(m, "sdpa_backend", None)}
        if chosen:  # SEQREC_SDPA_BACKEND, where a module of the model reads it (SASRec's attention)
            impl["sdpa_backend"] = chosen.pop()
        runtime.reset_peak_memory(dev)

        # ---- state that a checkpoint carries
        epochs_done, best_epoch, best_metric, stale = 0, 0, -math.inf, 0
        best_state = _state_copy(model)
        history: list[dict[str, Any]] = []
        peak_before = None
        resumed_from = None
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scaler is not None:
                scaler.load_state_dict(ckpt["grad_scaler"])
            # the checkpoint may come from a run with(out) the CUDA graph, or with the other Adam
            set_capturable(optimizer, graphed, fused=optimizer.defaults["fused"])
            best_state = {k: v.to(dev) for k, v in best_weights(ckpt).items()}
            epochs_done, best_epoch, best_metric, stale = (ckpt["epochs_done"], ckpt["best_epoch"],
                                                           ckpt["best_metric"], ckpt["stale"])
            history = list(ckpt["history"])
            peak_before = ckpt["peak_memory_bytes"]
            runtime.set_rng_state(ckpt["rng"])
            resumed_from = epochs_done
            del ckpt
            if progress:
                print(f"resuming {run_name} after epoch {epochs_done} from {ckpt_path}", file=sys.stderr, flush=True)

        def make_step(compiled: bool):
            loss_fn = training_loss(model, {**tcfg, "compile": compiled}, dev)
            if not graphed:
                return eager_step(model, optimizer, loss_fn=loss_fn, scaler=scaler)
            from seqrec.cuda_graph import GraphedTrainStep

            try:
                return GraphedTrainStep(model, optimizer, tcfg["batch_size"], loss_fn=loss_fn, make_batch=(
                    (lambda index: ds.make_batch("train", index)) if tcfg["graph_batch"] else None), scaler=scaler)
            except ValueError as e:
                raise TrainSetupError(f"{model_name}: {e}") from e

        epochs, patience = tcfg["epochs"], tcfg["patience"]
        stopped = bool(patience) and stale >= patience
        ahead = None  # with compile_ahead: the background compilation (seqrec/compile_ahead.py) until it is used
        if tcfg["compile_ahead"] and not stopped:
            first = next(ds.train_batches(tcfg["batch_size"], seed, epochs_done))
            if first.target.numel() == tcfg["batch_size"]:  # else no batch is full and nothing would be compiled
                ahead = compile_ahead.start(model_name, overrides, ds.n_items, ds.name, tcfg, dev, first)
            del first
        compiled = tcfg["compile"] and ahead is None
        step = make_step(compiled)
        tty = sys.stderr.isatty()
        bar = _progress_bar(epochs, epochs_done, progress and tty, f"{model_name} {ds.name}")
        # the timed epochs' records say where their compile time went (seqrec/compile_times.py)
        clock = compile_times.CompileClock() if epochs_done < timed_epochs else None
        switch_epoch = None  # with compile_ahead: the first compiled epoch, timed like the first epochs
        ahead_report = None  # with compile_ahead: what became of the background compilation (cold_start)
        first_epoch_at = time.time()
        try:
            while epochs_done < epochs and not stopped:
                epoch = epochs_done + 1
                step_seconds = [] if epoch <= timed_epochs or epoch == switch_epoch else None
                profiler = epoch_profile.EpochProfiler(dev) if epoch == profiled_epoch else contextlib.nullcontext()
                with runtime.Stopwatch(dev) as train_sw, profiler:
                    batches = (ds.train_indices if tcfg["graph_batch"] else ds.train_batches)(
                        tcfg["batch_size"], seed, epochs_done)
                    loss, steps = _train_one_epoch(model, step, batches, max_steps_per_epoch, step_seconds)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"{model_name} on {ds.name}: training loss is {loss} at epoch {epoch}")
                with runtime.Stopwatch(dev) as eval_sw:
                    valid = evaluate(model, ds, "valid", tcfg["eval_batch_size"], tcfg["mask_history"])
                record = {"epoch": epoch, "train_loss": loss, "train_steps": steps,
                          "train_seconds": train_sw.seconds, "eval_seconds": eval_sw.seconds, "valid": valid,
                          **({"compiled": compiled} if tcfg["compile"] else {}),
                          **({"step_seconds": step_seconds} if step_seconds is not None else {}),
                          **({"compile_seconds": clock.summary()} if clock and step_seconds is not None else {}),
                          **({"gpu_profile": profiler.summary} if epoch == profiled_epoch else {})}
                history.append(record)
                epochs_done = epoch
                if valid[EARLY_STOP_METRIC] > best_metric:
                    best_metric, best_epoch, stale = valid[EARLY_STOP_METRIC], epoch, 0
                    best_state = _state_copy(model)
                else:
                    stale += 1
                stopped = bool(patience) and stale >= patience
                peak = runtime.peak_memory_bytes(dev)
                peak_so_far = max(p for p in (peak, peak_before) if p is not None) if peak is not None else None
                if ckpt_path is not None:
                    save_checkpoint(ckpt_path, {
                        "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "best_state": _checkpoint_best(best_state, best_epoch, epochs_done),
                        "epochs_done": epochs_done, "best_epoch": best_epoch,
                        "best_metric": best_metric, "stale": stale, "history": history,
                        "peak_memory_bytes": peak_so_far, "rng": runtime.rng_state(),
                        **({"grad_scaler": scaler.state_dict()} if scaler is not None else {})})
                bar.update(1)
                bar.set_postfix({"loss": f"{loss:.4f}", "valid ndcg@10": f"{valid[EARLY_STOP_METRIC]:.4f}",
                                 "best": best_epoch})
                if progress and not tty:
                    print(f"epoch {epoch}/{epochs} loss {loss:.4f} valid ndcg@10 {valid[EARLY_STOP_METRIC]:.4f} "
                          f"(best {best_epoch}) train {train_sw.seconds:.1f}s eval {eval_sw.seconds:.1f}s",
                          file=sys.stderr, flush=True)
                if ahead is not None and (done := ahead.ready()) is not None:  # compiled from the next epoch on
                    ahead_report = ahead.report(epoch)
                    if not done:
                        print(f"{run_name}: the background compilation failed; compiling in this process "
                              f"instead. Its log:\n{ahead.failure()}", file=sys.stderr, flush=True)
                    ahead.stop()
                    ahead, compiled, switch_epoch = None, True, epoch + 1
                    if clock is not None:
                        clock.close()
                    clock = compile_times.CompileClock()  # the switch's compile alone: did it find the caches?
                    step = make_step(compiled)
                if on_epoch_end is not None:
                    on_epoch_end(copy.deepcopy(record))
        finally:
            bar.close()
            cold_start = {"prewarm": bool(warm), "inductor_pool_early": pool_early}
            if ahead is not None:  # still compiling (or finished after the last epoch's check)
                ahead_report = ahead.report(None)
            if ahead_report is not None:
                cold_start["compile_ahead"] = ahead_report
            if warm:  # when its processes were ready, against when the first epoch began (seconds after their start)
                cold_start["first_epoch_after_prewarm_seconds"] = round(first_epoch_at - warm.started, 3)
                cold_start["prewarm_processes"] = prewarm.finish(warm)
                if warm.claim_stats is not None:  # this process's side of the claims (kernels/prewarm_claims.py)
                    cold_start["prewarm_claims"] = warm.claim_stats
            if clock is not None:
                clock.close()
            if ahead is not None:
                ahead.stop()

        # ---- best weights, then test
        model.load_state_dict(best_state)
        with runtime.Stopwatch(dev) as test_sw:
            test = evaluate(model, ds, "test", tcfg["eval_batch_size"], tcfg["mask_history"])
        peak = runtime.peak_memory_bytes(dev)
        if peak is not None and peak_before is not None:
            peak = max(peak, peak_before)

        if scaler is not None:  # fp16: the loss scale the run ended at (65536 to start; halved at each skipped step)
            impl["loss_scale"] = scaler.get_scale()
        result: dict[str, Any] = {
            "kind": "train",
            "status": "ok",
            "model": model_name,
            "variant": variant,
            "dataset": {"name": ds.name, "checksum": ds.checksum, "n_users": int(ds.n_users),
                        "n_items": int(ds.n_items), "max_len": int(ds.max_len)},
            "config": model_config,
            "train_config": {**tcfg, "backend": model_config.get("backend"), "device": str(dev),
                             "max_steps_per_epoch": max_steps_per_epoch},
            "seed": seed,
            "metrics": {"valid": history[best_epoch - 1]["valid"] if best_epoch else {}, "test": test},
            "best_epoch": best_epoch,
            "epochs_run": epochs_done,
            "epochs": history,
            "train_seconds_total": sum(r["train_seconds"] for r in history),
            "eval_seconds_total": sum(r["eval_seconds"] for r in history),
            "test_seconds": test_sw.seconds,
            "peak_memory_bytes": peak,
            "n_parameters": runtime.count_parameters(model),
            "resumed_from_epoch": resumed_from,
            **({"compiled_from_epoch": compiled_from_epoch(history)} if tcfg["compile"] else {}),
            # what this process started to shorten its cold start (kernels/prewarm.py, seqrec/inductor_pool.py)
            "cold_start": cold_start,
            "implementation": impl,
            **(extra or {}),
            "provenance": provenance(str(dev)),
        }
        if out is not None:
            write_result(out, result)
            remove_checkpoint(ckpt_path)
        elif ckpt_path is not None:
            remove_checkpoint(ckpt_path)
    return result


def compiled_from_epoch(history: list[dict[str, Any]]) -> int | None:
    """The first epoch of the run's last stretch of compiled epochs (records without the flag, written before it
    existed, ran compiled from the start); None when the last epoch ran eagerly."""
    first = None
    for record in history:
        first = (first or record["epoch"]) if record.get("compiled", True) else None
    return first


def default_out(model_name: str, dataset_name: str, hidden: int, seed: int, variant: str | None = None,
                root: str | os.PathLike = "results/train") -> Path:
    """``results/train/<model>-<dataset>-h<hidden>-s<seed>[-<variant>].json``."""
    tag = f"-{variant}" if variant else ""
    return Path(root) / f"{model_name}-{dataset_name}-h{hidden}-s{seed}{tag}.json"
