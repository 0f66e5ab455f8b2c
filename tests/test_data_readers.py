"""Each reader on small hand-written files, and every bad input: a clear DataError naming file/line/field."""

from __future__ import annotations

import gzip
import zipfile

import pandas as pd
import pytest

from seqrec.data import DataError, load_dataset
from seqrec.data.readers import read_atomic, read_grouplens, read_paired, read_table

ATOMIC = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" \
         "u1\ti1\t4\t881250949\nu2\ti2\t3\t891717742.0\nu1\ti3\t5\t1000000000123\n"


def test_atomic_exact_int64_timestamps(tmp_path):
    p = tmp_path / "x.inter"
    p.write_text(ATOMIC)
    df = read_atomic(p)
    assert list(df["user"]) == ["u1", "u2", "u1"] and list(df["item"]) == ["i1", "i2", "i3"]
    assert df["timestamp"].dtype == "int64"
    assert list(df["timestamp"]) == [881250949, 891717742, 1000000000123]  # exact, no float32 rounding


def test_atomic_crlf(tmp_path):
    p = tmp_path / "x.inter"
    p.write_bytes(ATOMIC.replace("\n", "\r\n").encode())
    assert list(read_atomic(p)["timestamp"]) == [881250949, 891717742, 1000000000123]


def test_grouplens_plain_gz_zip(tmp_path):
    text = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"
    (tmp_path / "ratings.dat").write_text(text)
    with gzip.open(tmp_path / "ratings.dat.gz", "wt") as f:
        f.write(text)
    with zipfile.ZipFile(tmp_path / "ml-1m.zip", "w") as z:
        z.writestr("ml-1m/ratings.dat", text)
    frames = [read_grouplens(tmp_path / n) for n in ("ratings.dat", "ratings.dat.gz", "ml-1m.zip")]
    for df in frames:
        assert list(df["item"]) == ["1193", "661", "1357"]
        assert list(df["timestamp"]) == [978300760, 978302109, 978298709]


def test_paired(tmp_path):
    (tmp_path / "i.txt").write_text("7 3 4 5\n8 1\n")
    (tmp_path / "t.txt").write_text("7 10 20 30\n8 99\n")
    df = read_paired(tmp_path / "i.txt", tmp_path / "t.txt")
    assert list(df["user"]) == ["7", "7", "7", "8"] and list(df["timestamp"]) == [10, 20, 30, 99]


def test_csv_and_parquet_with_column_map(tmp_path):
    df = pd.DataFrame({"u": ["a", "b"], "v": ["x", "y"], "ts": [5, 6]})
    df.to_csv(tmp_path / "x.csv", index=False)
    cols = {"user": "u", "item": "v", "timestamp": "ts"}
    assert list(read_table(tmp_path / "x.csv", cols)["timestamp"]) == [5, 6]
    pytest.importorskip("pyarrow")
    df.to_parquet(tmp_path / "x.parquet")
    assert list(read_table(tmp_path / "x.parquet", cols)["item"]) == ["x", "y"]


@pytest.mark.parametrize("content, line, needle", [
    ("user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t5\nu2\ti2\n", 3, "malformed"),
    ("user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t5\nu2\ti2\tyesterday\n", 3, "not a number"),
    ("user_id:token\titem_id:token\nu1\ti1\n", 1, "timestamp"),
    ("user_id\titem_id\ttimestamp\nu1\ti1\t1\n", 1, "name:token"),
])
def test_atomic_bad_input(tmp_path, content, line, needle):
    p = tmp_path / "bad.inter"
    p.write_text(content)
    with pytest.raises(DataError) as e:
        read_atomic(p)
    assert str(p) in str(e.value) and f":{line}" in str(e.value) and needle in str(e.value)


def test_grouplens_bad_line(tmp_path):
    p = tmp_path / "ratings.dat"
    p.write_text("1::2::3::4\n1::2::3\n")
    with pytest.raises(DataError, match=r"ratings.dat:2: malformed"):
        read_grouplens(p)
    p.write_text("1::2::3::4\n1::2::3::soon\n")
    with pytest.raises(DataError, match=r"ratings.dat:2: field 'timestamp': timestamp 'soon' is not a number"):
        read_grouplens(p)


def test_paired_mismatches(tmp_path):
    (tmp_path / "i.txt").write_text("7 3 4\n8 1\n")
    (tmp_path / "t.txt").write_text("7 10 20\n9 99\n")
    with pytest.raises(DataError, match=r"i.txt:2: user '8'"):
        read_paired(tmp_path / "i.txt", tmp_path / "t.txt")
    (tmp_path / "t.txt").write_text("7 10\n8 99\n")
    with pytest.raises(DataError, match=r"i.txt:1: 2 items but 1 timestamps"):
        read_paired(tmp_path / "i.txt", tmp_path / "t.txt")
    (tmp_path / "t.txt").write_text("7 10 x\n8 99\n")
    with pytest.raises(DataError, match=r"t.txt:1: field 'timestamp'"):
        read_paired(tmp_path / "i.txt", tmp_path / "t.txt")


def test_table_missing_column(tmp_path):
    pd.DataFrame({"u": ["a"], "v": ["x"]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(DataError, match=r"field 'ts': missing column"):
        read_table(tmp_path / "x.csv", {"user": "u", "item": "v", "timestamp": "ts"})


def test_missing_file_and_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_atomic(tmp_path / "nope.inter")
    with pytest.raises(DataError, match="unknown dataset 'nope'; known: ml-100k"):
        load_dataset("nope")
    with pytest.raises(DataError, match="Beauty_item_org_rank.txt"):
        load_dataset("amazon-beauty", data_dir=tmp_path)
    with pytest.raises(DataError, match="kuairand.com"):
        load_dataset("kuairand", data_dir=tmp_path)
    with pytest.raises(DataError, match="steam_reviews.json.gz"):
        load_dataset("steam", data_dir=tmp_path)


def test_empty_after_filtering(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "ml-100k.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1\nu1\ti2\t2\n")
    with pytest.raises(DataError, match="no interactions left after filtering"):
        load_dataset("ml-100k", data_dir=tmp_path)
