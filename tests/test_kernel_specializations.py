"""kernels.specializations: a kernel's specializations do not depend on the batch size, for every model with our
kernels, fp32 and bf16: a training epoch's last, partial batch (and the evaluation's) compiles nothing the full batch
did not (a recompilation there cost 4.5 s of a cold first epoch on an H200, part 12b), and the prewarm's small dry
batch (``kernels.prewarm.dry_batch_size``) compiles exactly the full batch's kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytest.importorskip("triton")
FULL, OTHERS, L = 32, (7, 2, 1), 40  # rows B*L: 1280 (a multiple of 16), 280, 80 (the dry batch), 40
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


def launched_keys(cases, **env_vars) -> dict:
    """{"model amp": {"phase batch": sorted specialization keys}} of a subprocess with ``env_vars`` set."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # real Triton launches, recorded
    args = [json.dumps(cases), json.dumps([L, [FULL, *OTHERS]])]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=REPO, env={**env, **env_vars},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def keys() -> dict:
    return launched_keys(CASES)


def test_the_prewarm_dry_batch_is_among_those_checked():
    from kernels.prewarm import DRY_ROWS, dry_batch_size

    assert dry_batch_size(L) in OTHERS and FULL * L > DRY_ROWS


@pytest.mark.parametrize("model,amp", CASES)
def test_every_batch_size_launches_the_full_batch_specializations(keys, model, amp):
    case = keys[f"{model} {amp}"]
    for phase in ("train", "eval"):
        full = set(case[f"{phase} {FULL}"])
        assert full or model == "sasrec" and phase == "eval", f"{phase}: no Triton launch recorded"
        for b in OTHERS:
            other = set(case[f"{phase} {b}"])
            assert other == full, (f"{phase} batch {b}: {len(other - full)} specializations beyond batch {FULL}'s "
                                   f"{[k.split(':')[0] for k in other - full]}, {len(full - other)} of its missing")


def test_the_fused_time_mlp_compiles_once_for_every_batch_size():
    """SEQREC_TIME_MLP_KERNEL=1 (kernels.scalar_mlp): TiM4Rec bf16's time MLP kernels, one specialization each."""
    case = launched_keys([("tim4rec", "bf16")], SEQREC_TIME_MLP_KERNEL="1")["tim4rec bf16"]
    full = set(case[f"train {FULL}"])
    assert {k.split(":")[0] for k in full} >= {"_time_mlp_fwd_kernel", "_time_mlp_bwd_kernel"}
    for b in OTHERS:
        assert set(case[f"train {b}"]) == full, f"train batch {b}"


def test_the_dry_step_takes_the_time_mlp_kernels_a_cuda_run_takes(keys):
    """TiM4Rec's time MLP goes through kernels.time_mlp on CUDA features and nn.Linear on CPU ones
    (models.tim4rec.time_mlp_kernel): the CPU dry step launches the CUDA run's kernels (part 27's prewarm missed
    them), and none where SEQREC_TIME_MLP_KERNEL=0 turns them off for the run too."""
    mlp = {"_time_mlp_fwd_kernel", "_time_mlp_bwd_kernel"}
    for amp in (None, "bf16"):
        assert mlp <= {k.split(":")[0] for k in keys[f"tim4rec {amp}"][f"train {FULL}"]}, amp
    off = launched_keys([("tim4rec", "bf16")], SEQREC_TIME_MLP_KERNEL="0")["tim4rec bf16"]
    assert not mlp & {k.split(":")[0] for k in off[f"train {FULL}"]}


def test_command_line_counts_each_batch_against_the_first():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    args = ["--model", "ssd4rec", "--config", json.dumps({"hidden_size": 16, "max_len": L}), "--n-items", "30",
            "--seq-len", str(L), "--train-batches", f"{FULL},7", "--eval-batches", f"{FULL},7"]
    done = subprocess.run([sys.executable, "-m", "kernels.specializations", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"train {FULL}: ") and int(lines[0].split()[2]) > 0
    assert f"train 7: 0 beyond train {FULL}'s" in lines and f"eval 7: 0 beyond eval {FULL}'s" in lines
