"""Readers for the supported raw formats. Each returns a DataFrame with columns ``user``, ``item``
(raw tokens, str) and ``timestamp`` (int64 Unix seconds), one row per interaction, in file order.

Timestamps are parsed exactly into int64 (RecBole keeps float32, which rounds Unix seconds by up to
±64 s); fractional seconds are floored.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from seqrec.data.errors import DataError

COLUMNS = ["user", "item", "timestamp"]


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise DataError("file not found", path)


def _open_text(path: Path) -> str:
    """The whole file as text (``.gz`` transparently), CRLF normalised to LF."""
    _check_exists(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace").replace("\r\n", "\n")


def parse_timestamps(values: pd.Series, path: Path, field: str, first_line: int) -> np.ndarray:
    """Strings -> int64 seconds. ``first_line`` is the file line of ``values.iloc[0]``; a non-numeric value
    raises DataError naming its line and field."""
    as_int = pd.to_numeric(values, errors="coerce", downcast=None)
    bad = as_int.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"timestamp {values.iloc[i]!r} is not a number", path, first_line + i, field)
    arr = as_int.to_numpy()
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            i = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise DataError(f"timestamp {values.iloc[i]!r} is not finite", path, first_line + i, field)
        arr = np.floor(arr)
    return arr.astype(np.int64)


def _frame(users, items, times) -> pd.DataFrame:
    return pd.DataFrame({"user": np.asarray(users, dtype=object), "item": np.asarray(items, dtype=object),
                         "timestamp": np.asarray(times, dtype=np.int64)})


def _read_delimited(text: str, path: Path, sep: str, n_fields: int | None, header: bool) -> pd.DataFrame:
    """Tab/other separated text -> DataFrame of strings; wrong field counts raise DataError with the line."""
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=0 if header else None, dtype=str,
                         keep_default_na=False, quoting=csv.QUOTE_NONE, engine="c")
    except pd.errors.ParserError as e:
        msg = str(e)
        line = None
        if " line " in msg:
            try:
                line = int(msg.split(" line ")[1].split(",")[0])
            except ValueError:
                line = None
        raise DataError(f"malformed line ({msg.strip()})", path, line) from e
    except pd.errors.EmptyDataError as e:
        raise DataError("file is empty", path) from e
    if n_fields is not None and df.shape[1] != n_fields:
        raise DataError(f"expected {n_fields} fields per line, found {df.shape[1]}", path, 1)
    # pandas pads short rows silently: check every line's field count
    lines = text.split("\n")
    first = 1 if header else 0
    for i, line in enumerate(lines[first:], start=first + 1):
        if line and line.count(sep) != df.shape[1] - 1:
            raise DataError(f"malformed line: expected {df.shape[1]} fields, found {line.count(sep) + 1}", path, i)
    return df


def read_atomic(path: str | Path, user_field: str = "user_id", item_field: str = "item_id",
                time_field: str = "timestamp") -> pd.DataFrame:
    """RecBole atomic ``.inter`` file: tab separated, header ``name:type`` (token, float, token_seq, ...)."""
    path = Path(path)
    text = _open_text(path)
    first_line = text.split("\n", 1)[0]
    names = []
    for col in first_line.split("\t"):
        name, sep, typ = col.partition(":")
        if not sep or typ not in ("token", "float", "token_seq", "float_seq"):
            raise DataError(f"header column {col!r} is not of the form name:token|float|token_seq|float_seq",
                            path, 1)
        names.append(name)
    for f in (user_field, item_field, time_field):
        if f not in names:
            raise DataError(f"missing column (header has {', '.join(names)})", path, 1, f)
    df = _read_delimited(text, path, "\t", len(names), header=True)
    df.columns = names
    times = parse_timestamps(df[time_field], path, time_field, first_line=2)
    return _frame(df[user_field].to_numpy(), df[item_field].to_numpy(), times)


def read_grouplens(path: str | Path) -> pd.DataFrame:
    """GroupLens ``ratings.dat`` (``user::item::rating::timestamp``), plain, ``.gz``, or ``ml-1m.zip``."""
    path = Path(path)
    if path.suffix == ".zip":
        _check_exists(path)
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if n.endswith("ratings.dat")]
            if not members:
                raise DataError("no ratings.dat member in the archive", path)
            text = z.read(members[0]).decode("latin-1").replace("\r\n", "\n")
        path = Path(f"{path}!{members[0]}")
    else:
        text = _open_text(path)
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    if not lines:
        raise DataError("file is empty", path)
    parts = [ln.split("::") for ln in lines]
    for i, p in enumerate(parts):
        if len(p) != 4:
            raise DataError(f"malformed line {lines[i][:80]!r}: expected user::item::rating::timestamp",
                            path, i + 1)
    arr = np.array(parts, dtype=object)
    times = parse_timestamps(pd.Series(arr[:, 3]), path, "timestamp", first_line=1)
    return _frame(arr[:, 0], arr[:, 1], times)


def read_paired(item_path: str | Path, time_path: str | Path) -> pd.DataFrame:
    """Paired text files, one user per line: ``user i1 i2 ...`` and ``user t1 t2 ...`` (same user and
    length on matching lines)."""
    item_path, time_path = Path(item_path), Path(time_path)
    item_lines = _open_text(item_path).rstrip("\n").split("\n")
    time_lines = _open_text(time_path).rstrip("\n").split("\n")
    if len(item_lines) != len(time_lines):
        raise DataError(f"{len(item_lines)} lines in the item file but {len(time_lines)} in {time_path}",
                        item_path)
    users, items, times = [], [], []
    for n, (il, tl) in enumerate(zip(item_lines, time_lines, strict=True), start=1):
        ip, tp = il.split(), tl.split()
        if not ip:
            raise DataError("empty line", item_path, n)
        if not tp or ip[0] != tp[0]:
            raise DataError(f"user {ip[0]!r} here but {tp[0] if tp else '(empty)'!r} on the same line of "
                            f"{time_path}", item_path, n)
        if len(ip) != len(tp):
            raise DataError(f"{len(ip) - 1} items but {len(tp) - 1} timestamps in {time_path}", item_path, n)
        if len(ip) < 2:
            raise DataError("user without interactions", item_path, n)
        for j, t in enumerate(tp[1:]):
            if not t.lstrip("-").isdigit():
                try:
                    float(t)
                except ValueError:
                    raise DataError(f"timestamp {t!r} (position {j + 1}) is not a number", time_path, n,
                                    "timestamp") from None
        users.extend([ip[0]] * (len(ip) - 1))
        items.extend(ip[1:])
        times.extend(tp[1:])
    ts = parse_timestamps(pd.Series(times), time_path, "timestamp", first_line=1)
    return _frame(users, items, ts)


def read_table(path: str | Path, columns: Mapping[str, str], time_unit: str = "s") -> pd.DataFrame:
    """CSV or Parquet with a column mapping ``{"user": ..., "item": ..., "timestamp": ...}``.

    ``time_unit`` "ms" divides timestamps by 1000 (floor). Dates (strings) are parsed to Unix seconds
    when the timestamp column is not numeric but looks like a date.
    """
    path = Path(path)
    _check_exists(path)
    missing_keys = set(COLUMNS) - set(columns)
    if missing_keys:
        raise DataError(f"column mapping lacks {sorted(missing_keys)}", path)
    if path.suffix in (".parquet", ".pq"):
        df = pd.read_parquet(path)
    else:
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.ParserError as e:
            raise DataError(f"malformed CSV ({str(e).strip()})", path) from e
    for key in COLUMNS:
        if columns[key] not in df.columns:
            raise DataError(f"missing column (file has {', '.join(map(str, df.columns))})", path, 1, columns[key])
    raw_t = df[columns["timestamp"]].astype(str)
    first = 2 if path.suffix not in (".parquet", ".pq") else 1
    numeric = pd.to_numeric(raw_t, errors="coerce")
    if numeric.isna().any() and not numeric.isna().all():
        times = parse_timestamps(raw_t, path, columns["timestamp"], first)  # raises naming the line
    elif numeric.isna().all() and len(raw_t):
        parsed = pd.to_datetime(raw_t, errors="coerce", utc=True)
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise DataError(f"timestamp {raw_t.iloc[i]!r} is neither a number nor a date", path, first + i,
                            columns["timestamp"])
        times = (parsed.astype("int64") // 10**9).to_numpy()
    else:
        times = parse_timestamps(raw_t, path, columns["timestamp"], first)
    if time_unit == "ms":
        times = times // 1000
    return _frame(df[columns["user"]].astype(str).to_numpy(), df[columns["item"]].astype(str).to_numpy(), times)
