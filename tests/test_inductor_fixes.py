"""seqrec.inductor_fixes: the run-time backport of pytorch/pytorch#180369 for torch < 2.13 (its codegen is checked
on the GPU by tests/test_train.py::test_compiled_tim4rec_loss_at_ml1m_shape_matches_eager)."""

from __future__ import annotations

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
