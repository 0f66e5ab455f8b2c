"""atomic_open: the target appears complete or not at all; a failed write keeps the old file, leaves no
temporary file behind."""

from __future__ import annotations

import pytest

from seqrec.atomic import atomic_open


def test_success_replaces_and_failure_keeps_old(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with atomic_open(target) as f:
        f.write("old")
    assert target.read_text() == "old"
    with pytest.raises(RuntimeError, match="boom"), atomic_open(target) as f:
        f.write("half-writ")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
    with atomic_open(target, "wb") as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"


def test_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "x", "a"):
        pass
