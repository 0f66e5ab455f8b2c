"""Environment switches of the fast paths' kernel choices (values and gradients stay those of the plain forms):
read where they apply, a bad value an error naming the variable."""

from __future__ import annotations

import os


def env_flag(name: str, default: bool = True) -> bool:
    """``name`` = 1 or 0 (unset: ``default``)."""
    raw = os.environ.get(name, "1" if default else "0")
    if raw not in ("0", "1"):
        raise ValueError(f"{name}={raw!r}: expected 0 or 1")
    return raw == "1"


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """``name`` = one of ``choices`` (unset: ``default``); another value is a ValueError naming the variable and
    the choices."""
    raw = os.environ.get(name, default)
    if raw not in choices:
        raise ValueError(f"{name}={raw!r}: choose one of {', '.join(choices)}")
    return raw


def env_multiple(name: str, default: int) -> int:
    """``name`` = a positive integer (1: no padding; unset: ``default``)."""
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r}: expected a positive integer (1: no padding)")
    return int(raw)


SSD_BF16_PRODUCT_ENV = "SEQREC_SSD_BF16_PRODUCT"


def ssd_bf16_product() -> bool:
    """``SEQREC_SSD_BF16_PRODUCT`` = 1 (default) or 0: the SSD kernels' mixed dots as one bf16 product with bf16
    inputs (``kernels.ssd.fused.BF16_PRODUCT_DOTS``; only under bf16 autocast). Unlike the other switches this changes
    values: the computed tile is rounded to bf16, as mamba-ssm's chunk scan does. On an H200 (part 19, dd64aa7) the
    compiled, graphed bf16 TiM4Rec epoch (amazon-beauty h64) took 0.266 s with it and 0.283 s without, and over seeds
    0-9 its test NDCG@10 was 0.03608 +- 0.00057 against 0.03616 +- 0.00054 (-0.2%, paired t p = 0.30:
    reports/compare/tim4rec-beauty-h64-ssd-bf16-product.md), within the seeds' spread; 0 keeps the exact dots."""
    return env_flag(SSD_BF16_PRODUCT_ENV, default=True)


CONV_BWD_SEQUENTIAL_ENV = "SEQREC_CONV_BWD_SEQUENTIAL"


def conv_bwd_sequential() -> bool:
    """``SEQREC_CONV_BWD_SEQUENTIAL`` = 1 (default) or 0: the causal conv's Triton backward for K = 4 and 16 channels
    or more walks each sequence backwards in time (``kernels.conv.fused._conv_bwd_seq_k4_kernel``) instead of tiles of
    rows (``kernels.conv.fused.BWD_SEQUENTIAL``, where that is None). Same values but the order of the weight
    gradient's sums. On an H200 (part 22, 3f555ac) the compiled, graphed bf16 TiM4Rec epoch (amazon-beauty h64) took
    0.225 s with it and 0.241 s without, at the same test NDCG@10 over seeds 0-9 (-0.03%, paired t p = 0.70:
    reports/compare/tim4rec-beauty-h64-conv-seq-bwd.md). Under torch.compile it is read when the graph is traced."""
    return env_flag(CONV_BWD_SEQUENTIAL_ENV, default=True)
