"""models/item_table.py: the item lookup that spreads the padding's gradient under compile, and the loss's scores
over an item table padded to a multiple of 64 under autocast, against the plain forms (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import models
from models.item_table import ItemEmbedding, embed_spreading_padding_grad, item_rows_multiple, loss_logits


def _padded_ids(b: int, L: int, vocab: int, seed: int) -> torch.Tensor:
    """(b, L) right-padded item ids in [1, vocab), lengths 1..L: most positions padding, as in amazon-beauty."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, L + 1, (b,), generator=g) // 3 + 1
    ids = torch.randint(1, vocab, (b, L), generator=g)
    return ids.masked_fill(torch.arange(L)[None, :] >= lengths[:, None], 0)


@pytest.mark.parametrize("vocab,seed", [(2, 0), (7, 1), (60, 2)])
def test_spread_lookup_has_the_padding_idx_lookups_values_and_gradients(vocab, seed):
    idx = _padded_ids(5, 9, vocab, seed)
    assert (idx == 0).float().mean() > 0.3
    w = torch.randn(vocab, 4, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(5, 9, 4, dtype=torch.float64)
    ref = F.embedding(idx, w, padding_idx=0)
    (g_ref,) = torch.autograd.grad(ref, w, dy)
    got = embed_spreading_padding_grad(idx, w)
    (g_got,) = torch.autograd.grad(got, w, dy)
    assert torch.equal(got, ref)
    torch.testing.assert_close(g_got, g_ref, rtol=1e-12, atol=1e-12)
    assert not g_got[0].any()  # padding_idx: row 0 never learns


def test_item_embedding_is_the_padding_idx_embedding_eager_and_under_compile(monkeypatch):
    """aot_eager traces the module as torch.compile does (``is_compiling`` is true there): the spread lookup's
    values and gradients are the eager lookup's; the state dict is nn.Embedding's."""
    torch.manual_seed(0)
    emb = ItemEmbedding(13, 4)
    assert emb.padding_idx == 0 and list(emb.state_dict()) == ["weight"]
    idx = _padded_ids(6, 8, 13, 3)
    dy = torch.randn(6, 8, 4)
    calls = []
    real = embed_spreading_padding_grad
    monkeypatch.setattr("models.item_table.embed_spreading_padding_grad",
                        lambda *a: calls.append(1) or real(*a))
    out = {}
    for mode in ("eager", "compiled"):
        emb.weight.grad = None
        fn = emb if mode == "eager" else torch.compile(emb, backend="aot_eager", fullgraph=True)
        y = fn(idx)
        y.backward(dy)
        out[mode] = (y.detach(), emb.weight.grad.clone())
    assert calls  # the compiled module took the spread lookup
    torch.testing.assert_close(out["compiled"][0], out["eager"][0], rtol=0, atol=0)
    torch.testing.assert_close(out["compiled"][1], out["eager"][1], rtol=1e-6, atol=1e-6)


def test_spreading_can_be_turned_off_and_bad_values_are_named(monkeypatch):
    from models.item_table import spread_padding_grad

    monkeypatch.setenv("SEQREC_SPREAD_PADDING_GRAD", "0")
    assert not spread_padding_grad()
    monkeypatch.setenv("SEQREC_SPREAD_PADDING_GRAD", "yes")
    with pytest.raises(ValueError, match="SEQREC_SPREAD_PADDING_GRAD='yes'"):
        spread_padding_grad()
    for bad in ("0", "-3", "x"):
        monkeypatch.setenv("SEQREC_ITEM_TABLE_PAD", bad)
        with pytest.raises(ValueError, match="SEQREC_ITEM_TABLE_PAD"):
            item_rows_multiple()


@pytest.mark.parametrize("n_items", [1, 63, 64, 101])
def test_loss_logits_pad_the_table_under_autocast_only(n_items, monkeypatch):
    monkeypatch.delenv("SEQREC_ITEM_TABLE_PAD", raising=False)
    g = torch.Generator().manual_seed(n_items)
    h = torch.randn(5, 8, generator=g)
    w = torch.randn(n_items + 1, 8, generator=g)
    plain = loss_logits(h, w)
    assert torch.equal(plain, h @ w[1:].t())  # no autocast: the plain scores, (B, n_items)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss_logits(h, w)
    n_pad = -(-n_items // 64) * 64
    assert got.shape == (5, n_pad) and got.dtype == torch.bfloat16
    assert torch.isneginf(got[:, n_items:]).all()
    monkeypatch.setenv("SEQREC_ITEM_TABLE_PAD", "1")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        unpadded = loss_logits(h, w)
    assert unpadded.shape == (5, n_items)
    assert torch.equal(got[:, :n_items], unpadded)  # each score is the same dot product


@pytest.mark.parametrize("n_items", [63, 101])
def test_fp32_scores_under_autocast_are_the_fp32_scores(n_items, monkeypatch):
    """SEQREC_FP32_SCORES=1: under bf16 autocast the scores (and the gradients of h and the table through a
    cross-entropy) are fp32's, padded as the bf16 ones; unset, they are bf16's, rounded: the switch is what
    changes them."""
    monkeypatch.delenv("SEQREC_ITEM_TABLE_PAD", raising=False)
    g = torch.Generator().manual_seed(n_items)
    h0, w0 = torch.randn(7, 16, generator=g), torch.randn(n_items + 1, 16, generator=g)
    target = torch.randint(0, n_items, (7,), generator=g)

    def run(flag, autocast):
        monkeypatch.setenv("SEQREC_FP32_SCORES", flag)
        h, w = h0.clone().requires_grad_(), w0.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = loss_logits(h, w)
        F.cross_entropy(logits.float(), target).backward()
        return logits, h.grad, w.grad

    plain, hg, wg = run("0", autocast=False)
    fp32, hg32, wg32 = run("1", autocast=True)
    assert fp32.dtype == torch.float32 and fp32.shape == (7, -(-n_items // 64) * 64)
    assert torch.isneginf(fp32[:, n_items:]).all()
    torch.testing.assert_close(fp32[:, :n_items], plain, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(hg32, hg, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(wg32, wg, rtol=1e-5, atol=1e-6)
    bf16 = run("0", autocast=True)[0]
    assert bf16.dtype == torch.bfloat16
    assert not torch.allclose(bf16[:, :n_items].float(), plain, rtol=1e-4, atol=1e-4)
    monkeypatch.setenv("SEQREC_FP32_SCORES", "2")
    with pytest.raises(ValueError, match="SEQREC_FP32_SCORES"), torch.autocast("cpu", dtype=torch.bfloat16):
        loss_logits(h0, w0)


def test_the_loss_and_its_gradients_are_the_same_over_the_padded_table(monkeypatch):
    """Under bf16 autocast, the table padded (101 items -> 128 columns) or not: the scores are the same bits, the
    -inf columns take no softmax weight, so the fp32 cross-entropy (CUDA's autocast runs it in fp32) and the
    gradients of h and the table agree; and a model's loss agrees up to bf16 rounding (CPU's autocast runs its
    log-softmax in bf16, over 128 columns against 101)."""
    g = torch.Generator().manual_seed(0)
    h0, w0 = torch.randn(6, 16, generator=g), torch.randn(102, 16, generator=g) * 0.3
    target = torch.randint(0, 101, (6,), generator=g)
    out = {}
    for pad in ("64", "1"):
        monkeypatch.setenv("SEQREC_ITEM_TABLE_PAD", pad)
        h, w = h0.clone().requires_grad_(), w0.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = loss_logits(h, w)
        loss = F.cross_entropy(logits.float(), target)
        loss.backward()
        out[pad] = (loss.detach(), h.grad, w.grad)
    assert out["64"][2].shape == w0.shape and not out["64"][2][0].any()  # row 0, padding: no gradient
    torch.testing.assert_close(out["64"][0], out["1"][0], rtol=1e-6, atol=1e-7)
    for a, b in zip(out["64"][1:], out["1"][1:], strict=True):
        assert (a - b).norm() <= 1e-2 * b.norm()

    torch.manual_seed(0)
    model = models.build("sasrec", {"hidden_size": 16, "dropout": 0.0, "max_len": 8}, n_items=101)
    item_seq = _padded_ids(6, 8, 102, 4)
    seq_len = (item_seq > 0).sum(1)
    losses = {}
    for pad in ("64", "1"):
        monkeypatch.setenv("SEQREC_ITEM_TABLE_PAD", pad)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses[pad] = model.loss(item_seq, seq_len, torch.zeros_like(item_seq), target + 1)
    torch.testing.assert_close(losses["64"], losses["1"], rtol=2e-4, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_padded_scores_on_cuda_are_the_unpadded_ones(monkeypatch):
    """CUDA's bf16 autocast: the padded table's addmm with its -inf bias (cuBLAS's bias epilogue) gives the
    unpadded scores in the first n_items columns, -inf past them, and the same fp32 loss and gradients."""
    g = torch.Generator(device="cuda").manual_seed(0)
    h0 = torch.randn(2048, 64, device="cuda", generator=g)
    w0 = torch.randn(12102, 64, device="cuda", generator=g) * 0.1
    target = torch.randint(0, 12101, (2048,), device="cuda", generator=g)
    out = {}
    for pad in ("64", "1"):
        monkeypatch.setenv("SEQREC_ITEM_TABLE_PAD", pad)
        h, w = h0.clone().requires_grad_(), w0.clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = loss_logits(h, w)
            loss = F.cross_entropy(logits, target)
        loss.backward()
        out[pad] = (logits.detach(), loss.detach(), h.grad, w.grad)
    assert out["64"][0].shape == (2048, 12160) and torch.isneginf(out["64"][0][:, 12101:]).all()
    torch.testing.assert_close(out["64"][0][:, :12101], out["1"][0], rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(out["64"][1], out["1"][1], rtol=1e-5, atol=1e-6)
    for a, b in zip(out["64"][2:], out["1"][2:], strict=True):
        assert (a - b).norm() <= 1e-2 * b.norm()
