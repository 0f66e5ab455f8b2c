"""A training step's GPU kernel time as a result file (kind "profile"): where the step's time goes, by kernel
and by category, for ``python -m seqrec anatomy --device cuda --profile N --out FILE``.

    categorize("sm80_xmma_gemm_f32f32_...")   # -> "GEMM"
    write_profile(path, table, ms, setup)    # table: kernel, calls, ms (per step), source: anatomy.profile_train_step
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from seqrec.results import write_result

# first match wins: our Triton kernels before the generic Triton-fused (inductor) names
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("sequence mixer (ours)", r"_ssd_|_selective_scan|_seq_(fwd|bwd)|_interval_attn|_keep_mask"),
    ("conv", r"conv_depthwise|_causal_conv|_conv1d_|_conv_(fwd|bwd)\w*_kernel"),  # PyTorch's, mamba-ssm's, ours
    ("GEMM", r"gemm|sgemm|xmma|cutlass|cublas|ampere_|sm90_|splitK"),
    ("norm", r"layer_norm|layernorm|rms_?norm|_ln_(fwd|bwd)_kernel|_gated_rms_(fwd|bwd)_kernel"),
    ("softmax / loss", r"softmax|nll_loss|cross_entropy"),
    ("dropout", r"dropout"),
    ("optimizer", r"adam|foreach|multi_tensor"),
    ("reduction", r"reduce_kernel|triton_(per|red)_"),
    ("elementwise / copy", r"elementwise|vectorized|triton_poi_|CatArray|copy|fill|index|gather|scatter|embedding"),
)
OTHER = "other"
TOP_KERNELS = 40  # kernels listed in the file; the categories sum all of them


def categorize(kernel: str) -> str:
    for name, pattern in CATEGORIES:
        if re.search(pattern, kernel, flags=re.IGNORECASE):
            return name
    return OTHER


def by_category(table: pd.DataFrame) -> dict[str, float]:
    """ms per step of each category (in CATEGORIES order, then other) over every kernel of ``table``."""
    cats = table["kernel"].map(categorize)
    sums = table.groupby(cats)["ms"].sum()
    order = [name for name, _ in CATEGORIES] + [OTHER]
    return {name: float(sums[name]) for name in order if name in sums.index}


def write_profile(path: str | os.PathLike, table: pd.DataFrame, ms_per_step: float, setup: dict[str, Any],
                  device_name: str) -> Path:
    """Write the profile result file: ``setup`` (model, batch, seq_len, hidden, n_items, backend, compiled, amp,
    steps) with ``ms_per_step``, the categories and the ``TOP_KERNELS`` longest kernels."""
    top = table.sort_values("ms", ascending=False).head(TOP_KERNELS)
    return write_result(path, {
        "kind": "profile", **setup, "device_name": device_name, "ms_per_step": ms_per_step,
        "timer": "torch.profiler CUDA kernel time, per step", "categories": by_category(table),
        "kernels": [{"kernel": str(r["kernel"]), "calls": float(r["calls"]), "ms": float(r["ms"]),
                     **({"source": str(r["source"])} if "source" in r else {})} for _, r in top.iterrows()]})
