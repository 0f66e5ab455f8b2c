"""The five models and a registry by name.

    model = models.build("tim4rec", config={"hidden_size": 128}, n_items=12101, dataset="amazon-beauty")

Defaults live in ``models/configs/<name>.toml`` (``[model]`` and ``[train]`` tables, with per-dataset
overrides under ``[dataset."<dataset>".model]`` / ``[dataset."<dataset>".train]``); ``config`` overrides
them key by key. An unknown key is an error naming the key and the file.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any

from models.common import SeqRecModel

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

MODELS: dict[str, str] = {
    "sasrec": "models.sasrec:SASRec",
    "tisasrec": "models.tisasrec:TiSASRec",
    "mamba4rec": "models.mamba4rec:Mamba4Rec",
    "ssd4rec": "models.ssd4rec:SSD4Rec",
    "tim4rec": "models.tim4rec:TiM4Rec",
}


def _check_name(name: str) -> None:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def config_path(name: str) -> Path:
    _check_name(name)
    return CONFIG_DIR / f"{name}.toml"


def _load(name: str) -> dict[str, Any]:
    path = config_path(name)
    with open(path, "rb") as f:
        return tomllib.load(f)


def default_config(name: str, dataset: str | None = None) -> dict[str, Any]:
    """The model's constructor keyword arguments for ``dataset`` (defaults, then dataset overrides)."""
    raw = _load(name)
    cfg = dict(raw.get("model", {}))
    if dataset is not None:
        cfg.update(raw.get("dataset", {}).get(dataset, {}).get("model", {}))
    return cfg


def default_train_config(name: str, dataset: str | None = None) -> dict[str, Any]:
    """Training hyper-parameters (lr, batch_size, ...) for this model and dataset."""
    raw = _load(name)
    cfg = dict(raw.get("train", {}))
    if dataset is not None:
        cfg.update(raw.get("dataset", {}).get(dataset, {}).get("train", {}))
    return cfg


def model_class(name: str) -> type[SeqRecModel]:
    _check_name(name)
    module_name, cls_name = MODELS[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def build(name: str, config: dict[str, Any] | None, n_items: int, dataset: str | None = None) -> SeqRecModel:
    """Build model ``name`` for ``n_items`` items from its defaults overridden by ``config``."""
    cfg = default_config(name, dataset)
    unknown = set(config or {}) - set(cfg)
    if unknown:
        raise KeyError(f"unknown config key(s) {sorted(unknown)} for model {name!r} "
                       f"(known keys are those in {config_path(name)})")
    cfg.update(config or {})
    return model_class(name)(n_items=n_items, **cfg)
