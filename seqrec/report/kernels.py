"""Kernel benchmark results (kind "kernel", written by ``suites/bench_*.py``) as rows and tables: one row per
(op, shape, dtype, implementation) with its forward + backward time and peak memory, and how much faster ours
(the Triton kernel) is than each other implementation of the same case.

Two file layouts exist: ``impls`` (selective scan, interval attention, conv, norms: one file per case, a record
per implementation, the conv's and the norms' with the bytes the op must move) and ``cases`` (the SSD mixer: one
file per card and dtype, a record per case and variant, with the bytes floor and the card's measured copy
bandwidth). An ``impls`` case's floor is its bytes at the bandwidth the SSD file measured on the same card.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from seqrec.report.tables import MISSING, Cell, Table, fmt_ratio, is_missing

OURS = "triton"
# shape keys in the order they are shown; the SSD bench and the impls benches name some differently
SHAPE_KEYS = (("batch", "B"), ("seqlen", "L"), ("seq_len", "L"), ("heads", "heads"), ("head_dim", "head dim"),
              ("dim", "D"), ("channels", "C"), ("kernel_size", "K"), ("hidden", "hidden"), ("nstate", "N"),
              ("d_state", "N"), ("activation", "activation"))
KERNEL_COLUMNS = ["op", "shape", "dtype", "impl", "ms", "peak_bytes", "floor_ms", "note", "min_bytes",
                  "bandwidth"]
NOTE = ("Forward + backward of one call, median of `triton.testing.do_bench` after warm-up; peak: GPU memory "
        "allocated above the inputs. \"Ours faster\": that implementation's time over ours (triton) on the same "
        "case and card; above 1 means ours is faster. Floor: the bytes the op must move at the card's measured "
        "copy bandwidth (where the bench states those bytes and the SSD bench measured the card).")


def _shape(r: dict[str, Any]) -> str:
    return ", ".join(f"{label} {r[key]}" for key, label in SHAPE_KEYS if key in r)


def _dtype(r: dict[str, Any]) -> str:
    return str(r.get("dtype", "")).removeprefix("torch.")


def kernel_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one ok kernel result file (without set and provenance)."""
    op = str(r.get("op", "?"))
    rows = []
    if isinstance(r.get("cases"), list):
        for case in r["cases"]:
            ok = case.get("status", "ok") == "ok"
            floor = (case.get("floor_ms") or {}).get("forward_backward")
            rows.append({"op": op, "shape": _shape(case), "dtype": _dtype(case), "impl": str(case.get("variant")),
                         "ms": case.get("forward_backward_ms") if ok else None,
                         "peak_bytes": case.get("peak_memory_bytes") if ok else None, "floor_ms": floor,
                         "note": "" if ok else str(case.get("reason", case.get("status"))),
                         "min_bytes": None, "bandwidth": r.get("copy_bandwidth_bytes_per_s")})
        return rows
    for impl, rec in (r.get("impls") or {}).items():
        ok = rec.get("status") == "ok"
        rows.append({"op": op, "shape": _shape(r), "dtype": _dtype(r), "impl": impl,
                     "ms": rec.get("median_ms") if ok else None, "peak_bytes": rec.get("peak_memory_bytes") if ok
                     else None, "floor_ms": None, "note": "" if ok else str(rec.get("reason", rec.get("status"))),
                     "min_bytes": r.get("min_bytes"), "bandwidth": None})
    return rows


def fill_floors(frame: pd.DataFrame) -> pd.DataFrame:
    """Floors of the rows that state their bytes (``min_bytes``) but no floor: those bytes at the copy bandwidth
    measured on the same card (the median over the SSD bench files of that card), where there is one."""
    if frame.empty:
        return frame
    bandwidth = frame.dropna(subset=["bandwidth"]).groupby("device_name")["bandwidth"].median()
    card_bw = frame["device_name"].map(bandwidth)
    todo = frame["floor_ms"].isna() & frame["min_bytes"].notna() & card_bw.notna()
    frame = frame.copy()
    frame.loc[todo, "floor_ms"] = frame.loc[todo, "min_bytes"] / card_bw[todo] * 1e3
    return frame


def _mib(x: Any) -> str:
    return MISSING if x is None or is_missing(x) else f"{x / 2**20:,.0f}"


def _ms(x: Any) -> str:
    return MISSING if x is None or is_missing(x) else f"{x:.3f}"


def kernel_tables(frame: pd.DataFrame, set_name: str) -> list[Table]:
    """One table per (op, card): every case and implementation, ours first."""
    tables = []
    if frame.empty:
        return tables
    for (op, card), sub in frame.groupby(["op", "device_name"], sort=True):
        rows = []
        for (shape, dtype), case in sub.groupby(["shape", "dtype"], sort=False):
            ours = case[case["impl"] == OURS]["ms"]
            ours_ms = float(ours.iloc[0]) if len(ours) and not is_missing(ours.iloc[0]) else None
            ordered = sorted(case.to_dict("records"), key=lambda x: (x["impl"] != OURS, x["impl"]))
            for rec in ordered:
                faster = (rec["ms"] / ours_ms if ours_ms and rec["impl"] != OURS and rec["ms"] is not None
                          and not is_missing(rec["ms"]) else None)
                floor = rec["floor_ms"]
                over = (rec["ms"] / floor if floor and rec["ms"] is not None and not is_missing(rec["ms"])
                        and not is_missing(floor) else None)
                rows.append([Cell(shape), Cell(dtype), Cell(rec["impl"], "bold" if rec["impl"] == OURS else None),
                             Cell(_ms(rec["ms"])), Cell(_mib(rec["peak_bytes"])), Cell(fmt_ratio(faster)),
                             Cell(fmt_ratio(over)), Cell(rec["note"][:80] if rec["note"] else "")])
        tables.append(Table(title=f"{op} — {card}",
                            columns=["Shape", "dtype", "Implementation", "fwd+bwd ms", "Peak MiB", "Ours faster",
                                     "Over floor", "Note"],
                            rows=rows, align="lllrrrrl", label=f"tab:kernels-{set_name}-{op}"))
    return tables
