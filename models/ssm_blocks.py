"""Blocks shared by the state-space recommenders (Mamba4Rec, SSD4Rec, TiM4Rec).

- ``Mamba1Mixer``: Mamba-1 block (selective scan, A (d_inner, N) S4D-real), as mamba-ssm's ``Mamba``.
- ``SSDMixer``: Mamba-2 block (SSD scan, scalar A per head, gated RMSNorm), optionally with a per-position
  step-size modulation ``time_dt`` (TiM4Rec).
- ``GatedRMSNorm``: ``RMSNorm(y * silu(z)) * weight`` (mamba-ssm's ``norm_before_gate=False``).
- ``MixerLayer``: mixer -> dropout -> (+ residual when n_layers > 1) -> LayerNorm -> optional FFN.
- ``FeedForwardAct``: ``models.common.FeedForward`` with a choice of activation (GELU | Hardswish).

Every sequence mixing goes through ``kernels`` (causal_conv1d, ssd, selective_scan), so all blocks are
causal: the output at position t depends on inputs at positions <= t only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import kernels

# the functions: once imported, ``kernels.ssd`` and ``kernels.selective_scan`` are their (callable) packages
from kernels.selective_scan import selective_scan
from kernels.ssd import ssd as ssd_scan
from models.aligned_linear import padded_linear
from models.common import FeedForward, LayerNorm, support_backend

CONV_ACTIVATIONS = ("silu", "hardswish", "official")
CONV_INITS = ("default", "kaiming")
FFN_ACTIVATIONS = ("gelu", "hardswish")


def check_choice(field: str, value, choices) -> None:
    """Raise ValueError naming the config field when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"config field {field!r} must be one of {list(choices)}, got {value!r}")


def resolve_conv_activation(name: str, n_heads: int) -> str:
    """"official" reproduces TiM4Rec's code: it falls back to ``nn.Conv1d`` + Hardswish unless the number of
    heads is a multiple of 8 (then causal_conv1d with SiLU). Returns "silu" or "hardswish"."""
    check_choice("conv_activation", name, CONV_ACTIVATIONS)
    if name == "official":
        return "silu" if n_heads % 8 == 0 else "hardswish"
    return name


def causal_conv_act(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str,
                    backend: str) -> torch.Tensor:
    """Depthwise causal conv then activation: x (B, L, C), weight (C, K), bias (C,) -> (B, L, C)."""
    if activation == "silu":
        return kernels.causal_conv1d(x, weight, bias, activation="silu", backend=support_backend(backend))
    out = kernels.causal_conv1d(x, weight, bias, activation=None, backend=support_backend(backend))
    if activation == "hardswish":
        return F.hardswish(out)
    if activation is None or activation == "none":
        return out
    raise ValueError(f"unknown conv activation {activation!r}")


def init_depthwise_conv_(weight: torch.Tensor, bias: torch.Tensor | None, mode: str = "default") -> None:
    """Init a depthwise conv stored as weight (C, K), bias (C,).

    "default": PyTorch's ``nn.Conv1d`` init, U(-1/sqrt(K), 1/sqrt(K)) for weight and bias (what mamba-ssm and
    the official code get when nothing re-initialises the conv). "kaiming": the official TiM4Rec option
    ``is_kai_ming_init``: ``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` on the (C, 1, K) weight,
    i.e. N(0, 2 / (C * K)), and a zero bias.
    """
    check_choice("conv_init", mode, CONV_INITS)
    C, K = weight.shape
    with torch.no_grad():
        if mode == "default":
            bound = 1.0 / math.sqrt(K)
            weight.uniform_(-bound, bound)
            if bias is not None:
                bias.uniform_(-bound, bound)
        else:
            weight.normal_(0.0, math.sqrt(2.0 / (C * K)))
            if bias is not None:
                bias.zero_()


def dt_bias_init(n: int, dt_min: float = 1e-3, dt_max: float = 0.1, dt_floor: float = 1e-4) -> torch.Tensor:
    """(n,) inverse-softplus of steps drawn log-uniformly in [dt_min, dt_max] (mamba's dt init)."""
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=dt_floor)
    return dt + torch.log(-torch.expm1(-dt))


class Mamba1Mixer(nn.Module):
    """Mamba-1 block: (B, L, d) -> (B, L, d).

    ``x, z = in_proj(u)`` (d_inner each); ``x = silu(causal_conv(x))``; ``dt, B, C = x_proj(x)``
    (dt_rank, N, N); ``delta = dt_proj.weight @ dt``; ``y = selective_scan(x, delta, A, B, C, D, z,
    delta_bias=dt_proj.bias)`` (softplus step, ``A = -exp(A_log)`` of shape (d_inner, N), silu(z) gate);
    ``out_proj(y)``. Biases as mamba-ssm: none on in/out/x_proj, one on the conv and dt_proj.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | None = None, backend: str = "auto"):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.backend = backend
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(self.d_inner, d_conv))
        self.conv_bias = nn.Parameter(torch.empty(self.d_inner))
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self.reset_ssm_parameters()

    def reset_ssm_parameters(self, dt_init: str = "mamba") -> None:
        """S4D-real A (A_log[:, n] = log(n + 1)), D = 1, default conv init, and the dt projection:
        "mamba": weight U(+-dt_rank^-0.5), bias = inverse softplus of log-uniform [1e-3, 0.1];
        "recbole": leave dt_proj as RecBole's init left it (N(0, 0.02), zero bias: what the official
        Mamba4Rec trains with, since its ``_init_weights`` runs after mamba's)."""
        check_choice("dt_init", dt_init, ("mamba", "recbole"))
        with torch.no_grad():
            self.A_log.copy_(torch.log(torch.arange(1, self.d_state + 1, dtype=torch.float32)).expand_as(self.A_log))
            self.D.fill_(1.0)
            if dt_init == "mamba":
                std = self.dt_rank ** -0.5
                self.dt_proj.weight.uniform_(-std, std)
                self.dt_proj.bias.copy_(dt_bias_init(self.d_inner))
        init_depthwise_conv_(self.conv_weight, self.conv_bias, "default")

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, L, d_inner) each
        x = causal_conv_act(x, self.conv_weight, self.conv_bias, "silu", self.backend)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = dt @ self.dt_proj.weight.t()  # (B, L, d_inner)
        A = -torch.exp(self.A_log.float())
        y = selective_scan(
            x.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2),
            D=self.D.float(), z=z.transpose(1, 2), delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True, backend=self.backend,
        )  # (B, d_inner, L)
        return self.out_proj(y.transpose(1, 2))


class GatedRMSNorm(nn.Module):
    """``y * silu(z)`` normalised by its RMS over the last dim, times a learned weight: (..., d) -> (..., d), by
    ``kernels.gated_rms_norm`` (ours under auto / triton on CUDA; PyTorch's ops under torch / mamba_ssm)."""

    def __init__(self, d: int, eps: float = 1e-5, backend: str = "auto"):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.backend = support_backend(backend)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return kernels.gated_rms_norm(y, z, self.weight, self.eps, backend=self.backend)


class SSDMixer(nn.Module):
    """Mamba-2 (SSD) block: (B, L, d) -> (B, L, d), optionally with a step-size modulation time_dt (B, L, H).

    ``z, xBC, dt = in_proj(u)`` (d_inner, d_inner + 2 G N, H); ``x, B, C = act(causal_conv(xBC))``;
    ``y = ssd(x, dt, -exp(A_log), B, C, D, dt_bias, time_dt)`` with step ``softplus(dt * time_dt + dt_bias)``,
    scalar A per head (A_log = log U[1, 16]), D per head; ``out_proj(GatedRMSNorm(y, z))``.
    Biases as the official TiM4Rec (``bias=True``): on in_proj, out_proj and the conv.
    """

    def __init__(self, d_model: int, d_state: int = 32, d_conv: int = 4, expand: int = 2, head_dim: int = 32,
                 ngroups: int = 1, chunk_size: int = 32, conv_activation: str = "silu", norm_eps: float = 1e-12,
                 backend: str = "auto"):
        super().__init__()
        self.d_inner = expand * d_model
        if self.d_inner % head_dim != 0:
            raise ValueError(f"config: hidden_size * expand = {self.d_inner} is not divisible by "
                             f"head_dim = {head_dim}")
        self.n_heads = self.d_inner // head_dim
        if self.n_heads % ngroups != 0:
            raise ValueError(f"config: number of heads {self.n_heads} is not divisible by ngroups = {ngroups}")
        check_choice("conv_activation", conv_activation, ("silu", "hardswish"))
        self.head_dim, self.ngroups, self.d_state = head_dim, ngroups, d_state
        self.chunk_size, self.conv_activation, self.backend = chunk_size, conv_activation, backend
        conv_dim = self.d_inner + 2 * ngroups * d_state
        self.in_proj = nn.Linear(d_model, self.d_inner + conv_dim + self.n_heads, bias=True)
        self.conv_weight = nn.Parameter(torch.empty(conv_dim, d_conv))
        self.conv_bias = nn.Parameter(torch.empty(conv_dim))
        self.dt_bias = nn.Parameter(torch.empty(self.n_heads))
        self.A_log = nn.Parameter(torch.empty(self.n_heads))
        self.D = nn.Parameter(torch.empty(self.n_heads))
        self.norm = GatedRMSNorm(self.d_inner, eps=norm_eps, backend=backend)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=True)
        self.reset_ssm_parameters()

    def reset_ssm_parameters(self, conv_init: str = "default") -> None:
        """Mamba-2 init: dt_bias = inverse softplus of log-uniform [1e-3, 0.1], A_log = log U[1, 16], D = 1,
        RMSNorm weight 1; the conv by ``conv_init`` (see ``init_depthwise_conv_``)."""
        with torch.no_grad():
            self.dt_bias.copy_(dt_bias_init(self.n_heads))
            self.A_log.copy_(torch.log(torch.empty(self.n_heads).uniform_(1.0, 16.0)))
            self.D.fill_(1.0)
            self.norm.weight.fill_(1.0)
        init_depthwise_conv_(self.conv_weight, self.conv_bias, conv_init)

    def forward(self, u: torch.Tensor, time_dt: torch.Tensor | None = None) -> torch.Tensor:
        b, L, _ = u.shape
        GN = self.ngroups * self.d_state
        z, xBC, dt = padded_linear(u, self.in_proj).split([self.d_inner, self.d_inner + 2 * GN, self.n_heads], dim=-1)
        xBC = causal_conv_act(xBC, self.conv_weight, self.conv_bias, self.conv_activation, self.backend)
        x, B, C = xBC.split([self.d_inner, GN, GN], dim=-1)
        y = ssd_scan(
            x.reshape(b, L, self.n_heads, self.head_dim), dt, -torch.exp(self.A_log.float()),
            B.reshape(b, L, self.ngroups, self.d_state), C.reshape(b, L, self.ngroups, self.d_state),
            D=self.D.float(), dt_bias=self.dt_bias.float(), time_dt=time_dt, dt_softplus=True,
            chunk_size=self.chunk_size, backend=self.backend,
        )  # (B, L, H, P)
        return self.out_proj(self.norm(y.reshape(b, L, self.d_inner), z))


class FeedForwardAct(FeedForward):
    """``models.common.FeedForward`` (same parameters: w1, w2, norm) with GELU or Hardswish
    (the official TiM4Rec / SSD4Rec FFN uses Hardswish, Mamba4Rec GELU)."""

    def __init__(self, hidden_size: int, inner_size: int, dropout: float, activation: str = "gelu",
                 eps: float = 1e-12):
        super().__init__(hidden_size, inner_size, dropout, eps=eps)
        check_choice("ffn_activation", activation, FFN_ACTIVATIONS)
        self.act = F.gelu if activation == "gelu" else F.hardswish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.w2(self.dropout(self.act(self.w1(x)))))
        return self.norm(x + h)


class MixerLayer(nn.Module):
    """One layer: ``h = LN(Dropout(mixer(x)) [+ x when n_layers > 1])``, then ``FFN(h)`` when ``ffn``.
    x (B, L, d) -> (B, L, d); extra keyword arguments go to the mixer."""

    def __init__(self, mixer: nn.Module, hidden_size: int, dropout: float, residual: bool, ffn: bool = True,
                 ffn_activation: str = "gelu", norm_eps: float = 1e-12):
        super().__init__()
        self.mixer = mixer
        self.residual = residual
        self.dropout = nn.Dropout(dropout)
        self.norm = LayerNorm(hidden_size, eps=norm_eps)
        self.ffn = FeedForwardAct(hidden_size, 4 * hidden_size, dropout, ffn_activation) if ffn else None

    def forward(self, x: torch.Tensor, **mixer_kwargs) -> torch.Tensor:
        h = self.dropout(self.mixer(x, **mixer_kwargs))
        h = self.norm(h + x if self.residual else h)
        return self.ffn(h) if self.ffn is not None else h
