"""``python -m seqrec data stats DATASET [--json]``: statistics before and after filtering."""

from __future__ import annotations

import argparse
import json
import sys

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


def format_table(stats: dict) -> str:
    """The human-readable table of ``SeqDataset.stats()``: before and after filtering, and split sizes."""
    before, after = stats["before_filtering"], stats["after_filtering"]
    count, real = (lambda v: f"{v:,}"), (lambda v: f"{v:,.2f}")
    rows = [("users", "users", count), ("items", "items", count), ("interactions", "interactions", count),
            ("average length", "avg_length", real), ("max length", "max_length", count),
            ("min length", "min_length", count), ("sparsity", "sparsity", lambda v: f"{v:.6f}"),
            ("first interaction", "first_date", lambda v: v or "-"), ("last interaction", "last_date",
                                                                       lambda v: v or "-"),
            ("time span (days)", "time_span_days", real)]
    lines = [f"{stats['dataset']}  (source: {before.get('source', '?')}; max_len {stats['max_len']}; "
             f"checksum {stats['checksum'][:16]})",
             f"{'':<20}{'before filtering':>22}{'after filtering':>22}"]
    for label, key, fmt in rows:
        lines.append(f"{label:<20}{fmt(before[key]):>22}{fmt(after[key]):>22}")
    for split in ("train", "valid", "test"):
        lines.append(f"{split + ' samples':<20}{'':>22}{after[split + '_samples']:>22,}")
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
