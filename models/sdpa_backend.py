"""``SEQREC_SDPA_BACKEND``: which of PyTorch's kernels computes SASRec's attention (``F.scaled_dot_product_attention``).

Unset (or ``auto``), PyTorch picks; for SASRec's boolean causal and key mask in fp32 on CUDA that is the
memory-efficient kernel, which does not use TF32. ``math`` (the reference composite: two batched matmuls and a
softmax), ``efficient``, ``flash`` or ``cudnn`` ask for one (``torch.nn.attention.sdpa_kernel``; a kernel that cannot
take the inputs is PyTorch's error at the first forward). Part 24 (``results/full/logs/part24-bench-sdpa*.txt``, H200,
B 2048, L 200, fwd + bwd): ``math`` took 5.5 ms against 8.6 at head dim 32 and 7.6 against 16.2 at 128 under TF32,
for 1.4-2.7x the memory. The backends draw attention dropout differently, so the runs of one grid cell should share
one; a result records the choice where set (``implementation.sdpa_backend``).
"""

from __future__ import annotations

import contextlib

from torch.nn.attention import SDPBackend, sdpa_kernel

from models.switches import env_choice

SDPA_BACKEND_ENV = "SEQREC_SDPA_BACKEND"
BACKENDS = {"math": SDPBackend.MATH, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}


def sdpa_backend() -> str | None:
    """The backend ``SEQREC_SDPA_BACKEND`` names (a key of ``BACKENDS``), None where unset or "auto"; another value
    is a ValueError naming the variable and the choices."""
    raw = env_choice(SDPA_BACKEND_ENV, ("auto", *BACKENDS), "auto")
    return None if raw == "auto" else raw


def attention_kernel(backend: str | None):
    """A context in which ``F.scaled_dot_product_attention`` uses ``backend`` only (None: PyTorch's pick)."""
    return contextlib.nullcontext() if backend is None else sdpa_kernel([BACKENDS[backend]])


__all__ = ["BACKENDS", "SDPA_BACKEND_ENV", "attention_kernel", "sdpa_backend"]
