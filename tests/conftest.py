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


def _interpreter_loop_bounds_fix() -> None:
    """Triton 3.6's interpreter passes an int argument as a 1-element array and int()s it for a loop bound (our
    backward kernels' ``range(0, tiles_per_prog)``), which numpy >= 2.4 refuses: apply Triton's upstream fix
    (triton-lang/triton#9171, ``int(data.squeeze())``) to the interpreter's tensor patching."""
    try:
        from triton.runtime import interpreter
    except ImportError:
        return
    patch = interpreter._patch_lang_tensor
    if getattr(patch, "loop_bounds_fixed", False):
        return

    def patched(tensor, scope):
        patch(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.squeeze()))

    patched.loop_bounds_fixed = True
    interpreter._patch_lang_tensor = patched


if os.environ["TRITON_INTERPRET"] not in ("", "0"):
    _interpreter_loop_bounds_fix()


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
