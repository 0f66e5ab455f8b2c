"""kernels.specializations: a training epoch's last, partial batch (and the evaluation's) launches only kernel
specializations that the full batch compiled already, for every model with our kernels, fp32 and bf16; a
recompilation there cost 4.5 s of a cold first epoch on an H200 (part 12b)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytest.importorskip("triton")
FULL, PARTIAL, L = 32, (7, 1), 40  # rows B*L: 1280 (a multiple of 16), 280, 40; blocks shrink below 32 rows
CASES = [("tim4rec", None), ("tim4rec", "bf16"), ("ssd4rec", "bf16"), ("mamba4rec", None), ("tisasrec", None),
         ("sasrec", None)]
SCRIPT = """
import json, sys
from kernels.specializations import step_specializations
cases, (seq_len, batches) = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for model, amp in cases:
    keys = step_specializations(model, {"hidden_size": 16, "max_len": seq_len}, 30, seq_len, batches, batches, amp=amp)
    out[f"{model} {amp}"] = {f"{p} {b}": sorted(k) for (p, b), k in keys.items()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def keys() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # real Triton launches, recorded
    args = [json.dumps(CASES), json.dumps([L, [FULL, *PARTIAL]])]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("model,amp", CASES)
def test_partial_batches_compile_nothing_beyond_the_full_batch(keys, model, amp):
    case = keys[f"{model} {amp}"]
    for phase in ("train", "eval"):
        full = set(case[f"{phase} {FULL}"])
        assert full or model == "sasrec" and phase == "eval", f"{phase}: no Triton launch recorded"
        for b in PARTIAL:
            extra = sorted(set(case[f"{phase} {b}"]) - full)
            assert not extra, f"{phase} batch {b} compiles {len(extra)} more: {[k.split(':')[0] for k in extra]}"
