"""Causal depthwise conv1d: reference and public op against a direct loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kernels import causal_conv1d
from kernels.conv import causal_conv1d_ref
from kernels.dispatch import BackendUnavailable


def conv_loop(x, weight, bias, activation):
    b, L, C = x.shape
    K = weight.shape[1]
    out = torch.zeros_like(x)
    for t in range(L):
        for k in range(K):
            s = t - K + 1 + k
            if s >= 0:
                out[:, t] += weight[:, k] * x[:, s]
    if bias is not None:
        out = out + bias
    return F.silu(out) if activation == "silu" else out


@pytest.mark.parametrize("b,L,C,K", [(1, 1, 3, 4), (2, 7, 5, 4), (3, 33, 8, 2), (2, 5, 4, 7)])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_matches_loop(b, L, C, K, activation, with_bias):
    g = torch.Generator().manual_seed(b * 1000 + L * 10 + K)
    x = torch.randn(b, L, C, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(C, K, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(C, generator=g, dtype=torch.float64, requires_grad=True) if with_bias else None
    out = causal_conv1d(x, w, bias, activation, backend="torch")
    want = conv_loop(x, w, bias, activation)
    torch.testing.assert_close(out, want)
    params = [x, w] + ([bias] if with_bias else [])
    grad_out = torch.randn_like(out)
    got = torch.autograd.grad(out, params, grad_out)
    ref = torch.autograd.grad(want, params, grad_out)
    for a, r in zip(got, ref, strict=True):
        torch.testing.assert_close(a, r)


def test_conv_is_causal():
    x = torch.randn(2, 10, 3)
    w = torch.randn(3, 4)
    y = causal_conv1d_ref(x, w)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 3)
    torch.testing.assert_close(causal_conv1d_ref(x2, w)[:, :6], y[:, :6])


def test_conv_auto_is_torch_on_cpu_and_errors():
    x = torch.randn(2, 5, 3)
    w = torch.randn(3, 4)
    torch.testing.assert_close(causal_conv1d(x, w), causal_conv1d_ref(x, w))
    with pytest.raises(BackendUnavailable):
        causal_conv1d(x, w, backend="mamba_ssm")
    with pytest.raises(ValueError, match="weight"):
        causal_conv1d(x, torch.randn(4, 4))
    with pytest.raises(ValueError, match="activation"):
        causal_conv1d(x, w, activation="relu")
