"""``python -m seqrec train``: train one model on one dataset and write its result file.

    python -m seqrec train --model tim4rec --dataset amazon-beauty --hidden 64 --device cuda
    python -m seqrec train --model sasrec --dataset ml-100k --epochs 5 --set dropout=0.3 --set n_layers=1

Default result file: ``results/train/<model>-<dataset>-h<hidden>-s<seed>[-<variant>].json``. An interrupted
run resumes from ``<out>.ckpt`` when started again with the same arguments. Prints one summary line.
Bad input (unknown model, dataset or config key, bad device, bad --set) is one line on stderr, exit code 2. A run
that another process is training (``seqrec.run_claim``) is left to it: one line on stderr, exit code 75.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from typing import Any

from seqrec.train_choices import AMP_NAMES, COMPILE_RNGS

BACKENDS = ("auto", "torch", "triton", "mamba_ssm")
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="sasrec | tisasrec | mamba4rec | ssd4rec | tim4rec")
    p.add_argument("--dataset", required=True, help="dataset name (e.g. ml-100k, amazon-beauty)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default: the model's config)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: train config, 200)")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (0: none)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size")
    p.add_argument("--eval-batch-size", type=int, default=None, help="evaluation batch size")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3)")
    p.add_argument("--mask-history", action="store_true", default=None,
                   help="rank the items of each input sequence last at evaluation (default: no masking)")
    p.add_argument("--cuda-graph", action="store_true", default=None,
                   help="capture the training step as a CUDA graph and replay it (CUDA only; seqrec/cuda_graph.py)")
    p.add_argument("--graph-batch", action="store_true", default=None,
                   help="with --cuda-graph: build each batch inside the graph from its sample indices (the same run)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the loss; our kernels enter as custom ops (first steps compile; with "
                        "--cuda-graph the compiled step is captured)")
    p.add_argument("--compile-ahead", action="store_true", default=None,
                   help="with --compile: train eagerly while a background process compiles the loss, compiled from "
                        "the epoch after it finished (a short first epoch; seqrec/compile_ahead.py)")
    p.add_argument("--tf32", action="store_true", default=None,
                   help="on CUDA, fp32 matmuls (and our SSD kernels' dots) as TF32 tensor-core products; storage and "
                        "the rest stay fp32 (train config tf32)")
    p.add_argument("--compile-rng", choices=COMPILE_RNGS, default=None,
                   help="with --compile, whose random numbers dropout draws: eager's (default: torch's dropout "
                        "kernels called from the graph, the same masks as the eager run) or inductor's own (fused "
                        "into its kernels; other masks than eager for the same seed)")
    p.add_argument("--amp", choices=AMP_NAMES, default=None,
                   help="autocast the loss's forward to bfloat16 or float16 (with loss scaling; weights, Adam and "
                        "evaluation stay fp32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | auto (default: cuda when available)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="kernel backend for the models that have one")
    p.add_argument("--data-dir", default=None, help="raw data folder (default: $SEQREC_DATA, ~/.cache/seqrec/data)")
    p.add_argument("--max-len", type=int, default=None, help="truncate histories to this length (dataset default)")
    p.add_argument("--max-steps-per-epoch", type=int, default=None, help="cap training batches per epoch (smoke runs)")
    p.add_argument("--out", default=None, help="result file (default results/train/<model>-<dataset>-h<H>-s<S>.json)")
    p.add_argument("--checkpoint-dir", default=None, help="folder for the resume checkpoint (default: next to --out)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config key; VALUE is a TOML literal (3, 0.2, true, \"text\"), repeatable")
    p.add_argument("--variant", default=None, help="name of this config variant (recorded, appended to the file name)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar / per-epoch lines")


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["dropout=0.3", "ffn=false", "backend=torch"]`` -> dict; values are TOML literals, and a bare
    word that is not valid TOML is taken as a string. Raises ``ValueError`` naming the bad item."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError as e:
            if not _BARE_WORD.fullmatch(value):
                raise ValueError(f"--set {item!r}: {value!r} is not a TOML literal (numbers, true/false, "
                                 f"\"quoted text\", [lists])") from e
            out[key] = value
    return out


def _fail(msg: str) -> int:
    print(f"seqrec train: error: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import models
    from seqrec import run_claim
    from seqrec.train import TrainSetupError, default_out, train

    try:
        config = parse_set(args.set)
    except ValueError as e:
        return _fail(str(e))
    if args.hidden is not None:
        config["hidden_size"] = args.hidden
    try:
        defaults = models.default_config(args.model, args.dataset)
    except KeyError as e:
        return _fail(str(e.args[0]))
    train_config = {k: v for k, v in (("epochs", args.epochs), ("patience", args.patience),
                                      ("batch_size", args.batch_size), ("eval_batch_size", args.eval_batch_size),
                                      ("lr", args.lr), ("mask_history", args.mask_history),
                                      ("cuda_graph", args.cuda_graph), ("graph_batch", args.graph_batch),
                                      ("compile", args.compile),
                                      ("compile_ahead", args.compile_ahead), ("tf32", args.tf32),
                                      ("amp", args.amp), ("compile_rng", args.compile_rng)) if v is not None}
    hidden = config.get("hidden_size", defaults.get("hidden_size"))
    out = args.out or default_out(args.model, args.dataset, hidden, args.seed, args.variant)
    dataset_options = {"max_len": args.max_len} if args.max_len is not None else None
    try:
        result = train(args.model, args.dataset, config=config, train_config=train_config, seed=args.seed,
                       device=args.device, backend=args.backend, out=out, checkpoint_dir=args.checkpoint_dir,
                       progress=not args.no_progress, max_steps_per_epoch=args.max_steps_per_epoch,
                       data_dir=args.data_dir, dataset_options=dataset_options, variant=args.variant)
    except TrainSetupError as e:
        return _fail(str(e))
    except run_claim.RunClaimed as e:
        print(f"seqrec train: not run: {e}", file=sys.stderr)
        return run_claim.EXIT_CODE
    except KeyboardInterrupt:
        print(f"seqrec train: interrupted; run the same command again to resume from the last epoch's "
              f"checkpoint next to {out}", file=sys.stderr)
        raise
    print(summary_line(result, out))
    return 0


def summary_line(result: dict[str, Any], out: Any) -> str:
    test = result["metrics"]["test"]
    per_epoch = result["train_seconds_total"] / max(result["epochs_run"], 1)
    metrics = " ".join(f"{k}={test[k]:.4f}" for k in ("hit@10", "ndcg@10", "mrr@10") if k in test)
    return (f"{result['model']} {result['dataset']['name']} h{result['config'].get('hidden_size')} s{result['seed']}: "
            f"test {metrics} | best epoch {result['best_epoch']}/{result['epochs_run']}, "
            f"{per_epoch:.1f} s/epoch | {out}")


__all__ = ["add_arguments", "parse_set", "run", "summary_line"]
