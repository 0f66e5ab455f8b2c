"""The suites' case recording (suites/conftest.py run_case / already_done): skipped, failed, and failures
that break the CUDA context, after which the rest of the process's cases are left for a resumed run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import torch

SUITES_CONFTEST = Path(__file__).resolve().parent.parent / "suites" / "conftest.py"


@pytest.fixture()
def suite(monkeypatch):
    name = "suites_conftest_under_test"
    spec = importlib.util.spec_from_file_location(name, SUITES_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)  # a fresh module: its context-lost state starts empty
    return module


def _raise(e: BaseException):
    def fn():
        raise e
    return fn


def test_ok_skipped_and_failed_cases_are_recorded(suite, tmp_path):
    ok = suite.run_case(tmp_path / "ok.json", {"kind": "latency"}, lambda: {"median_ms": 1.5}, "cpu")
    assert ok["status"] == "ok" and suite.already_done(tmp_path / "ok.json", rerun=False)
    assert not suite.already_done(tmp_path / "ok.json", rerun=True)
    with pytest.raises(pytest.skip.Exception, match="out of memory"):
        suite.run_case(tmp_path / "oom.json", {}, _raise(torch.cuda.OutOfMemoryError("CUDA out of memory")), "cpu")
    assert json.loads((tmp_path / "oom.json").read_text())["status"] == "skipped"
    with pytest.raises(ValueError):
        suite.run_case(tmp_path / "bad.json", {}, _raise(ValueError("boom")), "cpu")
    bad = json.loads((tmp_path / "bad.json").read_text())
    assert bad["status"] == "failed" and bad["fatal"] is False and "boom" in bad["reason"]
    assert not suite.already_done(tmp_path / "bad.json", rerun=False)  # an ordinary failure runs again


def _raise_holding(e: BaseException, refs: list):
    """A case that allocates a tensor and then raises: the tensor lives only in the raising frame."""
    def fn():
        held = torch.ones(1000)
        refs.append(weakref.ref(held))
        raise e
    return fn


def test_a_skipped_or_failed_case_does_not_keep_its_tensors_alive(suite, tmp_path):
    # the next case must get the memory back: part 3 of the GPU campaign lost 80 cases to a traceback that held it
    refs: list = []
    with pytest.raises(pytest.skip.Exception) as skipped:
        suite.run_case(tmp_path / "oom.json", {}, _raise_holding(torch.cuda.OutOfMemoryError("oom"), refs), "cpu")
    with pytest.raises(ValueError) as failed:
        suite.run_case(tmp_path / "bad.json", {}, _raise_holding(ValueError("boom"), refs), "cpu")
    assert skipped.value.__context__ is None  # the skip does not chain the out-of-memory error
    assert failed.value.__traceback__ is not None  # the failure keeps its traceback for the report
    assert [r() for r in refs] == [None, None]


def test_a_broken_cuda_context_stops_the_process_cases_and_resumes_past_the_culprit(suite, tmp_path):
    lost = torch.AcceleratorError("CUDA error: an illegal memory access was encountered")
    with pytest.raises(torch.AcceleratorError):
        suite.run_case(tmp_path / "culprit.json", {}, _raise(lost), "cpu")
    culprit = json.loads((tmp_path / "culprit.json").read_text())
    assert culprit["status"] == "failed" and culprit["fatal"] is True
    with pytest.raises(pytest.skip.Exception, match="culprit.json"):
        suite.run_case(tmp_path / "next.json", {}, lambda: {"median_ms": 1.0}, "cpu")
    assert not (tmp_path / "next.json").exists()  # left for the resumed run
    assert suite.already_done(tmp_path / "culprit.json", rerun=False)
    assert not suite.already_done(tmp_path / "culprit.json", rerun=True)


def test_workload_grid_adds_the_graphed_step_on_cuda_only(suite):
    prof = suite.PROFILES["full"]
    cpu, cuda = suite.workload_cases(prof, "cpu"), suite.workload_cases(prof, "cuda")
    assert {c[1] for c in cpu} == {"train_step", "inference"}
    graphed = [c for c in cuda if c[1] == "train_step_graph"]
    assert graphed and {c[0] for c in graphed} == set(prof.models)  # TiSASRec too: its kernel seed is on the device
    assert {c[5] for c in graphed} == {"auto"}  # ours only: the official kernels are not captured
    assert [c for c in cuda if c[1] != "train_step_graph"] == cpu  # the other cases (and their files) unchanged
    mamba = {c[0] for c in cpu if c[5] == "mamba_ssm"}
    assert mamba == set(suite.MAMBA_SSM_MODELS)


class _Options:
    """A pytest config stand-in holding the suites' execution options."""

    def __init__(self, graph=False, compile=False, tf32=False, amp=None):
        self.options = {"--cuda-graph": graph, "--compile": compile, "--tf32": tf32, "--amp": amp}

    def getoption(self, name):
        return self.options[name]


def test_cuda_graph_option_asks_the_training_cases_for_a_cuda_graph_on_cuda_only(suite, monkeypatch):
    monkeypatch.delenv("SEQREC_CUDA_GRAPH", raising=False)
    monkeypatch.delenv("SEQREC_COMPILE", raising=False)
    monkeypatch.delenv("SEQREC_TF32", raising=False)
    assert suite.execution_of(_Options(), "cuda") == {}
    assert suite.execution_of(_Options(graph=True), "cuda") == {"cuda_graph": True}
    monkeypatch.setenv("SEQREC_CUDA_GRAPH", "1")
    assert suite.execution_of(_Options(), "cuda:1") == {"cuda_graph": True}
    with pytest.raises(pytest.UsageError, match="needs the cuda device"):
        suite.execution_of(_Options(), "cpu")


def test_compile_option_asks_for_the_compiled_loss_with_eagers_dropout_draws(suite, monkeypatch):
    monkeypatch.delenv("SEQREC_CUDA_GRAPH", raising=False)
    monkeypatch.delenv("SEQREC_COMPILE", raising=False)
    monkeypatch.delenv("SEQREC_TF32", raising=False)
    compiled = {"compile": True, "compile_rng": "eager"}
    assert suite.execution_of(_Options(compile=True), "cpu") == compiled
    assert suite.execution_of(_Options(graph=True, compile=True), "cuda") == {"cuda_graph": True, **compiled}
    monkeypatch.setenv("SEQREC_COMPILE", "1")
    assert suite.execution_of(_Options(), "cuda") == compiled


def test_tf32_option_asks_for_tf32_products(suite, monkeypatch):
    for name in ("SEQREC_CUDA_GRAPH", "SEQREC_COMPILE", "SEQREC_TF32"):
        monkeypatch.delenv(name, raising=False)
    assert suite.execution_of(_Options(tf32=True), "cuda") == {"tf32": True}
    assert suite.execution_of(_Options(graph=True, tf32=True), "cuda") == {"cuda_graph": True, "tf32": True}
    monkeypatch.setenv("SEQREC_TF32", "1")
    assert suite.execution_of(_Options(), "cuda") == {"tf32": True}


def test_amp_option_asks_for_autocast_and_a_bad_variable_names_itself(suite, monkeypatch):
    for name in ("SEQREC_CUDA_GRAPH", "SEQREC_COMPILE", "SEQREC_TF32", "SEQREC_AMP"):
        monkeypatch.delenv(name, raising=False)
    assert suite.execution_of(_Options(), "cuda") == {}
    fast = suite.execution_of(_Options(graph=True, compile=True, amp="bf16"), "cuda")
    assert fast == {"cuda_graph": True, "compile": True, "compile_rng": "eager", "amp": "bf16"}
    monkeypatch.setenv("SEQREC_AMP", "fp16")
    assert suite.execution_of(_Options(), "cuda") == {"amp": "fp16"}
    assert suite.execution_of(_Options(amp="bf16"), "cuda") == {"amp": "bf16"}  # the option before the variable
    monkeypatch.setenv("SEQREC_AMP", "bfloat16")
    with pytest.raises(pytest.UsageError, match="SEQREC_AMP='bfloat16'"):
        suite.execution_of(_Options(), "cuda")


def test_the_suites_train_config_with_compile_is_one_train_accepts():
    """What ``--compile`` adds passes the trainer's own check of a train config (a key it does not know, or a
    compile_rng it does not take, would fail every run of a campaign at its start)."""
    from seqrec.train import resolve_train_config

    for model in ("sasrec", "tisasrec", "mamba4rec", "ssd4rec", "tim4rec"):
        cfg = resolve_train_config(model, "ml-1m", {"epochs": 1, "patience": 1, "compile": True,
                                                    "compile_rng": "eager", "cuda_graph": True, "tf32": True,
                                                    "amp": "bf16"})
        assert cfg["compile"] is True and cfg["compile_rng"] == "eager" and cfg["tf32"] is True
        assert cfg["amp"] == "bf16"


def test_a_case_another_process_holds_is_skipped_without_a_result_file(suite, tmp_path):
    from seqrec.run_claim import RunClaimed

    with pytest.raises(pytest.skip.Exception, match="left to another process: x.lock: held"):
        suite.run_case(tmp_path / "held.json", {}, _raise(RunClaimed("x.lock: held")), "cpu")
    assert not (tmp_path / "held.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("suite_file,case,out", [
    ("test_accuracy.py", "sasrec-ml-100k-h32-s0", "accuracy/sasrec-ml-100k-h32-s0.json"),
    ("test_ablation.py", "layers_1-ml-100k-h32-s0", "ablation/layers_1-ml-100k-h32-s0.json"),
    # evaluated at other lengths: the suite keeps a copy of the checkpoint (.weights), not for a case it leaves
    ("test_ablation.py", "official-ml-100k-h32-s0", "ablation/official-ml-100k-h32-s0.json"),
])
def test_the_suites_leave_a_case_another_process_trains_to_it(tmp_path, raw_data_dir, suite_file, case, out):
    """The accuracy and ablation suites, run while another process holds a case: skipped as left to it, no result
    file written."""
    from tests.test_run_claim import hold_in_another_process

    result = tmp_path / "res" / out
    ckpt = result.with_name(result.name + ".ckpt")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"the holder's checkpoint")  # mid-run: neither read nor copied by the suite
    holder = hold_in_another_process(ckpt)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", f"suites/{suite_file}::{suite_file[:-3]}[{case}]", "--benchmark-only",
             "--profile", "smoke", "--results-dir", str(tmp_path / "res"), "-q", "-rs", "-p", "no:cacheprovider"],
            cwd=SUITES_CONFTEST.parent.parent, capture_output=True, text=True, timeout=600,
            env={**os.environ, "SEQREC_DATA": str(raw_data_dir), "SEQREC_CACHE": str(tmp_path / "cache")})
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped in" in run.stdout and "passed" not in run.stdout, run.stdout
    assert "left to another process" in run.stdout, run.stdout
    assert not result.exists() and not result.with_name(result.name + ".weights").exists()
    assert ckpt.read_bytes() == b"the holder's checkpoint"
