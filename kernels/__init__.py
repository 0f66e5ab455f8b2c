"""Sequence mixers and the layer norm, each a pure-PyTorch reference (``*_ref``) beside its fast versions, chosen by
``backend`` (see ``kernels.dispatch``).

Public ops (imported lazily so that a missing optional dependency never breaks ``import kernels``):
  causal_conv1d(x (B, L, C), weight (C, K), bias (C,) | None, activation=None | "silu", backend="auto")
  ssd(x (B, L, H, P), dt (B, L, H), A (H,), B (B, L, G, N), C (B, L, G, N), D (H,) | None,
      dt_bias (H,) | None, time_dt (B, L, H) | None, dt_softplus=True, chunk_size=32, backend="auto")
  selective_scan(u (B, D, L), delta (B, D, L), A (D, N), B (B, N, L), C (B, N, L), D (D,) | None,
      z (B, D, L) | None, delta_bias (D,) | None, delta_softplus=True, backend="auto")
  interval_attention(q, k, v (B, H, L, Dh), interval_k, interval_v (R, H, Dh), times (B, L) int64,
      seq_len (B,), dropout_p=0.0, backend="auto")
  layer_norm(x (..., C), weight (C,) | None, bias (C,) | None, eps, backend="auto")
  gated_rms_norm(y (..., C), z (..., C), weight (C,), eps, backend="auto")
"""

from __future__ import annotations

import importlib

_OPS = {
    "causal_conv1d": "kernels.conv",
    "ssd": "kernels.ssd",
    "selective_scan": "kernels.selective_scan",
    "interval_attention": "kernels.interval_attention",
    "layer_norm": "kernels.norm",
    "gated_rms_norm": "kernels.norm",
    "time_mlp": "kernels.scalar_mlp",
}


def __getattr__(name: str):
    if name in _OPS:
        return getattr(importlib.import_module(_OPS[name]), name)
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")


__all__ = list(_OPS)
