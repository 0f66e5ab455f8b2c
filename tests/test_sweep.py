"""`seqrec sweep`: runs a grid as separate processes, records a failed run and goes on, resumes by
skipping finished runs, leaves a run another process holds to it, and runs the same grid through a local Ray
instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqrec import run_claim, sweep
from seqrec.cli import main
from tests.test_run_claim import hold_in_another_process

pytestmark = pytest.mark.slow


def _args(out, *extra):
    return ["sweep", "--models", "sasrec", "--datasets", "ml-100k", "--hidden", "8", "--epochs", "1",
            "--max-steps-per-epoch", "2", "--max-len", "10", "--device", "cpu", "--out", str(out), *extra]


def test_grid_failure_recorded_and_resume(tmp_path, raw_data_dir, capsys, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    grid = tmp_path / "grid.yaml"
    grid.write_text("seeds: [0, 1]\nvariants:\n  base: {}\n  broken: {no_such_key: 1}\n")
    out = tmp_path / "res"
    assert main(_args(out, "--grid", str(grid), "--workers", "2")) == 1  # the broken variant fails
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == [f"sasrec-ml-100k-h8-s{s}-{v}.json" for s in (0, 1) for v in ("base", "broken")]
    for s in (0, 1):
        ok = json.loads((out / f"sasrec-ml-100k-h8-s{s}-base.json").read_text())
        assert ok["status"] == "ok" and ok["seed"] == s and ok["variant"] == "base"
        bad = json.loads((out / f"sasrec-ml-100k-h8-s{s}-broken.json").read_text())
        assert bad["status"] == "failed" and "no_such_key" in bad["reason"]
    capsys.readouterr()
    assert main(_args(out, "--grid", str(grid), "--dry-run")) == 0
    listing = capsys.readouterr().out
    assert "4 runs, 2 already done, 2 to run" in listing


def test_ray_engine(tmp_path, raw_data_dir, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "res"
    assert main(_args(out, "--seeds", "0", "--engine", "ray")) == 0
    result = json.loads((out / "sasrec-ml-100k-h8-s0.json").read_text())
    assert result["status"] == "ok"


def test_bad_grid_file(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_text("models: [sasrec]\nwhatever: 1\n")
    with pytest.raises(SystemExit, match="unknown key"):
        main(["sweep", "--grid", str(grid)])


def test_gpu_slots_count_within_inherited_visible_devices(monkeypatch):
    from seqrec.sweep import local_slots

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert [s["CUDA_VISIBLE_DEVICES"] for s in local_slots(None, None)] == ["2", "3"]
    assert [s["CUDA_VISIBLE_DEVICES"] for s in local_slots(None, "1,1")] == ["3", "3"]
    with pytest.raises(SystemExit, match="CUDA_VISIBLE_DEVICES=2,3"):
        local_slots(None, "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert [s["CUDA_VISIBLE_DEVICES"] for s in local_slots(None, "0,2")] == ["0", "2"]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [s["OMP_NUM_THREADS"] for s in local_slots(3, None)] == ["2", "2", "2"]
    assert "OMP_NUM_THREADS" not in local_slots(1, None)[0]
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert [s["OMP_NUM_THREADS"] for s in local_slots(2, None)] == ["5", "5"]


def test_boolean_train_options_are_bare_flags():
    from seqrec.sweep import Run

    on = Run("tim4rec", "amazon-beauty", 64, 0, train=(("batch_size", 2048), ("cuda_graph", True))).command(Path("o"))
    assert on[on.index("--batch-size"):on.index("--batch-size") + 3] == ["--batch-size", "2048", "--cuda-graph"]
    assert "True" not in on
    off = Run("tim4rec", "amazon-beauty", 64, 0, train=(("cuda_graph", False),)).command(Path("o"))
    assert "--cuda-graph" not in off and "False" not in off
    both = (("compile", True), ("compile_ahead", True))
    ahead = Run("tim4rec", "amazon-beauty", 64, 0, train=both).command(Path("o"))
    assert ahead[-2:] == ["--compile", "--compile-ahead"]
    import argparse

    from seqrec.train_cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "tim4rec", "--dataset", "x", *ahead[ahead.index("--compile"):]])
    assert args.compile and args.compile_ahead
    graphed = Run("tim4rec", "amazon-beauty", 64, 0, train=(("cuda_graph", True), ("graph_batch", True)))
    flags = graphed.command(Path("o"))[-2:]
    assert flags == ["--cuda-graph", "--graph-batch"]
    args = parser.parse_args(["--model", "tim4rec", "--dataset", "x", *flags])
    assert args.cuda_graph and args.graph_batch
    tf32 = Run("tim4rec", "amazon-beauty", 64, 0, train=(("tf32", True),)).command(Path("o"))
    assert tf32[-1] == "--tf32" and parser.parse_args(["--model", "tim4rec", "--dataset", "x", "--tf32"]).tf32


def test_runs_another_process_holds_or_finished_are_left_to_it(tmp_path, raw_data_dir, capsys, monkeypatch):
    """Two sweeps over one folder: a run the other holds is left to it (no result file, not a failure), and one it
    finished after this sweep planned it is not started again."""
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "res"
    held = out / "sasrec-ml-100k-h8-s0.json"
    holder = hold_in_another_process(held.with_name(held.name + ".ckpt"))
    try:
        assert main(_args(out, "--seeds", "0,1")) == 0
    finally:
        holder.kill()
        holder.wait()
    printed = capsys.readouterr().out
    assert "sasrec-ml-100k-h8-s0: left to another process" in printed
    assert "sweep finished: 1 ok, 1 left to other processes, 0 failed" in printed
    assert not held.exists() and not held.with_suffix(".log").exists()
    assert json.loads((out / "sasrec-ml-100k-h8-s1.json").read_text())["status"] == "ok"

    def no_process(*a, **kw):
        raise AssertionError("a finished run was started again")

    monkeypatch.setattr(sweep.subprocess, "run", no_process)
    run = sweep.Run("sasrec", "ml-100k", 8, 1)
    assert sweep.execute(run, out / "sasrec-ml-100k-h8-s1.json", {})[1] == run_claim.EXIT_CODE
