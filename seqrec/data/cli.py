"""``python -m seqrec data stats DATASET [--json]``: statistics before and after filtering."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from seqrec.data.errors import DataError
from seqrec.data.registry import DATASETS, load_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    stats = sub.add_parser("stats", help="users, items, interactions, lengths, sparsity, time span, samples")
    stats.add_argument("dataset", help=f"one of: {', '.join(DATASETS)}")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.add_argument("--data-dir", help="raw data directory (default: $SEQREC_DATA, else ~/.cache/seqrec/data)")
    stats.add_argument("--max-len", type=int, help="history truncation (default: the dataset's)")
    stats.add_argument("--min-inter", type=int, default=5, help="k of the k-core filter (users and items)")


def _date(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_table(stats: dict) -> str:
    before, after = stats["before_filtering"], stats["after_filtering"]
    rows = [("users", "users"), ("items", "items"), ("interactions", "interactions"),
            ("average length", "avg_length"), ("max length", "max_length"), ("sparsity", "sparsity")]
    lines = [f"{stats['dataset']}  (source: {before.get('source', '?')}, max_len {stats['max_len']})",
             f"{'':<22}{'before filtering':>20}{'after filtering':>20}"]
    for label, key in rows:
        b, a = before[key], after[key]
        fmt = (lambda v: f"{v:,.2f}") if key == "avg_length" else (
            (lambda v: f"{v:.6f}") if key == "sparsity" else (lambda v: f"{v:,}"))
        lines.append(f"{label:<22}{fmt(b):>20}{fmt(a):>20}")
    for label, key in (("first interaction", "first_timestamp"), ("last interaction", "last_timestamp")):
        lines.append(f"{label:<22}{_date(before[key]):>20}{_date(after[key]):>20}")
    for split in ("train", "valid", "test"):
        lines.append(f"{split + ' samples':<22}{'':>20}{after[split + '_samples']:>20,}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        ds = load_dataset(args.dataset, data_dir=args.data_dir, max_len=args.max_len,
                          min_user_inter=args.min_inter, min_item_inter=args.min_inter)
    except DataError as e:
        print(f"seqrec data stats: {e}", file=sys.stderr)
        return 2
    stats = ds.stats()
    print(json.dumps(stats, indent=2) if args.json else format_table(stats))
    return 0
