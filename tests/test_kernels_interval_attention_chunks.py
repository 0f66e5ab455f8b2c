"""The fused interval attention over batch chunks (``fused.INTERVAL_SPACE_BYTES``): with the budget forced small,
out and every gradient equal the one-chunk run (with dropout too: the masks are keyed by the global batch row, not
the chunk's) and the naive reference. Triton under TRITON_INTERPRET=1 on CPU, real on CUDA."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from test_kernels_interval_attention import (  # noqa: E402
    DEVICE,
    NAMES,
    close_enough,
    make_inputs,
    needs_triton,
    rel_rms,
    run_with_grads,
)

from kernels.interval_attention import interval_attention_ref  # noqa: E402


@pytest.mark.parametrize("bsz,sizes", [(2048, {2: 326, 4: 163}), (256, {2: 192, 4: 96})])
def test_batch_chunks_cover_the_batch_within_the_budget(bsz, sizes):
    """At L = 200 (h64, 1 head, R = 257): B = 2048 within the 128 MiB default, B = 256 within the naive form's two
    (B, L, L, d) fp32 tensors over d (8 B L^2 = 78 MiB: issue #5's factor d), in multiples of 16 sequences."""
    from kernels.interval_attention.fused import INTERVAL_SPACE_BYTES, batch_chunks

    per_seq = 1 * 200 * 257 * 4  # one (H=1, L=200, R=257) fp32 array per sequence
    for arrays, size in sizes.items():
        chunks = batch_chunks(bsz, 1, 200, 257, arrays)
        assert chunks[0][0] == 0 and chunks[-1][1] == bsz
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:], strict=False))
        assert chunks[0][1] - chunks[0][0] == size and all(b - a <= size for a, b in chunks)
        assert size * arrays * per_seq <= min(INTERVAL_SPACE_BYTES, 8 * bsz * 200 * 200)


def test_batch_chunks_take_one_chunk_where_it_fits_and_at_least_a_sequence(monkeypatch):
    from kernels.interval_attention import fused

    assert fused.batch_chunks(8, 1, 50, 9, 4) == [(0, 8)]  # the whole batch fits: one chunk
    assert fused.batch_chunks(3, 64, 256, 10**6, 4) == [(0, 1), (1, 2), (2, 3)]  # at least one sequence a chunk
    # 8 B L^2 = 73,728 bytes: 42 sequences of 1,728, taken as 32 (a multiple of 16); at least 16 where fewer fit
    assert fused.batch_chunks(64, 1, 12, 9, 4) == [(0, 32), (32, 64)]
    assert fused.batch_chunks(20, 1, 12, 9, 4) == [(0, 16), (16, 20)]
    monkeypatch.setattr(fused, "WITHIN_NAIVE_OVER_D", False)
    assert fused.batch_chunks(64, 1, 12, 9, 4) == [(0, 64)]  # INTERVAL_SPACE_BYTES alone


SHAPE = (5, 2, 12, 16, 9)  # (B, H, L, Dh, R)


@needs_triton
@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_chunked_batch_equals_one_chunk_and_reference(monkeypatch, dropout_p):
    from kernels.interval_attention import fused

    bsz, heads, seqlen, dh, num_r = SHAPE
    inputs = make_inputs(*SHAPE, dtype=torch.float32, device=DEVICE, seed=21)
    # mostly long rows, so that every chunk has much to get wrong; one padded row per chunk of two
    seq_len = torch.tensor([seqlen, 9, seqlen, 5, 11])
    g = torch.Generator().manual_seed(23)
    times = torch.randint(0, 2 * num_r, (bsz, seqlen), generator=g).sort(-1).values
    times = torch.where(torch.arange(seqlen)[None] < seq_len[:, None], times, 0)
    inputs.update(seq_len=seq_len.to(DEVICE), times=times.to(DEVICE))
    dout = torch.randn(*SHAPE[:4], generator=torch.Generator().manual_seed(22)).to(DEVICE)
    launched = {"fwd": [], "bwd": []}
    for phase in launched:
        real = getattr(fused, f"_{phase}_chunk")
        spy = lambda c, *a, real=real, seen=launched[phase]: seen.append((c.start, c.stop)) or real(c, *a)  # noqa: E731
        monkeypatch.setattr(fused, f"_{phase}_chunk", spy)
    runs = []
    monkeypatch.setattr(fused, "WITHIN_NAIVE_OVER_D", False)  # the budget alone decides the chunks
    # the default budget (one chunk), then room for two sequences' four backward arrays (two forward arrays: four)
    for budget in (fused.INTERVAL_SPACE_BYTES, 2 * 4 * heads * seqlen * num_r * 4):
        monkeypatch.setattr(fused, "INTERVAL_SPACE_BYTES", budget)
        torch.manual_seed(5)  # the op draws its dropout seed from torch's generator
        runs.append(run_with_grads(fused.interval_attention_fused, inputs, dout, dropout_p=dropout_p))
    assert launched == {"fwd": [(0, 5), (0, 4), (4, 5)], "bwd": [(0, 5), (0, 2), (2, 4), (4, 5)]}
    (out_one, grads_one), (out_chunked, grads_chunked) = runs
    torch.testing.assert_close(out_chunked, out_one, rtol=1e-5, atol=1e-6)
    for name in NAMES:
        torch.testing.assert_close(grads_chunked[name], grads_one[name], rtol=1e-5, atol=1e-5, msg=name)

    mask = None
    if dropout_p > 0:
        torch.manual_seed(5)
        kernel_seed = torch.randint(0, 2**31 - 1, (1,), device=DEVICE)
        mask = fused.dropout_keep_mask(kernel_seed, bsz, heads, seqlen, dropout_p, device=DEVICE)
    ref_inputs = {k: (v.double() if k in NAMES else v) for k, v in inputs.items()}
    out_ref, grads_ref = run_with_grads(interval_attention_ref, ref_inputs, dout.double(), dropout_p=dropout_p,
                                        dropout_mask=mask)
    assert close_enough(out_chunked, out_ref, 5e-3), f"out rel rms {rel_rms(out_chunked, out_ref)}"
    for name in NAMES:
        got, ref = grads_chunked[name], grads_ref[name]
        assert close_enough(got, ref, 5e-3), f"{name}: {rel_rms(got, ref)}"


def test_interval_space_stays_fp32_under_autocast():
    """The forward's interval logits (under the loss's autocast) are the ones the backward recomputes (outside)."""
    from kernels.interval_attention.fused import interval_space

    x, table = torch.randn(2, 6, 4), torch.randn(5, 2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = interval_space(x, table)
    assert got.dtype == torch.float32 and torch.equal(got, interval_space(x, table))


def test_chunk_budget_comes_from_the_environment_and_bad_values_name_the_variable():
    from kernels.interval_attention.fused import interval_space_budget

    assert interval_space_budget({}) == 128 * 2**20
    assert interval_space_budget({"SEQREC_INTERVAL_SPACE_MIB": "64"}) == 64 * 2**20
    for bad in ("0", "-4", "1.5", "lots", ""):
        with pytest.raises(ValueError, match="SEQREC_INTERVAL_SPACE_MIB"):
            interval_space_budget({"SEQREC_INTERVAL_SPACE_MIB": bad})
