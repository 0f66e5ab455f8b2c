"""``padded_linear``: a Linear layer whose output width is not a multiple of 8, run under autocast with its weight
(and bias) padded with zero rows to one, the extra columns sliced off (a view). Tensor-core GEMMs want rows of
16 bytes; the SSD mixer's in_proj at hidden 64 writes 324 = 128 + 192 + 4 columns (z, xBC, dt), and part 17's
profile of the compiled, graphed bf16 TiM4Rec step holds 1- and 2-element aligned GEMMs once a layer (not yet
told apart from the time MLP's). The values are the plain Linear's (each column the same dot product) and so are
the gradients (the padded columns' are zero). ``SEQREC_LINEAR_PAD`` (default 8; 1 turns it off) is the multiple.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels.dispatch import autocast_on
from models.switches import env_multiple

PAD_ENV = "SEQREC_LINEAR_PAD"


def linear_out_multiple() -> int:
    """``SEQREC_LINEAR_PAD``: the multiple a padded Linear's output width is rounded up to (1: not padded)."""
    return env_multiple(PAD_ENV, 8)


def padded_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """x (..., in) -> (..., out) = ``linear(x)``; under autocast computed over ``out`` rounded up to
    ``linear_out_multiple()`` and returned as a view of the first ``out`` columns."""
    out = linear.out_features
    pad = -out % linear_out_multiple() if autocast_on(x) else 0  # the variable is read under autocast only
    if pad == 0:
        return linear(x)
    weight = F.pad(linear.weight, (0, 0, 0, pad))
    bias = F.pad(linear.bias, (0, pad)) if linear.bias is not None else None
    return F.linear(x, weight, bias)[..., :out]
