"""``python -m seqrec report [--results results/] [--out reports/]``: regenerate figures (PNG, SVG), tables
(Markdown, LaTeX) and the index ``reports/README.md`` from result files. The same results give byte-identical
Markdown and LaTeX. An empty or missing results directory gives an index saying there are no results yet."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="results", help="directory of result files (default: results)")
    parser.add_argument("--out", default="reports", help="output directory (default: reports)")


def run(args: argparse.Namespace) -> int:
    from seqrec.report.build import build_report
    from seqrec.report.collect import ReportInputError

    try:
        summary = build_report(args.results, args.out, results_label=args.results.rstrip("/") or args.results)
    except ReportInputError as e:
        print(f"seqrec report: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a result file that is not valid JSON (load_results names it)
        print(f"seqrec report: {e}", file=sys.stderr)
        return 2
    if summary.n_files == 0:
        print(f"seqrec report: no result files under {args.results}: no results yet; wrote {summary.index}")
        return 0
    print(f"seqrec report: {summary.n_files} result files ({summary.n_problems} not ok, listed in the index); "
          f"wrote {len(summary.figures)} figure files, {len(summary.tables)} table files and {summary.index}")
    return 0
