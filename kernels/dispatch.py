"""Backend choice for every sequence-mixer op.

``backend`` is one of:
  ``"auto"``      our Triton kernel on CUDA tensors when Triton is importable, else the PyTorch reference;
  ``"torch"``     the pure-PyTorch reference (any device);
  ``"triton"``    our Triton kernel (CUDA, or CPU under ``TRITON_INTERPRET=1``);
  ``"mamba_ssm"`` the official mamba-ssm kernel (CUDA, package importable).
A backend that is requested but not available is an error that says why.

``SEQREC_REFERENCE_OPS`` (comma-separated op names, e.g. ``layer_norm,gated_rms_norm``) makes ``auto`` resolve
those ops to the reference: a kernel that fails its GPU tests on a new card is set aside without a code change.
Result files record it (``seqrec.results.provenance``).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import types

import torch

BACKENDS = ("auto", "torch", "triton", "mamba_ssm")
REFERENCE_OPS_ENV = "SEQREC_REFERENCE_OPS"


def reference_ops() -> frozenset[str]:
    """Op names that ``auto`` keeps on the reference (``SEQREC_REFERENCE_OPS``)."""
    return frozenset(op.strip() for op in os.environ.get(REFERENCE_OPS_ENV, "").split(",") if op.strip())


class BackendUnavailable(RuntimeError):
    """A requested backend cannot run here (missing package, no CUDA, op not implemented)."""


def autocast_on(x: torch.Tensor) -> bool:
    """Whether autocast is on for x's device type (False where that type has none, e.g. meta). Under
    torch.compile only ``torch.is_autocast_enabled`` is asked: torch 2.11's Dynamo cannot trace
    ``torch.amp.is_autocast_available`` (a builtin), and each call was a graph break (part 19's anatomy of the
    compiled TiM4Rec step: 13 graphs, the custom ops between them eager); a compiled tensor's device has autocast."""
    kind = x.device.type
    if torch.compiler.is_compiling():
        return torch.is_autocast_enabled(kind)
    return torch.amp.is_autocast_available(kind) and torch.is_autocast_enabled(kind)


def triton_interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@functools.cache
def triton_importable() -> bool:
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:
        return False
    return True


def _stub_selective_scan_cuda() -> None:
    """mamba-ssm imports the compiled ``selective_scan_cuda`` unconditionally; its Triton SSD kernels do
    not need it. A stub module lets them import when the extension was not built."""
    if "selective_scan_cuda" in sys.modules:
        return
    try:
        importlib.import_module("selective_scan_cuda")
    except ImportError:
        stub = types.ModuleType("selective_scan_cuda")
        stub.__doc__ = "seqrec stub: mamba-ssm's CUDA selective scan was not built"
        sys.modules["selective_scan_cuda"] = stub


@functools.cache
def mamba_ssm_status() -> str | None:
    """None when ``mamba_ssm`` imports (with the stub if needed), else the reason it does not."""
    _stub_selective_scan_cuda()
    try:
        importlib.import_module("mamba_ssm")
    except Exception as e:  # ImportError, or errors raised by its CUDA/Triton imports
        return f"mamba_ssm does not import: {type(e).__name__}: {e}"
    return None


def install_selective_scan_cuda(module: types.ModuleType) -> int:
    """Make the compiled ``module`` mamba-ssm's ``selective_scan_cuda``: in ``sys.modules`` and in every
    mamba_ssm module already imported with our stub bound to that name (``import selective_scan_cuda`` at their
    import copied the stub into their namespace; replacing ``sys.modules`` alone leaves them calling it).
    Returns how many modules were rebound."""
    sys.modules["selective_scan_cuda"] = module
    rebound = 0
    for name, loaded in list(sys.modules.items()):
        if (name == "mamba_ssm" or name.startswith("mamba_ssm.")) and loaded is not None:
            bound = getattr(loaded, "selective_scan_cuda", None)
            if isinstance(bound, types.ModuleType) and bound is not module and not hasattr(bound, "fwd"):
                loaded.selective_scan_cuda = module
                rebound += 1
    return rebound


def selective_scan_cuda_built() -> bool:
    """True when mamba-ssm's compiled selective scan (not our stub) is importable."""
    mod = sys.modules.get("selective_scan_cuda")
    if mod is None:
        try:
            mod = importlib.import_module("selective_scan_cuda")
        except ImportError:
            return False
    return hasattr(mod, "fwd")


def resolve_backend(requested: str, *tensors: torch.Tensor, op: str = "op",
                    implemented: tuple[str, ...] = ("torch", "triton")) -> str:
    """The concrete backend (``"torch" | "triton" | "mamba_ssm"``) for ``requested`` on these tensors.

    ``implemented`` lists the backends this op has. Raises ``BackendUnavailable`` with the reason.
    """
    if requested not in BACKENDS:
        raise ValueError(f"{op}: unknown backend {requested!r}; choose one of {BACKENDS}")
    on_cuda = any(t.is_cuda for t in tensors)
    if requested == "auto":
        if op in reference_ops():
            return "torch"
        if on_cuda and "triton" in implemented and triton_importable():
            return "triton"
        return "torch"
    if requested not in implemented:
        raise BackendUnavailable(f"{op}: backend {requested!r} is not implemented for this op "
                                 f"(available: {', '.join(implemented)})")
    if requested == "triton":
        if not triton_importable():
            raise BackendUnavailable(f"{op}: backend 'triton' requested but triton is not installed")
        if not on_cuda and not triton_interpret():
            raise BackendUnavailable(f"{op}: backend 'triton' needs CUDA tensors "
                                     "(or TRITON_INTERPRET=1 to run the kernel on CPU)")
    if requested == "mamba_ssm":
        if not on_cuda:
            raise BackendUnavailable(f"{op}: backend 'mamba_ssm' needs CUDA tensors")
        reason = mamba_ssm_status()
        if reason:
            raise BackendUnavailable(f"{op}: backend 'mamba_ssm' unavailable: {reason}")
    return requested
