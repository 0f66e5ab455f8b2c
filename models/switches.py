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


def env_multiple(name: str, default: int) -> int:
    """``name`` = a positive integer (1: no padding; unset: ``default``)."""
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r}: expected a positive integer (1: no padding)")
    return int(raw)


SSD_BF16_PRODUCT_ENV = "SEQREC_SSD_BF16_PRODUCT"


def ssd_bf16_product() -> bool:
    """``SEQREC_SSD_BF16_PRODUCT`` = 1 or 0 (default): the SSD kernels' mixed dots as one bf16 product with bf16
    inputs (``kernels.ssd.fused.BF16_PRODUCT_DOTS``). Unlike the other switches this changes values: the computed
    tile is rounded to bf16, as mamba-ssm's chunk scan does (part 18 on an H200: 26-28% less fwd+bwd graph time)."""
    return env_flag(SSD_BF16_PRODUCT_ENV, default=False)
