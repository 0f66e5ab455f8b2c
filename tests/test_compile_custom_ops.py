"""Our kernels under torch.compile: the SSD, causal-conv, selective-scan and interval-attention custom ops
(``kernels.*.op``) pass torch.library's op checks (schema, fake tensors, autograd registration, AOT dispatch), and
TiM4Rec, SSD4Rec, Mamba4Rec and TiSASRec on the Triton backend compile to one graph (``fullgraph=True`` raises at
any graph break) that computes the eager loss and gradients. Triton runs under TRITON_INTERPRET=1 on CPU; the real
kernels on CUDA."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "0" if __import__("torch").cuda.is_available() else "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from test_train import consecutive_dataset  # noqa: E402

import models  # noqa: E402
from kernels.dispatch import triton_importable  # noqa: E402

pytestmark = pytest.mark.skipif(not triton_importable(), reason="triton is not installed")
CHECKS = ("test_schema", "test_faketensor", "test_autograd_registration", "test_aot_dispatch_dynamic")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _leaf(*shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, device=DEVICE) * scale + shift).requires_grad_()


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("optional", [True, False])
def test_ssd_custom_op_passes_opcheck(groups, optional):
    from kernels.ssd import op

    b, L, H, P, N = 2, 19, 4, 8, 16
    args = (_leaf(b, L, H, P), _leaf(b, L, H), _leaf(H, scale=0.5, shift=-1.0), _leaf(b, L, groups, N),
            _leaf(b, L, groups, N), _leaf(H) if optional else None, _leaf(H) if optional else None,
            _leaf(b, L, H, scale=0.3, shift=1.0) if optional else None, True)
    torch.library.opcheck(op.ssd_fwd, args, test_utils=CHECKS)


@pytest.mark.parametrize("channels", [1, 24])  # one channel: dweight and dbias are views of one sum
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sequential", [True, False])  # the backward's launch: its partial sums' rows differ
def test_causal_conv1d_custom_op_passes_opcheck(channels, bias, sequential):
    from kernels.conv import op

    x = _leaf(2, 3 * channels, 11).transpose(1, 2)[:, :, :channels]  # a strided view, as the mixers pass it
    args = (x, _leaf(channels, 4), _leaf(channels) if bias else None, True, sequential)
    torch.library.opcheck(op.causal_conv1d_fwd, args, test_utils=CHECKS)


@pytest.mark.parametrize("env", ["0", "1"])
def test_compiled_conv_carries_the_backward_launch_in_its_graph(env, monkeypatch):
    """Under torch.compile the conv's backward launch (sequential or tiled: different partial sums) is the
    environment's choice when the graph is traced, held in the graph as the custom op's argument: torch's compile
    caches key on the graph, so one choice's compiled backward is never served to a run of the other (part 22's
    anatomy was, and failed), and the compiled gradients are the eager ones."""
    from kernels.conv import causal_conv1d, fused

    monkeypatch.setattr(fused, "BWD_SEQUENTIAL", None)
    monkeypatch.setenv("SEQREC_CONV_BWD_SEQUENTIAL", env)
    seen = []

    def recording(gm, example_inputs):
        seen.extend(n.args[-1] for n in gm.graph.nodes if n.target is torch.ops.seqrec.causal_conv1d_fwd.default)
        return torch._dynamo.backends.common.aot_autograd(fw_compiler=lambda g, _: g)(gm, example_inputs)

    def loss(x, w, b):
        return (causal_conv1d(x, w, b, "silu", backend="triton") ** 2).sum()

    leaves = [_leaf(3, 13, 20), _leaf(20, 4), _leaf(20)]
    torch._dynamo.reset()
    torch.compile(loss, fullgraph=True, backend=recording)(*leaves).backward()
    compiled = [t.grad for t in leaves]
    assert seen == [env == "1"]
    clones = [t.detach().clone().requires_grad_() for t in leaves]
    loss(*clones).backward()
    for a, b in zip(compiled, [t.grad for t in clones], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optional", [True, False])
def test_selective_scan_custom_op_passes_opcheck(optional):
    from kernels.selective_scan import op

    b, d, L, N = 2, 12, 19, 8  # L: 3 chunks of 7, the last one short
    args = (_leaf(b, d, L), _leaf(b, d, L, scale=0.5), _leaf(d, N, scale=0.3, shift=-1.0), _leaf(b, N, L),
            _leaf(b, N, L), _leaf(d) if optional else None, _leaf(b, d, L) if optional else None,
            _leaf(d) if optional else None, True)
    torch.library.opcheck(op.selective_scan_fwd, args, test_utils=CHECKS)


@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_interval_attention_custom_op_passes_opcheck(dropout_p):
    from kernels.interval_attention import op
    from kernels.interval_attention.fused import kernel_inputs

    b, h, L, dh, r = 2, 2, 12, 16, 9
    times = torch.sort(torch.randint(0, 50, (b, L), device=DEVICE), dim=1).values
    inputs = kernel_inputs(_leaf(b, h, L, dh), _leaf(b, h, L, dh), _leaf(b, h, L, dh), _leaf(r, h, dh), _leaf(r, h, dh),
                           times, torch.tensor([L, 7], device=DEVICE))
    seed = torch.tensor([1234], device=DEVICE) if dropout_p else inputs[-1]
    torch.library.opcheck(op.interval_attention_fwd, (*inputs, dropout_p, seed), test_utils=CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tim4rec", "ssd4rec", "mamba4rec", "tisasrec"])
def test_compiled_model_is_one_graph_with_the_eager_gradients(name):
    ds = consecutive_dataset(n_users=8, n_items=60, max_len=12).to(DEVICE)
    batch = next(iter(ds.train_batches(8, seed=0, epoch=0)))
    args = (batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
    runs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        config = {"hidden_size": 16, "max_len": 12, "backend": "triton", "dropout": 0.0}
        model = models.build(name, {**config, "time_dropout": 0.0} if name == "tim4rec" else config, n_items=60)
        model.to(DEVICE).train()
        torch._dynamo.reset()
        loss_fn = torch.compile(model.loss, fullgraph=True, backend="aot_eager") if compiled else model.loss
        loss = loss_fn(*args)
        loss.backward()
        runs.append((loss.detach(), [p.grad for p in model.parameters()]))
    (eager_loss, eager_grads), (comp_loss, comp_grads) = runs
    torch.testing.assert_close(comp_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(comp_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["tim4rec", "ssd4rec", "mamba4rec", "tisasrec", "sasrec"])
def test_autocast_loss_is_one_graph_where_dynamo_cannot_trace_autocast_availability(name, monkeypatch):
    """Under bf16 autocast every model's loss on the Triton backend traces to one graph, even where Dynamo cannot
    trace ``torch.amp.is_autocast_available`` (torch 2.11's, the GPU machine's: a builtin, a graph break at each
    call; here made opaque to Dynamo the same way). Part 19's anatomy found TiM4Rec's compiled step split into 13
    graphs by it (``kernels.dispatch.autocast_on`` asks it outside compile only)."""
    available = torch.amp.is_autocast_available
    monkeypatch.setattr(torch.amp, "is_autocast_available", torch._dynamo.disable(lambda kind: available(kind)))
    ds = consecutive_dataset(n_users=8, n_items=60, max_len=12).to(DEVICE)
    batch = next(iter(ds.train_batches(8, seed=0, epoch=0)))
    config = {"hidden_size": 16, "max_len": 12} | ({"backend": "triton"} if name != "sasrec" else {})
    model = models.build(name, config, n_items=60).to(DEVICE).train()

    def loss(*args):
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            return model.loss(*args)

    torch._dynamo.reset()
    explained = torch._dynamo.explain(loss)(batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
    assert explained.graph_count == 1, [str(b.reason)[:200] for b in explained.break_reasons]


@pytest.mark.parametrize("name", ["tim4rec", "ssd4rec"])
def test_autocast_loss_with_fp32_islands_is_one_graph_with_the_eager_loss(name):
    """SEQREC_FP32_MODULES (models/fp32_islands.py) keeps modules in fp32 under bf16 autocast: their autocast switch
    must not break the compiled loss's graph, nor change what it computes."""
    from models.fp32_islands import keep_fp32
    ds = consecutive_dataset(n_users=8, n_items=60, max_len=12).to(DEVICE)
    batch = next(iter(ds.train_batches(8, seed=0, epoch=0)))
    model = models.build(name, {"hidden_size": 16, "max_len": 12, "backend": "triton"}, n_items=60).to(DEVICE).eval()
    kept = keep_fp32(model, ("layers.*.mixer",) + (("time_layers.*.scale_mlp",) if name == "tim4rec" else ()))
    assert len(kept) == (4 if name == "tim4rec" else 2)
    args = (batch.item_seq, batch.seq_len, batch.time_seq, batch.target)

    def loss(*args):
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            return model.loss(*args).float()

    torch._dynamo.reset()
    explained = torch._dynamo.explain(loss)(*args)
    assert explained.graph_count == 1, [str(b.reason)[:200] for b in explained.break_reasons]
    torch.testing.assert_close(torch.compile(loss, fullgraph=True, backend="aot_eager")(*args), loss(*args))
