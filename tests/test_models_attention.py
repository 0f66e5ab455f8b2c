"""SASRec and TiSASRec: shapes, gradients, padding invariance, causality, agreement with independent
brute-force forms, TiSASRec's time scaling and interval matrix, and overfitting a tiny synthetic dataset."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
from models.tisasrec import interval_matrix, scaled_times

N_ITEMS = 40
SMALL = {
    "sasrec": {"hidden_size": 16, "n_layers": 2, "n_heads": 2, "max_len": 12},
    "tisasrec": {"hidden_size": 16, "n_layers": 2, "n_heads": 2, "max_len": 12, "backend": "torch"},
}
MODELS = list(SMALL)


def build(name: str, **overrides) -> nn.Module:
    return models.build(name, {**SMALL[name], **overrides}, N_ITEMS)


def random_batch(B: int = 6, L: int = 12, seed: int = 0):
    """Right-padded batch with lengths 1..L (the first row has length 1, the second L) and increasing times
    with repeated timestamps; padding is 0 as the data pipeline produces it."""
    g = torch.Generator().manual_seed(seed)
    seq_len = torch.randint(1, L + 1, (B,), generator=g)
    seq_len[0], seq_len[1] = 1, L
    real = torch.arange(L)[None, :] < seq_len[:, None]
    items = torch.randint(1, N_ITEMS + 1, (B, L), generator=g) * real
    gaps = torch.randint(0, 4, (B, L), generator=g) * torch.randint(1, 5000, (B, 1), generator=g)
    times = (1_600_000_000 + gaps.cumsum(1)) * real
    target = torch.randint(1, N_ITEMS + 1, (B,), generator=g)
    return items, seq_len, times, target


def with_garbage_padding(items, seq_len, times, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    pad = torch.arange(items.size(1))[None, :] >= seq_len[:, None]
    junk_items = torch.randint(0, N_ITEMS + 1, items.shape, generator=g)
    junk_times = torch.randint(-2**40, 2**40, times.shape, generator=g)
    return torch.where(pad, junk_items, items), torch.where(pad, junk_times, times)


# ---------------------------------------------------------------- shapes, gradients, registry


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_backward(name):
    torch.manual_seed(0)
    model = build(name)
    items, seq_len, times, target = random_batch()
    assert model.encode(items, seq_len, times).shape == (6, 12, 16)
    assert model(items, seq_len, times).shape == (6, 16)
    assert model.full_scores(items, seq_len, times).shape == (6, N_ITEMS + 1)
    loss = model.loss(items, seq_len, times, target)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
        if pname != "item_embedding.weight":
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient for {pname}"


def test_build_uses_configs_and_overrides():
    sas = models.build("sasrec", {"hidden_size": 32, "inner_size": 0}, N_ITEMS)
    assert sas.hidden_size == 32 and sas.blocks[0].ffn.w1.out_features == 128  # inner_size 0 -> 4 * hidden
    assert len(sas.blocks) == models.default_config("sasrec")["n_layers"]
    assert models.build("sasrec", None, N_ITEMS, dataset="ml-1m").max_len == 200
    ti = models.build("tisasrec", {"time_span": 7, "n_heads": 2}, N_ITEMS)
    assert ti.interval_k.num_embeddings == 8 and ti.blocks[0].attention.n_heads == 2
    assert models.default_config("tisasrec")["time_span"] == 256
    with pytest.raises(KeyError, match="tisasrec.toml"):
        models.build("tisasrec", {"inner_size": 3}, N_ITEMS)


@pytest.mark.parametrize("name", MODELS)
def test_sequence_longer_than_position_table_is_an_error(name):
    model = build(name, max_len=8)
    items, seq_len, times, _ = random_batch(L=12)
    with pytest.raises(ValueError, match="max_len"):
        model.encode(items, seq_len, times)


# ---------------------------------------------------------------- padding invariance and causality


@pytest.mark.parametrize("name", MODELS)
def test_padding_invariance(name):
    torch.manual_seed(0)
    model = build(name).eval()
    items, seq_len, times, target = random_batch()
    junk_items, junk_times = with_garbage_padding(items, seq_len, times)
    assert not torch.equal(junk_items, items) and not torch.equal(junk_times, times)
    with torch.no_grad():
        ref = model.full_scores(items, seq_len, times)
        out = model.full_scores(junk_items, seq_len, junk_times)
        enc_ref, enc = model.encode(items, seq_len, times), model.encode(junk_items, seq_len, junk_times)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    real = torch.arange(items.size(1))[None, :] < seq_len[:, None]
    torch.testing.assert_close(enc[real], enc_ref[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_causality(name):
    """Changing the items after position t (inside the sequence) leaves the encoding at 0..t unchanged."""
    torch.manual_seed(0)
    model = build(name).eval()
    items, seq_len, times, _ = random_batch(B=8, seed=3)
    seq_len[:] = 12
    items = torch.randint(1, N_ITEMS + 1, items.shape)
    times = 1_000 + torch.arange(12).repeat(8, 1) * 60
    with torch.no_grad():
        ref = model.encode(items, seq_len, times)
        for t in (0, 4, 10):
            changed = items.clone()
            changed[:, t + 1:] = torch.randint(1, N_ITEMS + 1, changed[:, t + 1:].shape)
            out = model.encode(changed, seq_len, times)
            torch.testing.assert_close(out[:, :t + 1], ref[:, :t + 1], atol=1e-5, rtol=1e-5)
            assert (out[:, t + 1:] - ref[:, t + 1:]).abs().max() > 1e-3  # the later positions do see the change


# ---------------------------------------------------------------- agreement with independent forms


def test_sasrec_matches_torch_transformer_layers():
    """RecBole's post-LN block == nn.TransformerEncoderLayer(norm_first=False, gelu) with the same weights."""
    torch.manual_seed(0)
    model = build("sasrec", n_heads=4).eval()
    items, seq_len, times, _ = random_batch()
    B, L = items.shape
    x = model.embed_norm(model.item_embedding(items) + model.position_embedding.weight[:L])
    real_keys = torch.arange(L)[None, None, :] < seq_len[:, None, None]
    allowed = torch.ones(L, L, dtype=torch.bool).tril()[None] & real_keys
    mask = torch.zeros(B, L, L).masked_fill(~allowed, float("-inf")).repeat_interleave(4, dim=0)
    for block in model.blocks:
        layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0, activation="gelu",
                                           batch_first=True, layer_norm_eps=1e-12).eval()
        att, ffn = block.attention, block.ffn
        layer.self_attn.in_proj_weight.data.copy_(att.qkv.weight)
        layer.self_attn.in_proj_bias.data.copy_(att.qkv.bias)
        layer.self_attn.out_proj.load_state_dict(att.out.state_dict())
        layer.linear1.load_state_dict(ffn.w1.state_dict())
        layer.linear2.load_state_dict(ffn.w2.state_dict())
        layer.norm1.load_state_dict(att.norm.state_dict())
        layer.norm2.load_state_dict(ffn.norm.state_dict())
        with torch.no_grad():
            x = layer(x, src_mask=mask)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(items, seq_len, times), x, atol=1e-5, rtol=1e-5)


def naive_tisasrec_encode(model, items, seq_len, times):
    """Brute-force TiSASRec forward (eval mode) from the paper's formulas with the official block order,
    materialising the (B, L, L, d) interval key/value embeddings."""
    B, L = items.shape
    d, k = model.hidden_size, model.time_span
    T = scaled_times(times, seq_len)
    r = (T[:, :, None] - T[:, None, :]).abs().clamp(max=k)                        # (B, L, L)
    RK, RV = model.interval_k.weight[r], model.interval_v.weight[r]                 # (B, L, L, d)
    PK, PV = model.position_k.weight[:L], model.position_v.weight[:L]              # (L, d)
    x = model.item_embedding(items) * math.sqrt(d)
    for block in model.blocks:
        att = block.attention
        H = att.n_heads
        Dh = d // H
        q = block.attn_norm(x)
        Q, K, V = att.q(q), att.k(x), att.v(x)
        out = torch.zeros_like(x)
        for b in range(B):
            for i in range(L):
                js = [j for j in range(L) if j <= i and j < seq_len[b]]
                for h in range(H):
                    sl = slice(h * Dh, (h + 1) * Dh)
                    if not js:
                        continue
                    logits = torch.stack([Q[b, i, sl] @ (K[b, j, sl] + PK[j, sl] + RK[b, i, j, sl]) for j in js])
                    a = torch.softmax(logits / math.sqrt(Dh), 0)
                    out[b, i, sl] = sum(a[n] * (V[b, j, sl] + PV[j, sl] + RV[b, i, j, sl]) for n, j in enumerate(js))
        x = q + out
        y = block.ffn_norm(x)
        x = y + block.ffn.w2(F.relu(block.ffn.w1(y)))
    return model.final_norm(x)


def test_tisasrec_matches_brute_force():
    torch.manual_seed(0)
    model = build("tisasrec", time_span=5, max_len=7).eval()
    items, seq_len, times, _ = random_batch(B=3, L=7, seed=5)
    with torch.no_grad():
        out = model.encode(items, seq_len, times)
        ref = naive_tisasrec_encode(model, items, seq_len, times)
    real = torch.arange(7)[None, :] < seq_len[:, None]
    torch.testing.assert_close(out[real], ref[real], atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- TiSASRec time scaling


def test_interval_matrix_hand_example():
    # times [100, 160, 160, 400]: min 100, smallest non-zero gap 60 -> (t - 100) / 60 = [0, 1, 1, 5];
    # the second row has length 3 (gaps 0, 30 -> scale 30) and garbage in its padding;
    # the third: [0, 10, 25, 45] / 10 = [0, 1, 2.5, 4.5] -> half-to-even [0, 1, 2, 4] (Python's round).
    times = torch.tensor([[100, 160, 160, 400],
                          [1000, 1000, 1030, -77777],
                          [0, 10, 25, 45]])
    seq_len = torch.tensor([4, 3, 4])
    T = scaled_times(times, seq_len)
    assert T.dtype == torch.int64
    assert T.tolist() == [[0, 1, 1, 5], [0, 0, 1, 0], [0, 1, 2, 4]]
    # |T_i - T_j| clipped at k = 3, by hand
    assert interval_matrix(T, 3)[0].tolist() == [[0, 1, 1, 3],
                                                 [1, 0, 0, 3],
                                                 [1, 0, 0, 3],
                                                 [3, 3, 3, 0]]
    assert interval_matrix(T, 3)[1, :3, :3].tolist() == [[0, 0, 1],
                                                         [0, 0, 1],
                                                         [1, 1, 0]]
    # one interaction, or all at the same second: scale 1, all zero
    assert scaled_times(torch.tensor([[5, 9], [7, 7]]), torch.tensor([1, 2])).tolist() == [[0, 0], [0, 0]]


def official_scaling(times: list[int]) -> list[int]:
    """The official code's per-user scaling (without its +1 offset, which no interval sees)."""
    gaps = {b - a for a, b in zip(times, times[1:], strict=False) if b != a}
    scale = min(gaps) if gaps else 1
    return [int(round((t - min(times)) / scale)) for t in times]


def test_scaled_times_matches_official_formula_on_random_sequences():
    items, seq_len, times, _ = random_batch(B=40, L=12, seed=7)
    _, junk_times = with_garbage_padding(items, seq_len, times)
    T = scaled_times(junk_times, seq_len)
    for b in range(40):
        n = int(seq_len[b])
        assert T[b, :n].tolist() == official_scaling(times[b, :n].tolist())
        assert (T[b, n:] == 0).all()


def test_tisasrec_is_invariant_to_per_user_time_units_and_offsets():
    """Only scaled times enter: each user's times * c + o (c > 0) give the same predictions."""
    torch.manual_seed(0)
    model = build("tisasrec").eval()
    items, seq_len, times, _ = random_batch()
    c = torch.tensor([1, 7, 60, 3600, 2, 13])[:, None]
    o = torch.tensor([0, -5, 10**6, 17, 3, 99])[:, None]
    with torch.no_grad():
        ref = model.full_scores(items, seq_len, times)
        torch.testing.assert_close(model.full_scores(items, seq_len, times * c + o), ref, atol=1e-5, rtol=1e-5)
        shuffled = times.clone()
        shuffled[1, 5:] += 10**6  # one long pause: a different interval pattern
        assert (model.full_scores(items, seq_len, shuffled)[1] - ref[1]).abs().max() > 1e-4


@pytest.mark.gpu
def test_tisasrec_backends_agree_on_cuda():
    torch.manual_seed(0)
    model = build("tisasrec", backend="torch").cuda().eval()
    items, seq_len, times, target = (t.cuda() for t in random_batch(B=16))
    ref_loss = model.loss(items, seq_len, times, target)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()))
    for block in model.blocks:
        block.attention.backend = "triton"
    loss = model.loss(items, seq_len, times, target)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    torch.testing.assert_close(loss, ref_loss, atol=1e-4, rtol=1e-4)
    for g, rg in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, rg, atol=1e-3, rtol=1e-3)


# ---------------------------------------------------------------- overfitting tiny synthetic data


def prefix_samples(sequences: list[list[int]], time_lists: list[list[int]], L: int):
    """Every prefix s_1..s_{t-1} -> s_t (t >= 2), right-padded to L."""
    rows = []
    for seq, ts in zip(sequences, time_lists, strict=True):
        for t in range(1, len(seq)):
            n = min(t, L)
            rows.append((seq[t - n:t] + [0] * (L - n), ts[t - n:t] + [0] * (L - n), n, seq[t]))
    items, times, lens, target = zip(*rows, strict=True)
    return torch.tensor(items), torch.tensor(lens), torch.tensor(times), torch.tensor(target)


def train_accuracy(model, batch, steps: int, lr: float) -> tuple[float, float, float]:
    """(first loss, last loss, training accuracy) after ``steps`` full-batch Adam steps."""
    items, seq_len, times, target = batch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model.loss(items, seq_len, times, target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        pred = model.full_scores(items, seq_len, times)[:, 1:].argmax(1) + 1
    return losses[0], losses[-1], (pred == target).float().mean().item()


@pytest.mark.parametrize("name", MODELS)
def test_overfits_tiny_item_patterns(name):
    """20 users, each walking the catalogue with its own stride (1, 2, 3 or 5) from its own start: the next
    item follows from the last two."""
    torch.manual_seed(0)
    strides = [1, 2, 3, 5] * 5
    seqs = [[(3 * u + strides[u] * t) % N_ITEMS + 1 for t in range(10)] for u in range(20)]
    times = [[1000 * u + 60 * t for t in range(10)] for u in range(20)]
    batch = prefix_samples(seqs, times, L=8)
    model = build(name, hidden_size=32, dropout=0.0, max_len=8, **({"attn_dropout": 0.0} if name == "sasrec" else {}))
    first, last, acc = train_accuracy(model, batch, steps=150, lr=5e-3)
    assert last < 0.1 * first and acc > 0.95, (first, last, acc)


def test_tisasrec_learns_from_time_intervals():
    """Identical item sequences whose next item depends only on whether the last gap was long: TiSASRec
    must fit it, which the item-only SASRec cannot (at most half right)."""
    torch.manual_seed(0)
    seqs, times = [], []
    for u in range(20):
        body = [(7 * (u // 2) + t) % (N_ITEMS - 2) + 1 for t in range(6)]  # pairs share items
        long_pause = u % 2 == 1
        ts = [100 * u + 10 * t for t in range(6)]
        ts[-1] += 40 if long_pause else 0
        seqs.append(body + [N_ITEMS if long_pause else N_ITEMS - 1])
        times.append(ts + [ts[-1] + 10])
    items, seq_len, tseq, target = prefix_samples(seqs, times, L=6)
    last = seq_len == 6  # only the full sequences carry the time-dependent target
    batch = (items[last], seq_len[last], tseq[last], target[last])
    ti = build("tisasrec", hidden_size=32, dropout=0.0, max_len=6, time_span=16)
    *_, acc = train_accuracy(ti, batch, steps=150, lr=5e-3)
    assert acc > 0.95, acc
