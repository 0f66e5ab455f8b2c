"""SSD4Rec (SSD-only): Mamba-2 (SSD) blocks over item embeddings; TiM4Rec with the time path removed.

    x = LN(Dropout(E[item_seq]))                                   (B, L, d)
    per layer: h = LN(Dropout(SSDMixer(x, time_dt)) [+ x when n_layers > 1]); x = FFN(h) when ``ffn``
    read out at position seq_len - 1; scores = x @ E^T

``SSD4Rec`` holds everything TiM4Rec shares with it (same parameter names), so a TiM4Rec built with
``time_path=False`` loads an SSD4Rec state dict and computes the same thing.
"""

from __future__ import annotations

import torch
from torch import nn

from models.common import LayerNorm, SeqRecModel, init_weights, set_norm_backend
from models.ssm_blocks import MixerLayer, SSDMixer, check_choice, resolve_conv_activation


class SSD4Rec(SeqRecModel):
    """Constructor keys = ``models/configs/ssd4rec.toml`` [model] (documented there)."""

    def __init__(self, n_items: int, hidden_size: int = 64, n_layers: int = 2, d_state: int = 32, d_conv: int = 4,
                 expand: int = 2, head_dim: int = 32, chunk_size: int = 32, ngroups: int = 1, dropout: float = 0.2,
                 norm_eps: float = 1e-12, conv_init: str = "default", conv_activation: str = "silu",
                 ffn: bool = True, ffn_activation: str = "hardswish", max_len: int = 50, backend: str = "auto"):
        super().__init__(n_items, hidden_size)
        check_choice("conv_init", conv_init, ("default", "kaiming"))
        if n_layers < 1:
            raise ValueError(f"config field 'n_layers' must be >= 1, got {n_layers}")
        self.max_len = max_len
        self.norm_eps = norm_eps
        self.backend = backend
        self.conv_init = conv_init
        self.n_heads = hidden_size * expand // head_dim
        self.conv_activation = resolve_conv_activation(conv_activation, self.n_heads)
        self.emb_dropout = nn.Dropout(dropout)
        self.emb_norm = LayerNorm(hidden_size, eps=norm_eps)
        self.layers = nn.ModuleList([
            MixerLayer(
                SSDMixer(hidden_size, d_state, d_conv, expand, head_dim, ngroups, chunk_size,
                         self.conv_activation, norm_eps, backend),
                hidden_size, dropout, residual=n_layers > 1, ffn=ffn, ffn_activation=ffn_activation,
                norm_eps=norm_eps,
            )
            for _ in range(n_layers)
        ])
        self.apply(init_weights)
        set_norm_backend(self, backend)
        for layer in self.layers:
            layer.mixer.reset_ssm_parameters(conv_init)

    def embed(self, item_seq: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, L, d): LN(Dropout(E[item_seq]))."""
        return self.emb_norm(self.emb_dropout(self.item_embedding(item_seq)))

    def encode(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        x = self.embed(item_seq)
        for layer in self.layers:
            x = layer(x)
        return x
