"""Figures and tables regenerated from result files (``python -m seqrec report``).

Public API: ``build_report(results, out)`` (everything, returns a ``ReportSummary``), ``collect_results(root)``
(result files -> DataFrames), ``seed_stats`` (mean / std / n over seeds), ``paired_t_test`` /
``paired_t_test_by_seed`` and ``t_cdf``. Imported lazily, so ``python -m seqrec --help`` does not load
matplotlib or pandas.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_report": "seqrec.report.build", "ReportSummary": "seqrec.report.build",
    "collect_results": "seqrec.report.collect", "Collected": "seqrec.report.collect",
    "seed_stats": "seqrec.report.collect", "ReportInputError": "seqrec.report.collect",
    "paired_t_test": "seqrec.report.stats", "paired_t_test_by_seed": "seqrec.report.stats",
    "PairedTest": "seqrec.report.stats", "t_cdf": "seqrec.report.stats",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seqrec.report' has no attribute {name!r}")
