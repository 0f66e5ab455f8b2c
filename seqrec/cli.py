"""The command line: ``python -m seqrec <command> ...``.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
this file only wires them together (imports are lazy so ``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("seqrec.data.cli", "inspect datasets (data stats DATASET)"),
    "train": ("seqrec.train_cli", "train one model on one dataset and write a result file"),
    "report": ("seqrec.report.cli", "regenerate figures and tables from result files"),
    "regress": ("seqrec.regress", "compare two sets of result files and fail on a regression"),
    "compare": ("seqrec.report.compare_sets", "one metric over seeds in several result sets, with tests and a figure"),
    "sweep": ("seqrec.sweep", "run a grid of training runs, resumable, one worker per GPU"),
    "anatomy": ("seqrec.anatomy", "bytes and FLOPs of one training step, module by module"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seqrec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is None or not module_name.startswith(e.name):
                raise
            p.set_defaults(_unavailable=module_name)
            continue
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "_unavailable", None):
        print(f"seqrec {args.command}: not available in this version ({args._unavailable})", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
