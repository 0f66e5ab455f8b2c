"""Fixes of torch.compile (inductor) bugs that our models meet on the torch versions we run, applied at import.

``block_shape_without_x_dim`` (torch < 2.13): pytorch/pytorch#180221, fixed upstream by PR #180369 (2.13).
A Triton kernel without an x tensor dimension keeps its x range tree at ``tensor_dim=None``: a split scan (inductor
splits a cumsum over L >= 129 when a row has few outputs: TiM4Rec's time-feature standardisation at L = 200,
B * 4 = 8192 rows, on a 132-SM H100 or H200) or a persistent reduction with XBLOCK = 1. For a load indexed by x
only (each row's first value, ``seq_len``), ``TritonSymbols.get_block_shape`` indexed a shape list with that None:
``TypeError: list indices must be integers or slices, not NoneType`` (results/full/logs/part9-gpu0-timing.log).
As upstream, such a tree contributes a scalar shape ``()``; every other call runs the original.
"""

from __future__ import annotations

import warnings

import torch

FIXED_IN = (2, 13)


def block_shape_without_x_dim() -> bool:
    """Patch ``TritonSymbols.get_block_shape`` (torch < 2.13). False where not needed or not applicable (the
    internals it relies on moved: a warning then, and inductor as it is)."""
    if torch.torch_version.TorchVersion(torch.__version__) >= FIXED_IN:
        return False
    try:
        from torch._inductor.codegen import triton as codegen

        symbols, v = codegen.TritonSymbols, codegen.V
        original = symbols.get_block_shape.__func__
        symbol_is_type, prefix_str = codegen.symbol_is_type, codegen.prefix_str
        broadcast = codegen.get_broadcasted_shape
    except (ImportError, AttributeError) as e:
        warnings.warn(f"seqrec.inductor_fixes: inductor's internals moved ({e}); not patched", stacklevel=2)
        return False
    if getattr(original, "_seqrec_fix", False):
        return True

    def get_block_shape(cls, expr):
        trees = v.kernel.active_range_trees()
        if all(tree.tensor_dim is not None for tree in trees):
            return original(cls, expr)
        shape = ()
        for var in expr.free_symbols:
            tree = next((t for t in trees for symt in cls.block_types
                         if symbol_is_type(var, symt) and prefix_str[symt] == t.prefix), None)
            var_shape = () if tree is not None and tree.tensor_dim is None else original(cls, var)
            shape = broadcast(shape, var_shape)
        return shape

    get_block_shape._seqrec_fix = True
    symbols.get_block_shape = classmethod(get_block_shape)
    return True
