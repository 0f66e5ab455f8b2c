"""Test-wide settings: the real data directory when it is at hand, and the GPU marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_RAW = REPO.parent / "shared" / "data" / "raw"

if "SEQREC_DATA" not in os.environ and SHARED_RAW.is_dir():
    os.environ["SEQREC_DATA"] = str(SHARED_RAW)

# Without CUDA the Triton kernels run under the interpreter. Triton reads this when it is first imported, which
# a test module collected before the kernel tests may do (torch.utils.flop_counter imports it): set it here.
os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")


def pytest_make_parametrize_id(config, val, argname):
    """torch dtypes in test ids by name (``float32``, ``bfloat16``), so ``-k 'not bfloat16'`` selects them."""
    import torch

    if isinstance(val, torch.dtype):
        return str(val).removeprefix("torch.")
    return None


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def raw_data_dir() -> Path:
    """The directory with the real datasets (../shared/data/raw or $SEQREC_DATA); skips when absent."""
    path = Path(os.environ.get("SEQREC_DATA", SHARED_RAW))
    if not path.is_dir():
        pytest.skip(f"real data not available at {path}")
    return path
