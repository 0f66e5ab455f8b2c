"""Readers for the supported raw formats. Each returns a DataFrame with columns ``user``, ``item`` (raw
tokens as strings) and ``timestamp`` (int64 Unix seconds), one row per interaction, in file order.

Timestamps are parsed exactly into int64 from their text: integers as they are, decimals by their
integer part (floored), never through a float (RecBole keeps float32, which rounds Unix seconds by up
to ±64 s). Parsing is vectorised (numpy/pandas); a bad line is still reported by its file line number.
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
ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
_DECIMAL = r"\s*([+-]?)(\d*)(?:\.(\d*))?\s*"
_INT64_MAX = 2**63 - 1


# ----------------------------------------------------------------------------------------------- bytes in
def read_bytes(path: Path) -> bytes:
    """The file's bytes (``.gz`` decompressed), CRLF turned into LF."""
    if not path.is_file():
        raise DataError("file not found", path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"not a readable gzip file ({e})", path) from None
    return raw.replace(b"\r\n", b"\n")


def text_encoding(raw: bytes) -> str:
    """utf-8 when the bytes decode as utf-8, else latin-1 (lossless for any byte)."""
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def data_lines(raw: bytes, sep: bytes, n_fields: int, path: Path | str, skip: int = 0) -> np.ndarray:
    """Check that every non-empty line after the first ``skip`` has exactly ``n_fields`` fields separated by
    the single byte ``sep``; return the 1-based file line numbers of those lines (N,) int64."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(buf) and buf[-1] != 10:
        ends = np.append(ends, len(buf))  # last line without a newline
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    n_sep = np.bincount(np.searchsorted(ends, np.flatnonzero(buf == sep[0])), minlength=len(ends))
    line_no = np.arange(1, len(ends) + 1, dtype=np.int64)
    keep = (ends > starts) & (line_no > skip)
    bad = keep & (n_sep != n_fields - 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = raw[starts[i]:ends[i]].decode("utf-8", errors="replace")
        raise DataError(f"malformed line {text[:80]!r}: expected {n_fields} fields, found {int(n_sep[i]) + 1}",
                        path, int(line_no[i]))
    return line_no[keep]


def _read_fields(raw: bytes, sep: str, n_fields: int, path: Path | str, skip: int,
                 usecols: list[int]) -> tuple[pd.DataFrame, np.ndarray]:
    """Columns ``usecols`` (as strings) of a ``sep``-separated text without quoting, and each row's line."""
    lines = data_lines(raw, sep.encode(), n_fields, path, skip)
    if not len(lines):
        return pd.DataFrame({c: pd.Series([], dtype=str) for c in usecols}), lines
    df = pd.read_csv(io.BytesIO(raw), sep=sep, header=None, skiprows=skip, usecols=usecols, dtype=str,
                     quoting=csv.QUOTE_NONE, na_filter=False, engine="c", encoding=text_encoding(raw))
    if len(df) != len(lines):  # cannot happen after the field check; never return misaligned rows
        raise DataError(f"read {len(df)} rows but found {len(lines)} data lines", path)
    return df, lines


def _check_tokens(df: pd.DataFrame, fields: Mapping[int, str], lines: np.ndarray, path: Path | str) -> None:
    """An empty user or item token is a missing field: DataError naming its line and field."""
    for col, name in fields.items():
        empty = (df[col].str.strip() == "").to_numpy(dtype=bool)
        if empty.any():
            raise DataError("empty field", path, int(lines[np.flatnonzero(empty)[0]]), name)


# ----------------------------------------------------------------------------------------------- timestamps
def parse_timestamps(values, path: Path | str, field: str, lines: np.ndarray | None = None,
                     first_line: int = 1) -> np.ndarray:
    """Text (or numbers) -> (N,) int64 seconds, exactly. Integers as they are; decimals floored by their
    integer part (no float rounding); exponent notation (``1.5e9``) through float64. The first value that is
    not a number raises DataError naming its line (``lines[i]``, else ``first_line + i``) and ``field``."""
    s = pd.Series(values)
    if s.dtype.kind in "iu":
        return s.to_numpy(dtype=np.int64)
    out = np.zeros(len(s), dtype=np.int64)
    bad = np.zeros(len(s), dtype=bool)
    from_float = np.ones(len(s), dtype=bool)  # rows whose value comes from ``floats``
    if s.dtype.kind == "f":
        floats = s.to_numpy(dtype=np.float64)
    else:
        s = s.astype(str)
        try:
            return s.astype(np.int64).to_numpy()  # fast path: all plain integers
        except (ValueError, TypeError, OverflowError):
            pass
        g = s.str.extract("^" + _DECIMAL + "$")  # sign, integer digits, fraction digits (NaN: no match)
        frac = g[2].fillna("")
        decimal = (g[1].notna() & ((g[1].str.len() > 0) | (frac.str.len() > 0))).to_numpy(dtype=bool)
        int_digits = g[1].where(g[1].str.len() > 0, "0").fillna("0").str.lstrip("0")
        n_digits = int_digits.str.len()
        too_long = decimal & ((n_digits > 19) | ((n_digits == 19) & (int_digits > str(_INT64_MAX)))).to_numpy(bool)
        bad |= too_long
        ok = decimal & ~too_long
        whole = int_digits[ok].where(int_digits[ok].str.len() > 0, "0").astype(np.int64).to_numpy()
        negative = (g[0][ok] == "-").to_numpy(dtype=bool)
        has_frac = frac[ok].str.strip("0").str.len().to_numpy() > 0
        out[ok] = np.where(negative, -whole - has_frac, whole)
        from_float = ~decimal  # exponent notation, inf, nan, words
        floats = np.zeros(len(s))
        floats[from_float] = pd.to_numeric(s[from_float], errors="coerce").to_numpy(dtype=np.float64)
    bad |= ~np.isfinite(floats) | (np.abs(floats) >= 2.0**63)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        line = int(lines[i]) if lines is not None else first_line + i
        raise DataError(f"timestamp {s.iloc[i]!r} is not a number (or outside the int64 range)", path, line, field)
    out[from_float] = np.floor(floats[from_float]).astype(np.int64)
    return out


def _frame(users, items, times) -> pd.DataFrame:
    return pd.DataFrame({"user": pd.Series(users, dtype=str).reset_index(drop=True),
                         "item": pd.Series(items, dtype=str).reset_index(drop=True),
                         "timestamp": np.asarray(times, dtype=np.int64)})


# ----------------------------------------------------------------------------------------------- readers
def read_atomic(path: str | Path, user_field: str = "user_id", item_field: str | tuple[str, ...] = "item_id",
                time_field: str = "timestamp") -> pd.DataFrame:
    """RecBole atomic ``.inter`` file: tab separated, header ``name:type`` (token, float, token_seq,
    float_seq). ``item_field`` may list alternatives (the first present is used)."""
    path = Path(path)
    raw = read_bytes(path)
    header = raw.split(b"\n", 1)[0].decode(text_encoding(raw)).lstrip("\ufeff")
    if not header.strip():
        raise DataError("file is empty (expected a header such as user_id:token)", path, 1)
    names = []
    for col in header.split("\t"):
        name, colon, typ = col.partition(":")
        if not colon or typ not in ATOMIC_TYPES:
            raise DataError(f"header column {col!r} is not of the form name:{'|'.join(ATOMIC_TYPES)}", path, 1)
        names.append(name)
    items = (item_field,) if isinstance(item_field, str) else tuple(item_field)
    item_name = next((f for f in items if f in names), None)
    for f, present in ((user_field, user_field in names), ("|".join(items), item_name is not None),
                       (time_field, time_field in names)):
        if not present:
            raise DataError(f"missing column (header has {', '.join(names)})", path, 1, f)
    cols = [names.index(user_field), names.index(item_name), names.index(time_field)]
    df, lines = _read_fields(raw, "\t", len(names), path, skip=1, usecols=cols)
    _check_tokens(df, {cols[0]: user_field, cols[1]: item_name}, lines, path)
    times = parse_timestamps(df[cols[2]], path, time_field, lines)
    return _frame(df[cols[0]], df[cols[1]], times)


def read_grouplens(path: str | Path) -> pd.DataFrame:
    """GroupLens ``ratings.dat`` (``user::item::rating::timestamp``), plain, ``.gz``, or ``ml-1m.zip``
    (member ``*/ratings.dat``)."""
    path = Path(path)
    if path.suffix == ".zip":
        if not path.is_file():
            raise DataError("file not found", path)
        try:
            with zipfile.ZipFile(path) as z:
                members = [n for n in z.namelist() if n.endswith("ratings.dat")]
                if not members:
                    raise DataError("no ratings.dat member in the archive", path)
                raw = z.read(members[0]).replace(b"\r\n", b"\n")
        except zipfile.BadZipFile as e:
            raise DataError(f"not a readable zip file ({e})", path) from None
        where: Path | str = f"{path}!{members[0]}"
    else:
        raw, where = read_bytes(path), path
    if b"\t" in raw:
        line = raw[:raw.index(b"\t")].count(b"\n") + 1
        raise DataError("malformed line: tab character in a '::' separated file", where, line)
    df, lines = _read_fields(raw.replace(b"::", b"\t"), "\t", 4, where, skip=0, usecols=[0, 1, 3])
    if not len(df):
        raise DataError("file is empty", where)
    _check_tokens(df, {0: "user", 1: "item"}, lines, where)
    times = parse_timestamps(df[3], where, "timestamp", lines)
    return _frame(df[0], df[1], times)


def read_paired(item_path: str | Path, time_path: str | Path) -> pd.DataFrame:
    """Paired text files, one user per line: ``user i1 i2 ...`` and ``user t1 t2 ...`` (same user and
    length on matching lines)."""
    item_path, time_path = Path(item_path), Path(time_path)
    item_raw, time_raw = read_bytes(item_path), read_bytes(time_path)
    item_lines = item_raw.decode(text_encoding(item_raw)).rstrip("\n").split("\n")
    time_lines = time_raw.decode(text_encoding(time_raw)).rstrip("\n").split("\n")
    if len(item_lines) != len(time_lines):
        n = min(len(item_lines), len(time_lines)) + 1
        raise DataError(f"{len(item_lines)} lines here but {len(time_lines)} in {time_path}", item_path, n)
    item_tokens = [ln.split() for ln in item_lines]
    time_tokens = [ln.split() for ln in time_lines]
    for n, (ip, tp) in enumerate(zip(item_tokens, time_tokens, strict=True), start=1):
        if not ip:
            raise DataError("empty line", item_path, n)
        if not tp or ip[0] != tp[0]:
            raise DataError(f"user {ip[0]!r} here but {tp[0] if tp else '(empty line)'!r} on the same line of "
                            f"{time_path}", item_path, n)
        if len(ip) != len(tp):
            raise DataError(f"{len(ip) - 1} items but {len(tp) - 1} timestamps on the same line of {time_path}",
                            item_path, n)
        if len(ip) < 2:
            raise DataError("user without interactions", item_path, n)
    counts = np.array([len(ip) - 1 for ip in item_tokens], dtype=np.int64)
    users = np.repeat(np.array([ip[0] for ip in item_tokens], dtype=object), counts)
    items = [t for ip in item_tokens for t in ip[1:]]
    times = [t for tp in time_tokens for t in tp[1:]]
    lines = np.repeat(np.arange(1, len(counts) + 1, dtype=np.int64), counts)
    return _frame(users, items, parse_timestamps(times, time_path, "timestamp", lines))


def read_table(path: str | Path, columns: Mapping[str, str], time_unit: str = "s",
               where: Mapping[str, str] | None = None) -> pd.DataFrame:
    """CSV or Parquet with a column mapping ``{"user": ..., "item": ..., "timestamp": ...}``.

    Timestamps are numbers in ``time_unit`` ("s" or "ms", floored to seconds) or, when no value of the
    column is a number, dates (parsed as UTC unless they carry an offset). ``where`` keeps only the rows whose
    columns equal the given values (compared as text, e.g. ``{"is_click": "1"}``).
    """
    path = Path(path)
    if time_unit not in ("s", "ms"):
        raise ValueError(f"time_unit must be 's' or 'ms', not {time_unit!r}")
    missing_keys = [k for k in COLUMNS if k not in columns]
    if missing_keys:
        raise DataError(f"column mapping lacks {missing_keys} (need user, item, timestamp)", path)
    if not path.is_file():
        raise DataError("file not found", path)
    wanted = [columns[k] for k in COLUMNS] + [c for c in (where or {}) if c not in columns.values()]
    is_parquet = path.suffix in (".parquet", ".pq")
    if is_parquet:
        try:
            import pyarrow.parquet as pq

            names = pq.ParquetFile(path).schema_arrow.names
            df = pd.read_parquet(path, columns=[c for c in wanted if c in names])
        except ImportError as e:
            raise DataError(f"reading Parquet needs pyarrow ({e})", path) from None
        except Exception as e:  # pyarrow raises its own error types for broken files
            raise DataError(f"not a readable Parquet file ({e})", path) from None
        first = 1  # "line" = row number
    else:
        enc = text_encoding(read_bytes(path))
        try:
            names = list(pd.read_csv(path, nrows=0, encoding=enc).columns)
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding=enc)
            # (all columns: with usecols pandas silently accepts lines with too many fields)
        except pd.errors.ParserError as e:
            raise DataError(f"malformed line ({str(e).strip().split('error: ')[-1]})", path,
                            _parser_error_line(e)) from None
        except pd.errors.EmptyDataError:
            raise DataError("file is empty (expected a header line)", path, 1) from None
        first = 2
    for c in wanted:
        if c not in names:
            raise DataError(f"missing column (file has {', '.join(map(str, names))})", path, 1, c)
    for key in COLUMNS:
        col = df[columns[key]]
        empty = (col.isna() | (col.astype(str).str.strip() == "")).to_numpy(dtype=bool)
        if empty.any():
            raise DataError("empty field (short or blank line?)", path, first + int(np.flatnonzero(empty)[0]),
                            columns[key])
    times = _table_times(df[columns["timestamp"]], path, columns["timestamp"], first, time_unit)
    keep = np.ones(len(df), dtype=bool)
    for c, value in (where or {}).items():
        keep &= (df[c].astype(str).str.strip() == str(value)).to_numpy(dtype=bool)
    return _frame(df[columns["user"]].astype(str)[keep], df[columns["item"]].astype(str)[keep], times[keep])


def _parser_error_line(e: Exception) -> int | None:
    msg = str(e)
    if " line " in msg:
        word = msg.split(" line ")[1].split(",")[0].split()[0]
        return int(word) if word.isdigit() else None
    return None


def _table_times(col: pd.Series, path: Path, field: str, first: int, time_unit: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        return to_unix_seconds(col)
    if col.dtype.kind not in "iuf":
        numeric = pd.to_numeric(col, errors="coerce")
        if len(col) and numeric.isna().all():  # dates
            parsed = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
            if parsed.isna().any():
                i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
                raise DataError(f"timestamp {col.iloc[i]!r} is neither a number nor a date", path, first + i, field)
            return to_unix_seconds(parsed)
    times = parse_timestamps(col, path, field, first_line=first)
    return times // 1000 if time_unit == "ms" else times


def to_unix_seconds(dates: pd.Series) -> np.ndarray:
    """Datetimes (any resolution; naive ones taken as UTC) -> (N,) int64 Unix seconds, floored."""
    if getattr(dates.dt, "tz", None) is None:
        dates = dates.dt.tz_localize("UTC")
    epoch = pd.Timestamp(0, tz="UTC")
    return ((dates - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
