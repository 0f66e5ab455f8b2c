"""Mamba4Rec, SSD4Rec, TiM4Rec (models/mamba4rec.py, ssd4rec.py, tim4rec.py, ssm_blocks.py) on CPU.

Shapes and backward, padding invariance, causality, TiM4Rec(time_path=False) == SSD4Rec on the same weights,
the official-padding switch, the time path's pieces against brute force, the Mamba-1 and SSD blocks against
slow step-by-step loops, and a tiny data set overfit.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import models  # noqa: E402
from kernels.dispatch import triton_importable  # noqa: E402
from models.ssm_blocks import Mamba1Mixer, SSDMixer  # noqa: E402
from models.tim4rec import TiM4Rec, prefix_standardize, time_feature, time_gaps  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # Triton: interpreted on CPU

L = 12
N_ITEMS = 30
SSD_TINY = dict(hidden_size=16, n_layers=2, d_state=4, head_dim=8, chunk_size=4, dropout=0.0, max_len=L,
                backend="torch")
TINY = {
    "mamba4rec": dict(hidden_size=16, n_layers=2, d_state=4, dropout=0.0, max_len=L, backend="torch"),
    "ssd4rec": SSD_TINY,
    "tim4rec": dict(SSD_TINY, time_dropout=0.0),
}
# TiM4Rec variants whose corrected mode must be causal and padding-invariant
TIM_VARIANTS = [
    {}, {"time_residual": "point"}, {"time_feature": "log_gap"}, {"time_feature": "user_norm_gap"},
    {"time_feature": "none"}, {"ffn": False, "n_layers": 1}, {"conv_activation": "hardswish"},
    {"official_padding": True},  # raw gaps at the padding: no effect on real positions without time_mlp="positions"
]
OFFICIAL = {"official_padding": True, "time_mlp": "positions"}
ALL = [("mamba4rec", {}), ("ssd4rec", {})] + [("tim4rec", v) for v in TIM_VARIANTS]


def build(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build(name, {**TINY[name], **overrides}, n_items=N_ITEMS)


def build_trained_like(name: str, **overrides) -> torch.nn.Module:
    """A model whose parameters are moved far from their init (at init the time MLPs output ~0, which would
    hide any dependence on times), in eval mode."""
    m = build(name, **overrides)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return m.eval()


def make_batch(seq_len: list[int], length: int = L, seed: int = 1):
    """Right-padded items (B, length), seq_len (B,), increasing Unix-second times (B, length); 0 at padding."""
    g = torch.Generator().manual_seed(seed)
    b = len(seq_len)
    items = torch.randint(1, N_ITEMS + 1, (b, length), generator=g)
    times = 1_300_000_000 + torch.cumsum(torch.randint(0, 5 * 86_400, (b, length), generator=g), dim=1)
    sl = torch.tensor(seq_len)
    real = torch.arange(length)[None, :] < sl[:, None]
    return items * real, sl, times * real


def garbage_padding(items, sl, times, seed: int = 7):
    """The same batch with random items and times at every padded position."""
    g = torch.Generator().manual_seed(seed)
    pad = torch.arange(items.size(1))[None, :] >= sl[:, None]
    items2 = torch.where(pad, torch.randint(1, N_ITEMS + 1, items.shape, generator=g), items)
    times2 = torch.where(pad, torch.randint(0, 2**40, times.shape, generator=g), times)
    return items2, times2


def variant_id(p):
    return p if isinstance(p, str) else ",".join(f"{k}={v}" for k, v in p.items()) or "default"


@pytest.mark.parametrize("name", ["mamba4rec", "ssd4rec", "tim4rec"])
def test_shapes_and_backward(name):
    m = build(name, dropout=0.1)
    items, sl, times = make_batch([L, 5, 1])
    assert m.encode(items, sl, times).shape == (3, L, 16)
    assert m(items, sl, times).shape == (3, 16)
    assert m.full_scores(items, sl, times).shape == (3, N_ITEMS + 1)
    loss = m.loss(items, sl, times, torch.tensor([1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in m.named_parameters():
        assert p.grad is not None, f"{pname} has no gradient"
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name,overrides", ALL, ids=variant_id)
def test_padding_does_not_change_predictions(name, overrides):
    m = build_trained_like(name, **overrides)
    items, sl, times = make_batch([L, 7, 3, 1])
    items2, times2 = garbage_padding(items, sl, times)
    with torch.no_grad():
        torch.testing.assert_close(m.full_scores(items2, sl, times2), m.full_scores(items, sl, times))


@pytest.mark.parametrize("name,overrides", ALL, ids=variant_id)
def test_causal(name, overrides):
    """The encoding at t does not change when items and times after t change (corrected mode)."""
    m = build_trained_like(name, **overrides)
    items, sl, times = make_batch([L, L])
    t = 5
    g = torch.Generator().manual_seed(3)
    items2, times2 = items.clone(), times.clone()
    items2[:, t + 1:] = torch.randint(1, N_ITEMS + 1, items2[:, t + 1:].shape, generator=g)
    times2[:, t + 1:] = times2[:, t + 1:] + torch.randint(0, 10**7, times2[:, t + 1:].shape, generator=g)
    with torch.no_grad():
        h, h2 = m.encode(items, sl, times), m.encode(items2, sl, times2)
    torch.testing.assert_close(h2[:, : t + 1], h[:, : t + 1])
    assert not torch.allclose(h2[:, t + 1:], h[:, t + 1:])


def test_official_time_path_depends_on_padding_and_future_times():
    """The official code (official_padding + time_mlp="positions"): the item path stays causal (items after t
    and at padding never matter), but the time path mixes all positions, so times at padded positions and
    after t change the encoding at t."""
    m = build_trained_like("tim4rec", **OFFICIAL)
    items, sl, times = make_batch([L, 7, 3])
    items2, times2 = garbage_padding(items, sl, times)
    with torch.no_grad():
        base = m.full_scores(items, sl, times)
        torch.testing.assert_close(m.full_scores(items2, sl, times), base)  # items at padding: no effect
        assert not torch.allclose(m.full_scores(items, sl, times2), base, atol=1e-4)  # times at padding: effect
        full_items, full_sl, full_times = make_batch([L, L])
        later = full_times.clone()
        later[:, 8:] += 10**6
        h, h2 = m.encode(full_items, full_sl, full_times), m.encode(full_items, full_sl, later)
    assert not torch.allclose(h2[:, :8], h[:, :8], atol=1e-4)


def test_position_time_mlp_alone_ignores_padded_times_but_not_the_future():
    """time_mlp="positions" with corrected gaps (0 at padding): times at padded positions do not matter, but the
    time path still mixes positions, so times after t change the encoding at t."""
    m = build_trained_like("tim4rec", time_mlp="positions")
    items, sl, times = make_batch([L, 7, 3])
    _, times2 = garbage_padding(items, sl, times)
    with torch.no_grad():
        torch.testing.assert_close(m.full_scores(items, sl, times2), m.full_scores(items, sl, times))
        full_items, full_sl, full_times = make_batch([L, L])
        later = full_times.clone()
        later[:, 8:] += 10**6
        h, h2 = m.encode(full_items, full_sl, full_times), m.encode(full_items, full_sl, later)
    assert not torch.allclose(h2[:, :8], h[:, :8], atol=1e-4)


@pytest.mark.parametrize("overrides", [OFFICIAL, {"time_mlp": "positions"}], ids=variant_id)
def test_position_time_mlp_is_tied_to_max_len_corrected_is_not(overrides):
    items, sl, times = make_batch([5, 3], length=L)
    longer = [F.pad(t, (0, 9)) for t in (items, times)]
    official = build("tim4rec", **overrides).eval()
    assert official.tied_to_max_len
    with pytest.raises(ValueError, match="max_len"):
        official(longer[0], sl, longer[1])
    corrected = build("tim4rec").eval()
    with torch.no_grad():
        torch.testing.assert_close(corrected(longer[0], sl, longer[1]), corrected(items, sl, times))


@pytest.mark.parametrize("overrides", [{}, {"n_layers": 1, "ffn": False}], ids=variant_id)
def test_tim4rec_without_time_path_equals_ssd4rec(overrides):
    ssd = build("ssd4rec", **overrides).eval()
    torch.manual_seed(123)
    tim = models.build("tim4rec", {**TINY["tim4rec"], **overrides, "time_path": False}, n_items=N_ITEMS).eval()
    tim.load_state_dict(ssd.state_dict(), strict=True)
    with_time = build("tim4rec", **overrides)
    assert set(ssd.state_dict()) < set(with_time.state_dict())
    items, sl, times = make_batch([L, 6, 2])
    with torch.no_grad():
        torch.testing.assert_close(tim.full_scores(items, sl, times), ssd.full_scores(items, sl, times))
        assert not torch.allclose(with_time.eval().full_scores(items, sl, times), ssd.full_scores(items, sl, times))


def test_time_path_uses_times_unless_feature_is_none():
    items, sl, times = make_batch([L, 8])
    shuffled = times.clone()
    shuffled[:, 1:8] = times[:, 1:8] + torch.arange(7) ** 3 * 3_600  # different gaps, same order
    with torch.no_grad():
        m = build_trained_like("tim4rec")
        assert not torch.allclose(m(items, sl, shuffled), m(items, sl, times), atol=1e-4)
        m = build_trained_like("tim4rec", time_feature="none")
        torch.testing.assert_close(m(items, sl, shuffled), m(items, sl, times))


@pytest.mark.parametrize("activation", ["silu", "hardswish"])
def test_neutral_time_dt_init_starts_at_one(activation):
    items, sl, times = make_batch([L, 5])
    m = build("tim4rec", time_dt_init="neutral", conv_activation=activation).eval()
    f, mask = m.time_features(times, sl)
    time_dt, _ = m.time_layers[0](f, mask)
    assert (time_dt[mask] - 1).abs().max() < 0.05
    official = build("tim4rec", time_dt_init="official", conv_activation=activation, conv_init="kaiming").eval()
    assert official.time_layers[0](f, mask)[0][mask].abs().mean() < 0.3


def test_neutral_init_time_path_learns_a_dependence_on_times():
    """At init the scan barely matters (in_proj ~ N(0, 0.02)), so scores hardly depend on times under either
    init; with the neutral init a few Adam steps make them depend on times. (The official init, here: a
    relative change of 1.4e-6 after the same 40 steps against 5.7e-4; at hidden 32, 12-22x less.)"""
    init = "neutral"
    items, sl, times = make_batch([L] * 16 + [6] * 16, seed=3)
    other = make_batch([L] * 16 + [6] * 16, seed=4)[2]
    target = (items.gather(1, (sl - 1)[:, None])[:, 0] * 7) % N_ITEMS + 1
    m = build("tim4rec", time_dt_init=init)

    def change() -> float:
        m.eval()
        with torch.no_grad():
            a, b = m.full_scores(items, sl, times), m.full_scores(items, sl, other)
        m.train()
        return ((a - b).abs().max() / a.abs().max()).item()

    before = change()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        m.loss(items, sl, times, target).backward()
        opt.step()
    after = change()
    assert after > 1e-4 and after > 100 * before, (before, after)


def test_time_gaps():
    times = torch.tensor([[100, 150, 150, 400, 0, 0], [7, 9, 0, 0, 0, 0]])
    sl = torch.tensor([4, 2])
    expect = torch.tensor([[0, 50, 0, 250, 0, 0], [0, 2, 0, 0, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(time_gaps(times, sl), expect)
    official = time_gaps(times, sl, official=True)
    assert official[0, 4] == -400 and official[1, 2] == -9 and official[0, 5] == 0


def test_time_features():
    gaps = torch.tensor([[0.0, 10.0, 30.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False]])
    torch.testing.assert_close(time_feature(gaps, "log_gap", mask), torch.log1p(gaps))
    ratio = time_feature(gaps, "user_norm_gap", mask)
    torch.testing.assert_close(ratio[0, :3], torch.tensor([0.0, 10 / 11, 30 / 21], dtype=torch.float64))
    assert (time_feature(gaps, "none", mask) == 0).all()
    with pytest.raises(ValueError, match="time_feature"):
        time_feature(gaps, "hours", mask)


def test_prefix_standardize_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 9, 2, generator=g, dtype=torch.float64) * 1e7 + 1.3e9
    sl = torch.tensor([9, 4, 1])
    mask = torch.arange(9)[None, :] < sl[:, None]
    out = prefix_standardize(x, mask, eps=1e-12)
    for b in range(3):
        for t in range(9):
            if t >= sl[b]:
                assert (out[b, t] == 0).all()
                continue
            prefix = x[b, : t + 1]
            ref = (x[b, t] - prefix.mean(0)) / torch.sqrt(prefix.var(0, unbiased=False) + 1e-12)
            torch.testing.assert_close(out[b, t], ref, rtol=1e-6, atol=1e-6)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="time_residual"):
        build("tim4rec", time_residual="p2p")
    with pytest.raises(ValueError, match="head_dim"):
        build("ssd4rec", head_dim=5)
    with pytest.raises(KeyError, match="no_such_key"):
        models.build("tim4rec", {"no_such_key": 1}, n_items=5)


@pytest.mark.parametrize("name", ["mamba4rec", "ssd4rec", "tim4rec"])
@pytest.mark.parametrize("dataset", [None, "amazon-beauty", "ml-1m"])
def test_default_configs_build(name, dataset):
    cfg = models.default_config(name, dataset)
    assert cfg["max_len"] == (200 if dataset == "ml-1m" else 50)
    m = models.build(name, {"hidden_size": 16, "backend": "torch"}, n_items=5, dataset=dataset)
    items, sl, times = make_batch([4, 2], length=6)
    assert m.full_scores(items.clamp(max=5), sl, times).shape == (2, 6)
    assert set(models.default_train_config(name, dataset)) >= {"lr", "batch_size", "epochs", "patience"}


# --- blocks against slow loops -------------------------------------------------------------------------------


def conv_loop(x, weight, bias):
    """Causal depthwise conv, one output step at a time: x (B, L, C), weight (C, K)."""
    K = weight.shape[1]
    out = torch.zeros_like(x)
    for t in range(x.shape[1]):
        for k in range(K):
            s = t - K + 1 + k
            if s >= 0:
                out[:, t] += weight[:, k] * x[:, s]
    return out + bias


def mamba1_loop(mix: Mamba1Mixer, u):
    x, z = (u @ mix.in_proj.weight.t()).chunk(2, dim=-1)
    x = F.silu(conv_loop(x, mix.conv_weight, mix.conv_bias))
    dt, B, C = (x @ mix.x_proj.weight.t()).split([mix.dt_rank, mix.d_state, mix.d_state], dim=-1)
    A = -torch.exp(mix.A_log)
    h = u.new_zeros(u.shape[0], mix.d_inner, mix.d_state)
    ys = []
    for t in range(u.shape[1]):
        step = F.softplus(dt[:, t] @ mix.dt_proj.weight.t() + mix.dt_proj.bias)  # (B, d_inner)
        h = torch.exp(step[..., None] * A) * h + (step * x[:, t])[..., None] * B[:, t, None, :]
        y = (h * C[:, t, None, :]).sum(-1) + mix.D * x[:, t]
        ys.append(y * F.silu(z[:, t]))
    return torch.stack(ys, 1) @ mix.out_proj.weight.t()


def ssd_mixer_loop(mix: SSDMixer, u, time_dt):
    b, n = u.shape[:2]
    H, P, N = mix.n_heads, mix.head_dim, mix.d_state
    z, xBC, dt = (u @ mix.in_proj.weight.t() + mix.in_proj.bias).split([mix.d_inner, mix.d_inner + 2 * N, H], -1)
    xBC = F.silu(conv_loop(xBC, mix.conv_weight, mix.conv_bias))
    x, B, C = xBC.split([mix.d_inner, N, N], dim=-1)
    x = x.reshape(b, n, H, P)
    A = -torch.exp(mix.A_log)
    h = u.new_zeros(b, H, P, N)
    ys = []
    for t in range(n):
        step = F.softplus(dt[:, t] * time_dt[:, t] + mix.dt_bias)  # (B, H)
        h = torch.exp(step * A)[..., None, None] * h + (step[..., None] * x[:, t])[..., None] * B[:, t, None, None, :]
        ys.append((h * C[:, t, None, None, :]).sum(-1) + mix.D[:, None] * x[:, t])
    y = torch.stack(ys, 1).reshape(b, n, mix.d_inner) * F.silu(z)
    y = y / torch.sqrt(y.pow(2).mean(-1, keepdim=True) + mix.norm.eps) * mix.norm.weight
    return y @ mix.out_proj.weight.t() + mix.out_proj.bias


def test_mamba1_block_matches_loop():
    torch.manual_seed(0)
    mix = Mamba1Mixer(8, d_state=4, d_conv=3, expand=2, backend="torch").double()
    u = torch.randn(2, 7, 8, dtype=torch.float64)
    torch.testing.assert_close(mix(u), mamba1_loop(mix, u))


def test_ssd_block_with_time_matches_loop():
    torch.manual_seed(0)
    mix = SSDMixer(8, d_state=4, d_conv=3, expand=2, head_dim=4, chunk_size=3, backend="torch").double()
    with torch.no_grad():
        mix.D.uniform_(0.5, 1.5)
        mix.norm.weight.uniform_(0.5, 1.5)
    u = torch.randn(2, 7, 8, dtype=torch.float64)
    time_dt = torch.rand(2, 7, mix.n_heads, dtype=torch.float64) * 2
    torch.testing.assert_close(mix(u, time_dt=time_dt), ssd_mixer_loop(mix, u, time_dt))
    torch.testing.assert_close(mix(u), ssd_mixer_loop(mix, u, torch.ones_like(time_dt)))


@pytest.mark.skipif(not triton_importable(), reason="triton is not importable")
@pytest.mark.parametrize("name,overrides", [("mamba4rec", {}), ("ssd4rec", {}), ("tim4rec", {}),
                                            ("tim4rec", OFFICIAL)], ids=variant_id)
def test_triton_backend_matches_torch_end_to_end(name, overrides):
    """The whole model (loss and every parameter gradient) with the Triton kernels equals the torch path."""
    m = build(name, **overrides).to(DEVICE)
    items, sl, times = (t.to(DEVICE) for t in make_batch([L, 6, 2]))
    target = torch.tensor([1, 2, 3], device=DEVICE)
    results = {}
    for backend in ("torch", "triton"):
        for module in m.modules():
            if hasattr(module, "backend"):
                module.backend = backend
        m.zero_grad()
        loss = m.loss(items, sl, times, target)
        loss.backward()
        results[backend] = [loss.detach()] + [p.grad.clone() for p in m.parameters()]
    for ref, got in zip(results["torch"], results["triton"], strict=True):
        torch.testing.assert_close(got, ref, atol=2e-4, rtol=2e-3)


def test_tim4rec_is_an_ssd4rec():
    assert issubclass(TiM4Rec, models.model_class("ssd4rec"))


# --- a tiny data set is overfit ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mamba4rec", "ssd4rec", "tim4rec"])
def test_overfits_tiny_dataset(name):
    torch.manual_seed(0)
    items, sl, times = make_batch([8, 6, 5, 8, 3, 7, 8, 4, 2, 8, 6, 5], length=8, seed=5)
    target = torch.randint(1, N_ITEMS + 1, (items.shape[0],), generator=torch.Generator().manual_seed(9))
    m = build(name)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = m.loss(items, sl, times, target)
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        pred = m.full_scores(items, sl, times)[:, 1:].argmax(-1) + 1
    assert loss.item() < 0.1 and (pred == target).all(), f"{name}: loss {loss.item():.3f}"


@pytest.mark.parametrize("act", [torch.nn.SiLU(), torch.nn.Hardswish()])
def test_pointwise_mlp_is_the_linear_layers_on_each_element(act):
    from models.tim4rec import pointwise_mlp

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(1, 16), act, torch.nn.Linear(16, 1)).double()
    f = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(3, 7, 4, dtype=torch.float64)
    ref = mlp(f.unsqueeze(-1)).squeeze(-1)
    got = pointwise_mlp(mlp, f)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    params = [f, *mlp.parameters()]
    for a, b in zip(torch.autograd.grad(got, params, dy), torch.autograd.grad(ref, params, dy), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_time_mlp_is_linear_on_the_cpu_unless_asked(monkeypatch):
    """Part 18's profile turned the elementwise time MLP off by default (models/tim4rec.time_mlp_elementwise); part
    19's turned the fused kernel on for CUDA (time_mlp_kernel)."""
    from models import tim4rec

    monkeypatch.delenv("SEQREC_TIME_MLP_ELEMENTWISE", raising=False)
    assert tim4rec.time_mlp_elementwise() is False
    monkeypatch.setenv("SEQREC_TIME_MLP_ELEMENTWISE", "1")
    assert tim4rec.time_mlp_elementwise() is True
    monkeypatch.delenv("SEQREC_TIME_MLP_KERNEL", raising=False)  # part 19: the fused kernel on CUDA by default
    assert tim4rec.time_mlp_kernel(on_cuda=True) is True and tim4rec.time_mlp_kernel(on_cuda=False) is False
    monkeypatch.setenv("SEQREC_TIME_MLP_KERNEL", "0")
    assert tim4rec.time_mlp_kernel(on_cuda=True) is False
    monkeypatch.setenv("SEQREC_TIME_MLP_KERNEL", "1")
    assert tim4rec.time_mlp_kernel(on_cuda=False) is True


@pytest.mark.parametrize("elementwise", ["1", "0"])
def test_compiled_tim4rec_takes_the_elementwise_time_mlp_and_the_eager_loss(elementwise, monkeypatch):
    """aot_eager traces TiM4Rec as torch.compile does: with SEQREC_TIME_MLP_ELEMENTWISE=1 its time
    layers' MLPs run as ``pointwise_mlp``, with 0 (the default) as nn.Linear; the loss and its gradients are
    eager's."""
    from models import tim4rec

    monkeypatch.setenv("SEQREC_TIME_MLP_ELEMENTWISE", elementwise)
    torch._dynamo.reset()
    calls = []
    real = tim4rec.pointwise_mlp
    monkeypatch.setattr(tim4rec, "pointwise_mlp", lambda *a: calls.append(1) or real(*a))
    m = build_trained_like("tim4rec").train()
    items, sl, times = make_batch([12, 5, 1, 9])
    target = torch.tensor([3, 7, 1, 30])
    out = {}
    for mode in ("eager", "compiled"):
        m.zero_grad()
        fn = m.loss if mode == "eager" else torch.compile(m.loss, backend="aot_eager")
        loss = fn(items, sl, times, target)
        loss.backward()
        out[mode] = (loss.detach(), [p.grad.clone() for p in m.parameters()])
    assert len(calls) == (2 if elementwise == "1" else 0)  # one a time layer, compiled only
    torch.testing.assert_close(out["compiled"][0], out["eager"][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(out["compiled"][1], out["eager"][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
