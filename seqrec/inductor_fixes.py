"""Fixes of torch.compile (inductor) bugs that our models meet on the torch versions we run, applied at import.

``block_shape_without_x_dim`` (torch < 2.13): pytorch/pytorch#180221, fixed upstream by PR #180369 (2.13).
A Triton kernel without an x tensor dimension keeps its x range tree at ``tensor_dim=None``: a split scan (inductor
splits a cumsum over L >= 129 when a row has few outputs: TiM4Rec's time-feature standardisation at L = 200,
B * 4 = 8192 rows, on a 132-SM H100 or H200) or a persistent reduction with XBLOCK = 1. For a load indexed by x
only (each row's first value, ``seq_len``), ``TritonSymbols.get_block_shape`` indexed a shape list with that None:
``TypeError: list indices must be integers or slices, not NoneType`` (results/full/logs/part9-gpu0-timing.log).
As upstream, such a tree contributes a scalar shape ``()``; every other call runs the original.

``autocast_cacheable`` (every torch we run): AOT autograd's cache bypasses any graph that calls a function outside its
allow-list, and a loss compiled with ``torch.autocast`` inside it calls ``torch.amp.autocast_mode._enter_autocast`` and
``_exit_autocast``: every compile under ``amp`` traced the joint graph again and partitioned it, warm caches or not,
a ``--compile-ahead`` run's switch to the compiled loss included (found on CPU, TiM4Rec h16 bf16 with our kernels
interpreted: a warm compile's forward 2.29 s and backward 0.13 s, against 0.57 s and none once allowed; the 13.5-19.5 s
switches of parts 29-30 on an H200 had another cause as well, a background model without the run's dropout masks:
``seqrec.train.adapt_precision``). Both take only constants (device
type, dtype, enabled, cache), which are nodes' arguments of the graph the cache key hashes, so inductor's own escape
hatch, ``unsafe_marked_cacheable_functions``, is safe for them.
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


AUTOCAST_FUNCTIONS = ("torch.amp.autocast_mode._enter_autocast", "torch.amp.autocast_mode._exit_autocast")


def autocast_cacheable() -> bool:
    """Let AOT autograd's cache keep graphs that enter and leave autocast (``AUTOCAST_FUNCTIONS`` in inductor's
    ``unsafe_marked_cacheable_functions``; part of inductor's config, hence of the cache key, in every process that
    compiles the loss). False where this torch has no such setting (a warning then, the cache bypassed as before)."""
    from torch._inductor import config

    marked = getattr(config, "unsafe_marked_cacheable_functions", None)
    if not isinstance(marked, dict):
        warnings.warn("seqrec.inductor_fixes: this torch has no unsafe_marked_cacheable_functions; AOT autograd's "
                      "cache stays bypassed under autocast", stacklevel=2)
        return False
    if any(name not in marked for name in AUTOCAST_FUNCTIONS):
        config.unsafe_marked_cacheable_functions = {**marked, **{name: "seqrec-1" for name in AUTOCAST_FUNCTIONS}}
    return True
