"""TiM4Rec (Fan et al., Neurocomputing 2025): SSD4Rec whose SSD step size is modulated by time gaps.

What the official code (AlwaysFHao/TiM4Rec, ``tim4rec.py`` / ``ssd.py``) computes, per sequence (B, L):

    tau_t = ts_t - ts_{t-1}, tau_0 = 0, over the *padded* row (so the first pad gets tau = -ts_last)
    f = LayerNorm_L(Dropout(tau))                  LayerNorm over the L positions (weight/bias of size L),
                                                   copied to every head: (B, H, L)
    per layer:  s = Linear_LL(SiLU(Linear_LL(Dropout_t(f))))        an MLP over the position axis
                time_dt = act(conv2(act(conv1(f * s))))              two causal depthwise convs over heads
                step = softplus(dt * time_dt + dt_bias)              inside the SSD scan
                g = sigmoid(Linear_L->1 or L->L(Dropout_t(f)))       "shared" / point-to-point gate
                f = LayerNorm_L(g * f + (1 - g) * time_dt)           features passed to the next layer

The LayerNorms and Linears over the position axis mix all L positions, padding included: predictions
depend on padded positions and on max_len, and the time path is not causal. Two switches reproduce that:
``official_padding=True`` takes the raw gaps over the padded row, and ``time_mlp="positions"`` mixes over the
max_len positions (LayerNorm, MLP and gate of size max_len); both together are the official code exactly. The
default (corrected) variant keeps every part but makes each one causal and length-independent:

    gaps          0 at padding (and at t = 0), clamped at >= 0
    LayerNorm_L   -> ``prefix_standardize``: standardise position t by the mean / variance of the real
                     positions <= t of the same row (the causal analogue of per-row standardisation over
                     positions), then a learned scalar affine (the official one is per position, size L)
    MLP over L    -> the same MLP applied pointwise to each position's scalar feature, per head
                     (1 -> time_mlp_hidden -> 1, SiLU): a learned scale of the feature, as official
                     ``f * s``, with the temporal context left to the two causal convs
    gate          "shared": one learned gate per layer, sigmoid(w) (the official shared gate is one value
                     per row and head, computed from the whole row); "point": per position from its own
                     feature, sigmoid(a f_t + b) (the official point-to-point gate reads all positions)

So in the corrected model the encoding at t depends on items and times at positions <= t only, padding
never matters, and any sequence length runs. With ``time_mlp="positions"`` the item path is still causal but
the time path is not: the encoding at t changes with times after t and with the amount of padding, and only
L == max_len runs; with ``official_padding=True`` as well, it also changes with the times at padded positions.
``official_padding=True`` alone changes nothing at real positions (the pointwise path is causal and the
padding comes after them), which the tests check.
"""

from __future__ import annotations

import torch
from torch import nn

import kernels
from models.common import init_weights, padding_mask, support_backend
from models.ssd4rec import SSD4Rec
from models.ssm_blocks import causal_conv_act, check_choice, init_depthwise_conv_
from models.switches import env_flag

TIME_FEATURES = ("gap", "log_gap", "user_norm_gap", "none")
TIME_RESIDUALS = ("shared", "point")
TIME_DT_INITS = ("neutral", "official")
TIME_MLPS = ("pointwise", "positions")
# x with act(x) = 1, for the "neutral" time_dt init: SiLU(x) = x sigmoid(x) = 1; Hardswish(x) = x (x + 3) / 6 = 1
UNIT_PREIMAGE = {"silu": 1.2784645427610738, "hardswish": (33 ** 0.5 - 3) / 2}


TIME_MLP_ENV = "SEQREC_TIME_MLP_ELEMENTWISE"  # 1: under compile the pointwise MLP has no GEMM; 0 (default): nn.Linear


def time_mlp_elementwise() -> bool:
    """``SEQREC_TIME_MLP_ELEMENTWISE``: 1 or 0 (default). Off: on an H200 (part 18, 6df66ed) the compiled, graphed
    bf16 TiM4Rec epoch (amazon-beauty h64) took 0.305 s with it and 0.287 s without; its weight gradients' sums over
    every row (reductions, 1.08 ms a step against 0.46) cost more than the size-1 GEMMs it saves (0.25 ms)."""
    return env_flag(TIME_MLP_ENV, default=False)


TIME_MLP_KERNEL_ENV = "SEQREC_TIME_MLP_KERNEL"  # 1: the pointwise MLP as kernels.time_mlp; 0: as above


def time_mlp_kernel(on_cuda: bool = True) -> bool:
    """``SEQREC_TIME_MLP_KERNEL``: 1 or 0; unset: 1 for CUDA features (``on_cuda``), 0 elsewhere. 1: the pointwise
    time MLP through ``kernels.time_mlp`` (the fused Triton kernels on CUDA, eager or compiled; the reference
    elsewhere). On an H200 (part 19, dd64aa7, results/full-amp-compile-cuda-graph-part19*) the compiled, graphed
    bf16 epoch (amazon-beauty h64) took 0.263 s with it and 0.283 s with nn.Linear, the same test NDCG@10 (0.0360);
    on the CPU nn.Linear stays (its results unchanged)."""
    return env_flag(TIME_MLP_KERNEL_ENV, default=on_cuda)


def pointwise_mlp(mlp: nn.Sequential, f: torch.Tensor) -> torch.Tensor:
    """``mlp`` = (Linear(1, W), activation, Linear(W, 1)) on every element of f (...) -> (...), as broadcasts and
    a sum over W: no GEMM. As ``nn.Linear`` layers over (..., 1) rows the MLP is six GEMMs a layer whose inner or
    outer size is 1 (cuBLAS's K = 1 and N = 1 kernels, about 20 us each at 409,600 rows), which Inductor cannot
    fuse; written out, it fuses into the surrounding kernels. Same values up to the order of the sum over W."""
    first, act, second = mlp
    h = act(f.unsqueeze(-1) * first.weight[:, 0] + first.bias)  # (..., W)
    return (h * second.weight[0]).sum(-1) + second.bias[0]


def time_gaps(time_seq: torch.Tensor, seq_len: torch.Tensor, official: bool = False) -> torch.Tensor:
    """(B, L) int64 timestamps -> (B, L) float64 gaps tau_t = ts_t - ts_{t-1}, tau_0 = 0.

    Corrected: 0 at padded positions, negative gaps clamped to 0. ``official``: the raw difference over the
    padded row (the first pad gets -ts_last), as the official code."""
    diff = torch.diff(time_seq, dim=1, prepend=time_seq[:, :1])
    if not official:
        diff = torch.where(padding_mask(seq_len, time_seq.size(1)), diff.clamp(min=0), torch.zeros_like(diff))
    return diff.double()


def time_feature(gaps: torch.Tensor, kind: str, mask: torch.Tensor) -> torch.Tensor:
    """(B, L) gaps in seconds -> (B, L) feature (then normalised by the model).

    "gap": the gap (official). "log_gap": sign(tau) log(1 + |tau|). "user_norm_gap": the gap divided by the
    user's mean gap so far, tau_t / (mean_{1<=s<=t, real} |tau_s| + 1 s) (causal; a plain per-row scale
    would be removed by the standardisation that follows). "none": zeros (the time path keeps its
    parameters but carries no time information).
    """
    check_choice("time_feature", kind, TIME_FEATURES)
    if kind == "gap":
        return gaps
    if kind == "log_gap":
        return torch.sign(gaps) * torch.log1p(gaps.abs())
    if kind == "none":
        return torch.zeros_like(gaps)
    counted = mask & (torch.arange(gaps.size(1), device=gaps.device) >= 1)
    mean_so_far = (gaps.abs() * counted).cumsum(1) / counted.cumsum(1).clamp(min=1)
    return gaps / (mean_so_far + 1.0)


def prefix_standardize(x: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
    """x (B, L, C), mask (B, L) bool -> (B, L, C) float64: (x_t - mean_{s<=t}) / sqrt(var_{s<=t} + eps), the
    statistics over real positions s <= t of each row and channel; 0 at masked positions. Computed in
    float64 after subtracting the first value (exact zeros for constant prefixes, no cancellation for raw
    second-scale gaps). The first real position of a row is always 0."""
    m = mask.unsqueeze(-1).double()
    xd = x.double() * m
    xs = (xd - xd[:, :1]) * m
    n = m.cumsum(1).clamp(min=1.0)
    mean = xs.cumsum(1) / n
    var = (xs.square().cumsum(1) / n - mean.square()).clamp(min=0.0)
    return (xs - mean) * torch.rsqrt(var + eps) * m


class PrefixNorm(nn.Module):
    """Causal, length-independent stand-in for the official LayerNorm over positions:
    ``prefix_standardize`` then a learned scalar affine. x (B, L, C), mask (B, L) -> (B, L, C) float32."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return prefix_standardize(x, mask, self.eps).float() * self.weight + self.bias


class PositionLayerNorm(nn.LayerNorm):
    """The official LayerNorm over the position axis (size max_len): x (B, L, C) -> (B, L, C)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x.float().transpose(1, 2)).transpose(1, 2)


class TimeLayer(nn.Module):
    """One layer of the time path: features f (B, L, H) -> (time_dt (B, L, H), next features (B, L, H)).

    The last layer has no gated residual (``passes_on=False``, next features None): its output would be unused
    (the official code computes it anyway, leaving those parameters without gradient)."""

    def __init__(self, n_heads: int, d_conv: int, max_len: int, positions: bool, time_residual: str,
                 time_mlp_hidden: int, time_dropout: float, conv_activation: str, norm_eps: float, backend: str,
                 passes_on: bool = True):
        super().__init__()
        self.passes_on = passes_on
        self.positions, self.point = positions, time_residual == "point"
        self.conv_activation, self.backend = conv_activation, backend
        self.scale_dropout = nn.Dropout(time_dropout)
        self.gate_dropout = nn.Dropout(time_dropout)
        width = max_len if positions else time_mlp_hidden
        n_in = max_len if positions else 1
        self.scale_mlp = nn.Sequential(nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, n_in))
        self.conv1_weight = nn.Parameter(torch.empty(n_heads, d_conv))
        self.conv1_bias = nn.Parameter(torch.empty(n_heads))
        self.conv2_weight = nn.Parameter(torch.empty(n_heads, d_conv))
        self.conv2_bias = nn.Parameter(torch.empty(n_heads))
        if not passes_on:
            return
        if positions:
            self.gate = nn.Linear(max_len, max_len if self.point else 1)
            self.norm = PositionLayerNorm(max_len, eps=norm_eps)
        else:
            self.gate = nn.Linear(1, 1) if self.point else None
            self.gate_logit = None if self.point else nn.Parameter(torch.zeros(1))
            self.norm = PrefixNorm(norm_eps)

    def reset_convs(self, conv_init: str, time_dt_init: str) -> None:
        """Both time convs as ``conv_init``. ``time_dt_init="neutral"``: then set the second conv's bias so that
        time_dt = act(bias) = 1 where its input is 0. Its input is f * scale with scale ~ 0.003 f at init, so
        time_dt starts at about 1, the step is softplus(dt + dt_bias) (SSD4Rec's) and the time path gets
        gradients of the size of dt's. "official" leaves the bias as ``conv_init`` does (zero for "kaiming"):
        time_dt ~ 1e-4 at init, the dt term is then suppressed (step ~ softplus(dt_bias)) and the time
        path's gradients (~1e-10) sit below Adam's eps, so it barely trains."""
        init_depthwise_conv_(self.conv1_weight, self.conv1_bias, conv_init)
        init_depthwise_conv_(self.conv2_weight, self.conv2_bias, conv_init)
        check_choice("time_dt_init", time_dt_init, TIME_DT_INITS)
        if time_dt_init == "neutral":
            with torch.no_grad():
                self.conv2_bias.fill_(UNIT_PREIMAGE[self.conv_activation])

    def _along(self, fn, f: torch.Tensor) -> torch.Tensor:
        """Apply ``fn`` over the position axis (official "positions") or to each position's scalar ("pointwise")."""
        if self.positions:
            return fn(f.transpose(1, 2)).transpose(1, 2)
        return fn(f.unsqueeze(-1)).squeeze(-1)

    def _scale(self, f: torch.Tensor) -> torch.Tensor:
        """The MLP's scale of the features (B, L, H): the pointwise MLP through ``kernels.time_mlp`` where
        ``time_mlp_kernel`` says (CUDA features unless ``SEQREC_TIME_MLP_KERNEL=0``), else under compile as
        ``pointwise_mlp`` where ``SEQREC_TIME_MLP_ELEMENTWISE=1``, else as nn.Linear layers."""
        if not self.positions and time_mlp_kernel(f.is_cuda):
            first, _, second = self.scale_mlp
            return kernels.time_mlp(f, first.weight, first.bias, second.weight, second.bias,
                                    backend=support_backend(self.backend))
        if not self.positions and torch.compiler.is_compiling() and time_mlp_elementwise():
            return pointwise_mlp(self.scale_mlp, f)
        return self._along(self.scale_mlp, f)

    def forward(self, f: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        scale = self._scale(self.scale_dropout(f))
        t = causal_conv_act(f * scale, self.conv1_weight, self.conv1_bias, self.conv_activation, self.backend)
        time_dt = causal_conv_act(t, self.conv2_weight, self.conv2_bias, self.conv_activation, self.backend)
        if not self.passes_on:
            return time_dt, None
        if self.gate is not None:
            gate = torch.sigmoid(self._along(self.gate, self.gate_dropout(f)))  # (B, 1 | L, H)
        else:
            gate = torch.sigmoid(self.gate_logit)
        return time_dt, self.norm(gate * f + (1 - gate) * time_dt, mask)


class TiM4Rec(SSD4Rec):
    """Constructor keys = ``models/configs/tim4rec.toml`` [model] (documented there). With ``time_path=False``
    the parameters and the computation are exactly SSD4Rec's."""

    def __init__(self, n_items: int, time_path: bool = True, official_padding: bool = False,
                 time_mlp: str = "pointwise", time_feature: str = "gap", time_residual: str = "shared",
                 time_dropout: float = 0.2,
                 time_mlp_hidden: int = 16, time_dt_init: str = "official", d_conv: int = 4,
                 dropout: float = 0.2, max_len: int = 50,
                 **ssd_kwargs):
        super().__init__(n_items, d_conv=d_conv, dropout=dropout, max_len=max_len, **ssd_kwargs)
        check_choice("time_feature", time_feature, TIME_FEATURES)
        check_choice("time_residual", time_residual, TIME_RESIDUALS)
        check_choice("time_dt_init", time_dt_init, TIME_DT_INITS)
        check_choice("time_mlp", time_mlp, TIME_MLPS)
        self.time_path = time_path
        self.official_padding = official_padding
        self.time_mlp = time_mlp
        self.time_feature = time_feature
        if not time_path:
            return
        self.time_dropout = nn.Dropout(dropout)  # the official drops raw gaps with the model's dropout
        positions = time_mlp == "positions"
        self.time_norm = PositionLayerNorm(max_len, eps=self.norm_eps) if positions else PrefixNorm(self.norm_eps)
        self.time_layers = nn.ModuleList([
            TimeLayer(self.n_heads, d_conv, max_len, positions, time_residual, time_mlp_hidden,
                      time_dropout, self.conv_activation, self.norm_eps, self.backend,
                      passes_on=i < len(self.layers) - 1)
            for i in range(len(self.layers))
        ])
        self.time_layers.apply(init_weights)
        self.time_norm.apply(init_weights)
        for layer in self.time_layers:
            layer.reset_convs(self.conv_init, time_dt_init)

    @property
    def tied_to_max_len(self) -> bool:
        """True when the time path mixes over max_len positions, so only sequences of length max_len run."""
        return self.time_path and self.time_mlp == "positions"

    def time_features(self, time_seq: torch.Tensor, seq_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) timestamps -> (first-layer features (B, L, H), mask (B, L) of positions the time path counts)."""
        L = time_seq.size(1)
        if self.tied_to_max_len and L != self.max_len:
            raise ValueError(f"TiM4Rec with time_mlp='positions' only runs at max_len={self.max_len} "
                             f"(config field 'max_len'); got sequences of length {L}")
        if self.official_padding:
            mask = torch.ones_like(time_seq, dtype=torch.bool)
        else:
            mask = padding_mask(seq_len, L)
        feat = time_feature(time_gaps(time_seq, seq_len, self.official_padding), self.time_feature, mask)
        feat = self.time_dropout(feat).unsqueeze(-1)  # (B, L, 1)
        f = self.time_norm(feat, mask)
        return f.float().expand(-1, -1, self.n_heads), mask

    def encode(self, item_seq: torch.Tensor, seq_len: torch.Tensor, time_seq: torch.Tensor) -> torch.Tensor:
        if not self.time_path:
            return super().encode(item_seq, seq_len, time_seq)
        x = self.embed(item_seq)
        f, mask = self.time_features(time_seq, seq_len)
        for layer, time_layer in zip(self.layers, self.time_layers, strict=True):
            time_dt, f = time_layer(f, mask)
            x = layer(x, time_dt=time_dt)
        return x
