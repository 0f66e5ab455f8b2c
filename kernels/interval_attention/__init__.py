"""TiSASRec attention with time-interval embeddings: ``interval_attention`` (public op) beside the references
``interval_attention_ref`` (naive) and ``interval_attention_lean_ref`` (see ``kernels.interval_attention.ref``),
and ``interval_matrix`` (the clipped interval indices, for tests and the model).

Backends: ``"torch"`` the lean reference; ``"triton"`` our fused fwd+bwd kernels
(``kernels.interval_attention.fused``, L <= 256 and tiles within its shared-memory budget); ``"auto"`` Triton on
CUDA where the kernel takes the shape, else the lean reference.
"""

from __future__ import annotations

import sys
import types

import torch

from kernels.dispatch import autocast_on, resolve_backend
from kernels.interval_attention.ref import (
    check_interval_attention_shapes,
    interval_attention_lean_ref,
    interval_attention_ref,
    interval_matrix,
)


def interval_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, interval_k: torch.Tensor,
                       interval_v: torch.Tensor, times: torch.Tensor, seq_len: torch.Tensor,
                       dropout_p: float = 0.0, backend: str = "auto") -> torch.Tensor:
    """out (B, H, L, Dh) of causal, key-padded softmax attention with interval embeddings (R, H, Dh) indexed
    by r_ij = min(|times_i - times_j|, R - 1); dropout on the weights with probability ``dropout_p``
    (pass 0 in evaluation). Rows i >= seq_len are zero. q, k, v share one dtype; under ``torch.autocast`` they
    are cast to autocast's dtype first (as autocast does for PyTorch's attention), since a model's k and v may
    be a low-precision projection plus an fp32 embedding. Under ``torch.compile`` our kernels are the custom ops
    of ``kernels.interval_attention.op`` (one graph); the reference stays opaque to it."""
    if autocast_on(q):  # not on meta
        dtype = torch.get_autocast_dtype(q.device.type)
        q, k, v = (t.to(dtype) for t in (q, k, v))
    check_interval_attention_shapes(q, k, v, interval_k, interval_v, times, seq_len)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"interval_attention: dropout_p must be in [0, 1), got {dropout_p}")
    impl = resolve_backend(backend, q, op="interval_attention", implemented=("torch", "triton"))
    if impl == "triton" and torch.compiler.is_compiling():
        from kernels.interval_attention.fused import draw_seed, fused_supports, kernel_inputs

        if not fused_supports(q.shape[2], q.shape[3]):
            from kernels.interval_attention.op import interval_attention_fwd

            inputs = kernel_inputs(q, k, v, interval_k, interval_v, times, seq_len)
            return interval_attention_fwd(*inputs, dropout_p, draw_seed(q, dropout_p, inputs[-1]))[0]
    return _interval_attention_opaque(impl, backend, q, k, v, interval_k, interval_v, times, seq_len, dropout_p)


@torch.compiler.disable  # opaque to torch.compile: it fuses the ops around these, not into them
def _interval_attention_opaque(impl, backend, q, k, v, interval_k, interval_v, times, seq_len, dropout_p):
    if impl == "triton":
        from kernels.interval_attention.fused import fused_supports, interval_attention_fused

        if backend == "auto" and fused_supports(q.shape[2], q.shape[3]):  # too long a row, or too big a tile
            return interval_attention_lean_ref(q, k, v, interval_k, interval_v, times, seq_len, dropout_p)

        return interval_attention_fused(q, k, v, interval_k, interval_v, times, seq_len, dropout_p)
    return interval_attention_lean_ref(q, k, v, interval_k, interval_v, times, seq_len, dropout_p)


class _CallableModule(types.ModuleType):
    """Importing this package shadows the lazy ``kernels.interval_attention`` attribute with the package, so
    calling the package calls the op."""

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return interval_attention(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["interval_attention", "interval_attention_ref", "interval_attention_lean_ref", "interval_matrix"]
