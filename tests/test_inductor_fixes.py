"""seqrec.inductor_fixes: the run-time backport of pytorch/pytorch#180369 for torch < 2.13 (its codegen is checked
on the GPU by tests/test_train.py::test_compiled_tim4rec_loss_at_ml1m_shape_matches_eager)."""

from __future__ import annotations

import pytest
import torch

from seqrec import inductor_fixes


def test_block_shape_fix_patches_torch_before_2_13_once(monkeypatch):
    from torch._inductor.codegen import triton as codegen

    original = codegen.TritonSymbols.__dict__["get_block_shape"]
    monkeypatch.setattr(codegen.TritonSymbols, "get_block_shape", original)  # restored after the test
    monkeypatch.setattr(torch, "__version__", "2.13.0")
    assert inductor_fixes.block_shape_without_x_dim() is False
    assert codegen.TritonSymbols.__dict__["get_block_shape"] is original
    monkeypatch.setattr(torch, "__version__", "2.11.0")
    assert inductor_fixes.block_shape_without_x_dim() is True
    patched = codegen.TritonSymbols.__dict__["get_block_shape"]
    assert patched is not original and patched.__func__._seqrec_fix
    assert inductor_fixes.block_shape_without_x_dim() is True  # once: not wrapped again
    assert codegen.TritonSymbols.__dict__["get_block_shape"] is patched


def _compile_twice_under_autocast() -> dict[str, int]:
    """A loss with autocast inside it, compiled, run forward and backward, then again from a fresh dynamo (the
    second compile finds the first's caches, as a compile-ahead switch does): the second's cache counters."""
    from torch._dynamo.utils import counters

    def loss(layer, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return layer(x).square().mean().float()

    for _ in range(2):
        torch._dynamo.reset()
        counters.clear()
        layer = torch.nn.Linear(8, 8)
        torch.compile(loss)(layer, torch.randn(4, 8)).backward()
    out = {k: int(v) for group in ("inductor", "aot_autograd") for k, v in counters[group].items() if "cache" in k}
    torch._dynamo.reset()
    return out


def test_autocast_graphs_read_aot_autograds_cache_once_marked_cacheable(tmp_path, monkeypatch):
    """Without the mark, AOT autograd bypasses its cache for a graph entering autocast (the check can fail); with it,
    the second compile is a hit of both caches."""
    from torch._inductor import config

    monkeypatch.setattr(config, "unsafe_marked_cacheable_functions", {})
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "unmarked"))
    unmarked = _compile_twice_under_autocast()
    assert unmarked.get("autograd_cache_bypass", 0) >= 1 and unmarked.get("autograd_cache_hit", 0) == 0
    assert inductor_fixes.autocast_cacheable() is True
    assert inductor_fixes.autocast_cacheable() is True and len(config.unsafe_marked_cacheable_functions) == 2
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "marked"))
    marked = _compile_twice_under_autocast()
    assert marked.get("autograd_cache_hit", 0) >= 1 and "autograd_cache_bypass" not in marked
    assert marked.get("fxgraph_cache_hit", 0) >= 1 and "fxgraph_cache_miss" not in marked


def test_autocast_mark_warns_where_torch_lacks_the_setting(monkeypatch):
    from torch._inductor import config

    monkeypatch.delattr(config, "unsafe_marked_cacheable_functions", raising=False)
    with pytest.warns(UserWarning, match="unsafe_marked_cacheable_functions"):
        assert inductor_fixes.autocast_cacheable() is False
