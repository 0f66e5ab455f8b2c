"""SEQREC_REFERENCE_OPS: ``auto`` keeps the named ops on the reference, other ops and explicit backends unchanged,
and result files record it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kernels.dispatch import REFERENCE_OPS_ENV, reference_ops, resolve_backend, triton_importable
from seqrec.results import provenance

CUDA_TENSOR = SimpleNamespace(is_cuda=True)  # resolve_backend reads only .is_cuda


@pytest.mark.skipif(not triton_importable(), reason="auto picks triton only where triton imports")
def test_auto_keeps_named_ops_on_the_reference(monkeypatch):
    monkeypatch.delenv(REFERENCE_OPS_ENV, raising=False)
    assert resolve_backend("auto", CUDA_TENSOR, op="layer_norm") == "triton"
    monkeypatch.setenv(REFERENCE_OPS_ENV, " layer_norm, gated_rms_norm ,")
    assert reference_ops() == {"layer_norm", "gated_rms_norm"}
    assert resolve_backend("auto", CUDA_TENSOR, op="layer_norm") == "torch"
    assert resolve_backend("auto", CUDA_TENSOR, op="gated_rms_norm") == "torch"
    assert resolve_backend("auto", CUDA_TENSOR, op="ssd") == "triton"
    assert resolve_backend("triton", CUDA_TENSOR, op="layer_norm") == "triton"


def test_provenance_records_the_kept_ops(monkeypatch):
    monkeypatch.delenv(REFERENCE_OPS_ENV, raising=False)
    assert "reference_ops" not in provenance("cpu")
    monkeypatch.setenv(REFERENCE_OPS_ENV, "layer_norm,gated_rms_norm")
    rec = provenance("cpu")
    assert rec["reference_ops"] == ["gated_rms_norm", "layer_norm"] and rec["reference_ops_set_by"] == REFERENCE_OPS_ENV
