"""``python -m seqrec regress BASELINE CURRENT``: compare two sets of result files and exit non-zero on a
regression.

Cases are matched by what they measured (train: model, dataset, hidden size, seed; latency/memory: model,
phase, sequence length, batch, hidden size). Checks, each set per metric:
  accuracy  test metric may not drop by more than an absolute tolerance (``--tol ndcg@10=0.01``);
  speed     ``median_ms`` may not grow by more than a ratio (``--ratio median_ms=1.25``);
  memory    ``peak_memory_bytes`` may not grow by more than a ratio (``--ratio peak_memory_bytes=1.1``).
A case that was ok in the baseline and is missing or not ok in CURRENT is a regression too (unless
``--allow-missing``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seqrec.results import load_results

DEFAULT_TOL = {"ndcg@10": 0.02, "hit@10": 0.03, "mrr@10": 0.02, "ndcg@20": 0.02, "hit@20": 0.03}
DEFAULT_RATIO = {"median_ms": 1.25, "peak_memory_bytes": 1.10}
CHECKS = ("accuracy", "speed", "memory")


def case_key(r: dict[str, Any]) -> tuple | None:
    kind = r.get("kind")
    if kind == "train":
        ds = r.get("dataset") or {}
        return ("train", r.get("model"), ds.get("name"), (r.get("config") or {}).get("hidden_size"),
                r.get("seed"), r.get("variant"))
    if kind in ("latency", "memory"):
        return (kind, r.get("model"), r.get("phase"), r.get("seq_len"), r.get("batch_size"), r.get("hidden_size"))
    return None


def _index(results: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    out = {}
    for r in results:
        key = case_key(r)
        if key is not None:
            out[key] = r
    return out


def _parse_pairs(items: list[str], defaults: dict[str, float], flag: str) -> dict[str, float]:
    values = dict(defaults)
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            values[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise SystemExit(f"{flag} {item!r}: expected METRIC=NUMBER")
    return values


def compare(baseline: list[dict], current: list[dict], tol: dict[str, float], ratio: dict[str, float],
            checks: tuple[str, ...] = CHECKS, allow_missing: bool = False) -> list[str]:
    """The list of regressions (human-readable lines); empty when CURRENT is no worse than BASELINE."""
    kinds = {"train"} if "accuracy" in checks else set()
    if "speed" in checks:
        kinds.add("latency")
    if "memory" in checks:
        kinds.add("memory")
    base, cur = _index(baseline), _index(current)
    problems = []
    for key, b in sorted(base.items(), key=lambda kv: str(kv[0])):
        if key[0] not in kinds or b.get("status", "ok") != "ok":
            continue
        name = "/".join(str(k) for k in key if k is not None)
        c = cur.get(key)
        if c is None or c.get("status", "ok") != "ok":
            if not allow_missing:
                why = "missing" if c is None else f"status {c.get('status')}: {c.get('reason', '')}"
                problems.append(f"{name}: ok in baseline, {why} in current")
            continue
        if key[0] == "train":
            bm, cm = b["metrics"]["test"], c["metrics"]["test"]
            for metric, t in tol.items():
                if metric in bm and metric in cm and cm[metric] < bm[metric] - t:
                    problems.append(f"{name}: test {metric} {cm[metric]:.4f} < baseline {bm[metric]:.4f} - {t}")
        else:
            metric = "median_ms" if key[0] == "latency" else "peak_memory_bytes"
            limit = ratio.get(metric)
            if limit and b.get(metric) and c.get(metric) and c[metric] > b[metric] * limit:
                problems.append(f"{name}: {metric} {c[metric]:.4g} > {limit} x baseline {b[metric]:.4g}")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", help="directory of baseline result files")
    parser.add_argument("current", help="directory of current result files")
    parser.add_argument("--tol", action="append", metavar="METRIC=ABS",
                        help=f"allowed absolute drop of a test metric (defaults {DEFAULT_TOL})")
    parser.add_argument("--ratio", action="append", metavar="METRIC=RATIO",
                        help=f"allowed growth ratio of median_ms / peak_memory_bytes (defaults {DEFAULT_RATIO})")
    parser.add_argument("--only", action="append", choices=CHECKS, help="run only these checks (repeatable)")
    parser.add_argument("--allow-missing", action="store_true", help="cases missing in CURRENT are not failures")


def run(args: argparse.Namespace) -> int:
    tol = _parse_pairs(args.tol, DEFAULT_TOL, "--tol")
    ratio = _parse_pairs(args.ratio, DEFAULT_RATIO, "--ratio")
    checks = tuple(args.only) if args.only else CHECKS
    try:
        baseline, current = load_results(args.baseline), load_results(args.current)
    except ValueError as e:
        print(f"seqrec regress: {e}", file=sys.stderr)
        return 2
    if not baseline:
        print(f"seqrec regress: no result files under {args.baseline}", file=sys.stderr)
        return 2
    problems = compare(baseline, current, tol, ratio, checks, args.allow_missing)
    compared = sum(1 for k in _index(baseline) if k in _index(current))
    if problems:
        print(f"REGRESSION: {len(problems)} problem(s) over {compared} matched case(s)")
        for line in problems:
            print("  " + line)
        return 1
    print(f"no regression: {compared} matched case(s) within tolerance ({', '.join(checks)})")
    return 0
