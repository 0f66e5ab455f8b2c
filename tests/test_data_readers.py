"""Each reader on tiny hand-written files (tests/data_fixtures/), exact int64 timestamps, and every bad input:
a DataError (a ValueError) naming the file, the line and the field."""

from __future__ import annotations

import gzip
import math
import random
import shutil
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqrec.data import DataError, load_dataset
from seqrec.data.readers import parse_timestamps, read_atomic, read_grouplens, read_paired, read_table

FIX = Path(__file__).parent / "data_fixtures"
TINY_INTER = ([("u1", "i1", 881250949), ("u2", "i2", 891717742),
               ("u1", 'One Flew Over the "Nest" (1975)', 1000000000123)])


def rows(df: pd.DataFrame) -> list[tuple]:
    assert list(df.columns) == ["user", "item", "timestamp"] and df["timestamp"].dtype == np.int64
    return [(str(u), str(i), int(t)) for u, i, t in df.itertuples(index=False, name=None)]


# ----------------------------------------------------------------------------------------------- good input
def test_atomic(tmp_path):
    assert rows(read_atomic(FIX / "tiny.inter")) == TINY_INTER
    crlf = tmp_path / "crlf.inter"
    crlf.write_bytes((FIX / "tiny.inter").read_bytes().replace(b"\n", b"\r\n"))
    assert rows(read_atomic(crlf)) == TINY_INTER
    gz = tmp_path / "x.inter.gz"
    gz.write_bytes(gzip.compress((FIX / "tiny.inter").read_bytes()))
    assert rows(read_atomic(gz)) == TINY_INTER


def test_atomic_column_order_alias_latin1_and_blank_lines(tmp_path):
    p = tmp_path / "x.inter"
    p.write_bytes("timestamp:float\tproduct_id:token\tuser_id:token\ttext:token_seq\n"
                  "5\tMis\u00e9rables\tu1\ta b c\n\n7\tp2\tu2\t\n".encode("latin-1"))
    assert rows(read_atomic(p, item_field=("item_id", "product_id"))) == [("u1", "Mis\u00e9rables", 5),
                                                                          ("u2", "p2", 7)]


def test_grouplens_plain_gz_zip(tmp_path):
    raw = (FIX / "ratings.dat").read_bytes()
    (tmp_path / "ratings.dat.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "crlf.dat").write_bytes(raw.replace(b"\n", b"\r\n"))
    with zipfile.ZipFile(tmp_path / "ml-1m.zip", "w") as z:
        z.writestr("ml-1m/ratings.dat", raw)
        z.writestr("ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n")
    expect = [("1", "1193", 978300760), ("1", "661", 978302109), ("2", "1357", 978298709)]
    for p in (FIX / "ratings.dat", tmp_path / "ratings.dat.gz", tmp_path / "crlf.dat", tmp_path / "ml-1m.zip"):
        assert rows(read_grouplens(p)) == expect, p


def test_paired():
    df = read_paired(FIX / "Tiny_item.txt", FIX / "Tiny_time.txt")
    assert rows(df) == [("7", "3", 10), ("7", "4", 20), ("7", "5", 30), ("8", "1", 99)]


def test_csv_and_parquet_with_column_map(tmp_path):
    cols = {"user": "uid", "item": "iid", "timestamp": "ts"}
    expect = [("a", "x", 5), ("b", "y", 6), ("a", "z", 7)]
    assert rows(read_table(FIX / "tiny.csv", cols)) == expect
    assert rows(read_table(FIX / "tiny.csv", cols, where={"clicked": "1"})) == [expect[0], expect[2]]
    ms = pd.DataFrame({"uid": ["a", "b"], "iid": ["x", "y"], "ts": [1_500_000_000_999, 1_500_000_001_000]})
    ms.to_csv(tmp_path / "ms.csv", index=False)
    assert [t for *_, t in rows(read_table(tmp_path / "ms.csv", cols, time_unit="ms"))] == [1_500_000_000,
                                                                                           1_500_000_001]
    dates = pd.DataFrame({"uid": ["a", "b"], "iid": ["x", "y"], "ts": ["2017-12-17", "1970-01-02 00:00:01"]})
    dates.to_csv(tmp_path / "dates.csv", index=False)
    assert [t for *_, t in rows(read_table(tmp_path / "dates.csv", cols))] == [1513468800, 86401]
    pytest.importorskip("pyarrow")
    pd.read_csv(FIX / "tiny.csv", dtype={"uid": str, "iid": str}).to_parquet(tmp_path / "x.parquet")
    assert rows(read_table(tmp_path / "x.parquet", cols)) == expect
    dates.assign(ts=pd.to_datetime(dates["ts"], format="mixed")).to_parquet(tmp_path / "d.parquet")
    assert [t for *_, t in rows(read_table(tmp_path / "d.parquet", cols))] == [1513468800, 86401]


def test_timestamps_are_exact_int64_on_random_text():
    """Integers beyond 2**53 and decimals are parsed from their digits (floored), never through a float."""
    seed = random.randrange(10**9)
    rng = random.Random(seed)
    texts = []
    for _ in range(300):
        sign, whole = rng.choice(["", "-", "+"]), rng.randrange(0, 2**62)
        frac = rng.choice(["", "." + str(rng.randrange(10**6)).zfill(6), ".000", ".5"])
        texts.append(f"{sign}{whole}{frac}")
    got = parse_timestamps(texts, "f", "timestamp")
    assert got.dtype == np.int64
    assert got.tolist() == [math.floor(Fraction(t)) for t in texts], seed  # exact rational reference
    assert parse_timestamps(["1.5e9", " 7 ", "+.5", "12.", "-0.5"], "f", "t").tolist() == [1_500_000_000, 7, 0, 12,
                                                                                          -1]


# ----------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name, line, field, needle", [
    ("short_line.inter", 3, None, "malformed line"),
    ("bad_timestamp.inter", 4, "timestamp", "'yesterday' is not a number"),
    ("no_timestamp.inter", 1, "timestamp", "missing column"),
    ("untyped_header.inter", 1, None, "name:token"),
])
def test_atomic_bad_input(name, line, field, needle):
    with pytest.raises(DataError) as e:
        read_atomic(FIX / name)
    assert isinstance(e.value, ValueError)
    assert e.value.line == line and e.value.field == field and Path(e.value.path) == FIX / name
    assert str(e.value).startswith(f"{FIX / name}:{line}: ") and needle in str(e.value)


def test_atomic_bad_line_far_into_a_long_file(tmp_path):
    """The first bad line is reported exactly, also after many good ones (vectorised check)."""
    bad_at = random.randrange(3, 5000)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"] + [f"u{n}\ti{n}\t{n}" for n in range(2, 5001)]
    lines[bad_at - 1] = f"u{bad_at}\ti{bad_at}\t{bad_at}\textra"
    lines[-1] = "u\ti\tnot-a-time"  # a later, different error must not be the one reported
    (tmp_path / "x.inter").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"x.inter:{bad_at}: malformed line"):
        read_atomic(tmp_path / "x.inter")
    lines[bad_at - 1] = f"u{bad_at}\ti{bad_at}\t1.2.3"
    (tmp_path / "x.inter").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"x.inter:{bad_at}: field 'timestamp': timestamp '1.2.3'"):
        read_atomic(tmp_path / "x.inter")


def test_empty_token_is_a_missing_field(tmp_path):
    (tmp_path / "x.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1\nu2\t\t2\n")
    with pytest.raises(DataError, match=r"x.inter:3: field 'item_id': empty field"):
        read_atomic(tmp_path / "x.inter")
    (tmp_path / "ratings.dat").write_text("1::2::3::4\n::2::3::4\n")
    with pytest.raises(DataError, match=r"ratings.dat:2: field 'user': empty field"):
        read_grouplens(tmp_path / "ratings.dat")


@pytest.mark.parametrize("name, line, field, needle", [
    ("short_line_ratings.dat", 3, None, "malformed line"),
    ("bad_timestamp_ratings.dat", 2, "timestamp", "'soon' is not a number"),
])
def test_grouplens_bad_input(name, line, field, needle):
    with pytest.raises(DataError) as e:
        read_grouplens(FIX / name)
    assert (e.value.line, e.value.field) == (line, field)
    assert str(e.value).startswith(f"{FIX / name}:{line}: ") and needle in str(e.value)


@pytest.mark.parametrize("prefix, path_of, line, needle", [
    ("Wrong_user", "item", 2, "user '9' here but '8'"),
    ("Wrong_length", "item", 2, "2 items but 1 timestamps"),
    ("Bad_time", "time", 2, "field 'timestamp': timestamp 'noon' is not a number"),
])
def test_paired_bad_input(prefix, path_of, line, needle):
    items, times = FIX / f"{prefix}_item.txt", FIX / f"{prefix}_time.txt"
    with pytest.raises(DataError) as e:
        read_paired(items, times)
    named = items if path_of == "item" else times
    assert str(e.value).startswith(f"{named}:{line}: ") and needle in str(e.value)


def test_paired_line_count_and_empty_line(tmp_path):
    (tmp_path / "i.txt").write_text("1 2\n3 4\n")
    (tmp_path / "t.txt").write_text("1 5\n")
    with pytest.raises(DataError, match=r"i.txt:2: 2 lines here but 1 in"):
        read_paired(tmp_path / "i.txt", tmp_path / "t.txt")
    (tmp_path / "i.txt").write_text("1 2\n\n3 4\n")
    (tmp_path / "t.txt").write_text("1 5\n\n3 6\n")
    with pytest.raises(DataError, match=r"i.txt:2: empty line"):
        read_paired(tmp_path / "i.txt", tmp_path / "t.txt")


@pytest.mark.parametrize("name, line, field, needle", [
    ("bad_timestamp.csv", 3, "ts", "'six' is not a number"),
    ("short_line.csv", 3, "ts", "empty field"),
    ("long_line.csv", 3, None, "malformed line"),
    ("no_timestamp.csv", 1, "ts", "missing column"),
])
def test_table_bad_input(name, line, field, needle):
    with pytest.raises(DataError) as e:
        read_table(FIX / name, {"user": "uid", "item": "iid", "timestamp": "ts"})
    assert (e.value.line, e.value.field) == (line, field), str(e.value)
    assert str(e.value).startswith(f"{FIX / name}:{line}: ") and needle in str(e.value)


def test_table_bad_mapping():
    with pytest.raises(DataError, match=r"tiny.csv: column mapping lacks \['timestamp'\]"):
        read_table(FIX / "tiny.csv", {"user": "uid", "item": "iid"})


@pytest.mark.parametrize("read", [
    lambda d: read_atomic(d / "nope.inter"),
    lambda d: read_grouplens(d / "ratings.dat.gz"),
    lambda d: read_grouplens(d / "ml-1m.zip"),
    lambda d: read_paired(d / "a.txt", d / "b.txt"),
    lambda d: read_table(d / "x.csv", {"user": "u", "item": "i", "timestamp": "t"}),
])
def test_missing_file(tmp_path, read):
    with pytest.raises(DataError, match=rf"^{tmp_path}/\S+: file not found"):
        read(tmp_path)


def test_unknown_dataset_and_missing_dataset_files(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'nope'; known: ml-100k, ml-1m, amazon-beauty, amazon-sports"):
        load_dataset("nope")
    with pytest.raises(DataError, match=r"amazon-beauty needs Beauty_item_org_rank.txt and Beauty_time_org_rank"):
        load_dataset("amazon-beauty", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"Sports_item_org_rank.txt"):
        load_dataset("amazon-sports", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"KuaiRand-Pure.tar.gz.*log_standard_4_08_to_4_21_pure.csv") as e:
        load_dataset("kuairand", data_dir=tmp_path)
    assert str(tmp_path / "kuairand") in str(e.value)
    with pytest.raises(DataError, match=r"steam_reviews.json.gz") as e:
        load_dataset("steam", data_dir=tmp_path)
    assert "https://cseweb.ucsd.edu/~wckang/steam_reviews.json.gz" in str(e.value)


def test_empty_after_filtering(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "ml-100k").mkdir()
    shutil.copy(FIX / "tiny.inter", tmp_path / "ml-100k" / "ml-100k.inter")
    with pytest.raises(DataError, match=r"ml-100k.inter: no interactions left after filtering users < 5 and items < 5"):
        load_dataset("ml-100k", data_dir=tmp_path)


# ----------------------------------------------------------------------------------------------- recipes
def test_steam_and_kuairand_recipes_read_the_official_formats(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "steam").mkdir()
    records = [{"username": "Chaos Syren", "product_id": "725280", "date": "2017-12-17", "text": "a 'b'"},
               {"username": "Ja'son", "product_id": "328100", "date": "2017-12-27", "early_access": False},
               {"username": 'a\\b "q" it\'s', "product_id": "1", "date": "2011-01-02", "text": "'product_id': 'x'"}]
    lines = [repr(r) for r in records] * 5
    with gzip.open(tmp_path / "steam" / "steam_reviews.json.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    from seqrec.data.registry import read_kuairand_logs, read_steam_reviews

    df = read_steam_reviews(tmp_path / "steam" / "steam_reviews.json.gz")
    assert rows(df)[:3] == [("Chaos Syren", "725280", 1513468800), ("Ja'son", "328100", 1514332800),
                            ('a\\b "q" it\'s', "1", 1293926400)]
    d = tmp_path / "kuairand" / "KuaiRand-Pure" / "data"
    d.mkdir(parents=True)
    head = "user_id,video_id,date,hourmin,time_ms,is_click,is_like\n"
    (d / "log_standard_4_08_to_4_21_pure.csv").write_text(head + "1,10,20220408,1000,1649383200900,1,0\n"
                                                          "1,11,20220408,1000,1649383200100,1,0\n"
                                                          "2,12,20220408,1000,1649383200000,0,0\n")
    (d / "log_standard_4_22_to_5_08_pure.csv").write_text(head + "2,13,20220422,1000,1650592800000,1,0\n")
    df = read_kuairand_logs(sorted(d.glob("*.csv")))
    assert rows(df) == [("1", "11", 1649383200), ("1", "10", 1649383200), ("2", "13", 1650592800)]
    with pytest.raises(DataError, match="no interactions left after filtering"):
        load_dataset("kuairand", data_dir=tmp_path)  # found, read, and too small for 5-core


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    (tmp_path / "ml-100k").mkdir()
    rng = random.Random(0)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"] + [
        f"u{rng.randrange(5)}\ti{rng.randrange(5)}\t{rng.randrange(100)}" for _ in range(200)]
    (tmp_path / "ml-100k" / "ml-100k.inter").write_text("\n".join(lines) + "\n")
    cache = tmp_path / "cache"
    (cache / "processed").mkdir(parents=True)
    (cache / "processed").chmod(0o500)
    monkeypatch.setenv("SEQREC_CACHE", str(cache))
    try:
        import os

        if os.access(cache / "processed", os.W_OK):
            pytest.skip("running as a user that ignores permissions")
        with pytest.warns(UserWarning, match="could not write the processed-data cache"):
            ds = load_dataset("ml-100k", data_dir=tmp_path)
        assert ds.n_users == 5
    finally:
        (cache / "processed").chmod(0o700)
