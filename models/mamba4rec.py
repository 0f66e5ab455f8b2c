"""Mamba4Rec (Liu et al., 2024): Mamba-1 blocks over item embeddings.

    x = LN(Dropout(E[item_seq]))                                   (B, L, d)
    per layer: h = LN(Dropout(Mamba1(x)) [+ x when n_layers > 1]); x = FFN_GELU(h)
    read out at position seq_len - 1; scores = x @ E^T

Causal (conv and scan only look back), so padded positions after seq_len never change the read-out.
"""

from __future__ import annotations

import torch
from torch import nn

from models.common import LayerNorm, SeqRecModel, init_weights, set_norm_backend
from models.ssm_blocks import Mamba1Mixer, MixerLayer


class Mamba4Rec(SeqRecModel):
    """Constructor keys = ``models/configs/mamba4rec.toml`` [model]. ``max_len`` is the data's history
    length (the model itself runs at any length)."""

    def __init__(self, n_items: int, hidden_size: int = 64, n_layers: int = 1, d_state: int = 32,
                 d_conv: int = 4, expand: int = 2, dropout: float = 0.2, dt_init: str = "mamba",
                 max_len: int = 50, backend: str = "auto"):
        super().__init__(n_items, hidden_size)
        self.max_len = max_len
        self.emb_dropout = nn.Dropout(dropout)
        self.emb_norm = LayerNorm(hidden_size, eps=1e-12)
        self.layers = nn.ModuleList([
            MixerLayer(Mamba1Mixer(hidden_size, d_state, d_conv, expand, backend=backend), hidden_size, dropout,
                       residual=n_layers > 1, ffn=True, ffn_activation="gelu", norm_eps=1e-12)
            for _ in range(n_layers)
        ])
        self.apply(init_weights)
        set_norm_backend(self, backend)
        for layer in self.layers:
            layer.mixer.reset_ssm_parameters(dt_init)

    def encode(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        x = self.emb_norm(self.emb_dropout(self.item_embedding(item_seq)))
        for layer in self.layers:
            x = layer(x)
        return x
