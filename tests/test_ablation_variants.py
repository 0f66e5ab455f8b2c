"""The ablation suite's variant table (suites/ablation_variants.py): every variant builds, the equal-parameter
variants match within tolerance, and no two variants of a group train the same model. CPU, no data needed
(dataset shapes below are those of the processed datasets)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import models

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))
import ablation_variants as av  # noqa: E402

# (n_items, default max_len) after 5-core filtering, as seqrec.data.load_dataset gives them
SHAPES = {"ml-100k": (1349, 200), "ml-1m": (3416, 200), "amazon-beauty": (12101, 50)}
SMOKE_MAX_LEN = 50  # suites/conftest.py smoke profile


def _shape(dataset: str, max_len: int | None, options: tuple = ()) -> tuple[int, int]:
    n_items, default = SHAPES[dataset]
    return n_items, max_len or default


def _grid_cases(grid_name: str):
    grid = av.GRIDS[grid_name]
    max_len = SMOKE_MAX_LEN if grid_name == "smoke" else None
    return av.ablation_cases(grid, max_len, shape=_shape, names=list(grid.variants))


@pytest.mark.parametrize("name", sorted(av.VARIANTS))
def test_variant_builds(name):
    spec = av.VARIANTS[name]
    for dataset, (n_items, max_len) in SHAPES.items():
        for hidden in (16, 64):
            config = av.variant_config(name, hidden, max_len)
            model = models.build(spec["model"], config, n_items, dataset=dataset)
            cfg = av.resolved_config(name, dataset, hidden, max_len)
            for key, value in spec["config"].items():
                assert cfg[key] == value
                if hasattr(model, key):
                    assert getattr(model, key) == value, (name, key)
    with torch.no_grad():  # and runs a forward pass at its max_len
        model = models.build(spec["model"], av.variant_config(name, 16, 8), 30).eval()
        seq = torch.randint(1, 31, (2, 8))
        times = torch.cumsum(torch.randint(0, 1000, (2, 8)), 1)
        scores = model.full_scores(seq, torch.tensor([8, 5]), times)
        assert scores.shape == (2, 31) and torch.isfinite(scores).all()


def test_misspelled_switch_is_caught():
    with pytest.raises(KeyError):
        models.build("tim4rec", {"time_pth": False}, 30)
    with pytest.raises(ValueError):
        av.check_variant("bad", {"model": "tim4rec", "config": {}, "group": "g", "hidden": 3})
    with pytest.raises(ValueError):
        av.check_variant("bad", {"model": "tim4rec", "config": {"hidden_size": 8}, "group": "g"})


def test_switches_change_the_model():
    """Each variant's override really differs from the default (a no-op override would train 'full' again)."""
    for name, spec in av.VARIANTS.items():
        if name == av.REFERENCE or spec["model"] != "tim4rec":
            continue
        defaults = models.default_config("tim4rec")
        assert any(defaults[k] != v for k, v in spec["config"].items()) or name.startswith("time_residual"), name


@pytest.mark.parametrize("grid_name", sorted(av.GRIDS))
def test_no_two_variants_of_a_group_are_identical(grid_name):
    cases = _grid_cases(grid_name)
    seen: dict[tuple, str] = {}
    for c in cases:
        if c.seed != cases[0].seed:
            continue
        key = (c.group, c.dataset, c.hidden, c.model, tuple(sorted(av.resolved_config(c.variant, c.dataset, c.hidden,
                                                                               c.config.get("max_len")).items())),
               tuple(sorted(c.dataset_options.items())))
        assert key not in seen, f"{c.id} trains the same model as {seen[key]}"
        seen[key] = c.id
    # within each group, on every dataset, variants differ pairwise (before dropping duplicates of full)
    groups: dict[str, list[str]] = {}
    for name, spec in av.VARIANTS.items():
        groups.setdefault(spec["group"], []).append(name)
    for dataset in SHAPES:
        for names in groups.values():
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    assert not av.same_as(a, b, dataset, 64, None), (dataset, a, b)


def test_variants_equal_to_full_are_dropped_per_dataset():
    ids = {c.id for c in _grid_cases("full")}
    assert "time_residual_point-amazon-beauty-h64-s0" not in ids  # point is amazon-beauty's default
    assert "time_residual_shared-amazon-beauty-h64-s0" in ids
    assert "time_residual_shared-ml-1m-h64-s0" not in ids
    assert "time_residual_point-ml-1m-h64-s0" in ids


@pytest.mark.parametrize("grid_name", sorted(av.GRIDS))
def test_equal_parameter_pairs_within_tolerance(grid_name):
    matched = [c for c in _grid_cases(grid_name) if c.param_match is not None]
    assert matched or grid_name == "smoke" and not any("match" in av.VARIANTS[v] for v in av.GRIDS["smoke"].variants)
    for c in matched:
        m = c.param_match
        assert m["within_tolerance"] and abs(m["relative_difference"]) <= av.MATCH_TOLERANCE, (c.id, m)
        n_items, max_len = _shape(c.dataset, c.config.get("max_len"))
        cfg = {**c.config, "max_len": max_len}
        assert av.parameter_count(c.model, cfg, n_items, c.dataset) == m["parameters"]
        ref = av.resolved_config(m["reference"], c.dataset, m["reference_hidden"], None) | {"max_len": max_len}
        assert av.parameter_count(m["reference_model"], ref, n_items, c.dataset) == m["reference_parameters"]
        # and counted on the meta device as on the CPU
        built = models.build(c.model, cfg, n_items, dataset=c.dataset)
        assert sum(p.numel() for p in built.parameters()) == m["parameters"]


def test_grids():
    smoke = _grid_cases("smoke")
    assert 1 <= len(smoke) <= 8 and {c.dataset for c in smoke} == {"ml-100k"} and {c.seed for c in smoke} == {0}
    assert all(c.config.get("max_len") == SMOKE_MAX_LEN for c in smoke)
    full = _grid_cases("full")
    assert {c.dataset for c in full} == {"amazon-beauty", "ml-1m"} and {c.seed for c in full} == {0, 1, 2}
    ids = [c.id for c in full]
    assert len(ids) == len(set(ids))
    for dataset in ("amazon-beauty", "ml-1m"):  # every table (dataset, hidden) has its full reference
        hiddens = {c.hidden for c in full if c.dataset == dataset and c.param_match is None}
        assert hiddens == {16, 32, 64, 128}
        assert all(f"full-{dataset}-h{h}-s0" in ids for h in hiddens)
    for v in ("backbone_ssd", "backbone_ssm", "backbone_attention"):
        assert all(f"{v}-ml-1m-h{h}-s0" in ids for h in (16, 32, 64, 128))
    assert {v for v in av.VARIANTS if v not in {c.variant for c in full}} <= {"time_residual_point",
                                                                              "time_residual_shared"}


def test_narrowing():
    grid = av.GRIDS["full"]
    cases = av.ablation_cases(grid, None, names=["backbone"], hiddens=[16], seeds=[1], datasets=["ml-1m"],
                              shape=_shape)
    assert sorted(c.id for c in cases) == sorted(f"{v}-ml-1m-h16-s1" for v in (
        "full", "backbone_ssd", "backbone_ssm", "backbone_attention"))
    cases = av.ablation_cases(grid, None, models_=["tisasrec"], datasets=["ml-1m"], seeds=[0], shape=_shape)
    assert [c.variant for c in cases] == ["full", "matched_tisasrec"]  # the reference is always kept
    with pytest.raises(ValueError):
        av.selected_variants(grid, names=["no_such_variant"])


def test_unavailable_data_is_a_recorded_problem():
    def missing(*args):
        raise FileNotFoundError("no data here")

    cases = av.ablation_cases(av.GRIDS["full"], None, names=["time_mechanism"], datasets=["ml-1m"], seeds=[0],
                              shape=missing)
    matched = [c for c in cases if c.variant.startswith("matched_")]
    assert matched and all(c.problem and "no data here" in c.problem for c in matched)


def test_a_backbone_case_reuses_the_accuracy_suites_identical_run(tmp_path):
    import json

    cases = {c.id: c for c in av.ablation_cases(av.GRIDS["full"], None, shape=_shape,
                                                  datasets=["amazon-beauty"], seeds=[1])}
    ssd, ssm, full = (cases[f"{v}-amazon-beauty-h64-s1"] for v in ("backbone_ssd", "backbone_ssm", "full"))
    train_config = {"epochs": 200, "patience": 10}
    config = av.resolved_config("backbone_ssd", "amazon-beauty", 64, None)

    def write(model, **changes):
        r = {"kind": "train", "status": "ok", "model": model, "seed": 1, "variant": None,
             "dataset": {"name": "amazon-beauty", "max_len": 50}, "config": {**config, "backend": "auto"},
             "train_config": {**train_config, "batch_size": 2048, "max_steps_per_epoch": None}}
        for key, value in changes.items():
            r[key] = {**r[key], **value} if isinstance(value, dict) else value
        (tmp_path / f"{model}-amazon-beauty-h64-s1.json").write_text(json.dumps(r))
        return r

    assert av.reusable_accuracy_result(ssd, tmp_path, train_config, None, None) is None  # nothing there yet
    written = write("ssd4rec")
    path, same = av.reusable_accuracy_result(ssd, tmp_path, train_config, None, None)
    assert path.name == "ssd4rec-amazon-beauty-h64-s1.json" and same == written
    for change in ({"train_config": {"patience": 5}}, {"config": {"d_state": 8}}, {"status": "failed"},
                   {"train_config": {"max_steps_per_epoch": 30}}, {"seed": 2}):
        write("ssd4rec", **change)
        assert av.reusable_accuracy_result(ssd, tmp_path, train_config, None, None) is None, change
    assert av.reusable_accuracy_result(ssd, tmp_path, train_config, None, 40) is None  # another max_len
    # a CUDA graph changes how the steps ran, not the run (seqrec.train.EXECUTION_ONLY): reused either way
    write("ssd4rec", train_config={"cuda_graph": True})
    assert av.reusable_accuracy_result(ssd, tmp_path, train_config, None, None) is not None
    write("ssd4rec", train_config={"cuda_graph": False})
    assert av.reusable_accuracy_result(ssd, tmp_path, {**train_config, "cuda_graph": True}, None, None) is not None
    write("ssd4rec", train_config={"cuda_graph": True, "lr": 0.1})
    assert av.reusable_accuracy_result(ssd, tmp_path, {**train_config, "lr": 0.01}, None, None) is None
    # precision is part of the run: a bf16 or compiled grid run is not an fp32 line's row, nor the other way round
    for precision in ({"amp": "bf16"}, {"tf32": True}, {"compile": True, "compile_rng": "eager"}):
        write("ssd4rec", train_config=precision)
        assert av.reusable_accuracy_result(ssd, tmp_path, train_config, None, None) is None, precision
        assert av.reusable_accuracy_result(ssd, tmp_path, {**train_config, **precision}, None, None) is not None
    write("ssd4rec", train_config={"amp": None, "tf32": False, "compile": False})  # unset, None, False read alike
    assert av.reusable_accuracy_result(ssd, tmp_path, train_config, None, None) is not None
    write("mamba4rec")  # the SSM backbone has 2 layers, Mamba4Rec as configured 1: another run
    assert av.reusable_accuracy_result(ssm, tmp_path, train_config, None, None) is None
    write("tim4rec")  # full TiM4Rec is also evaluated at other lengths: it needs its own weights
    assert av.reusable_accuracy_result(full, tmp_path, train_config, None, None) is None
