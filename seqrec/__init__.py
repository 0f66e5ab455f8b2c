"""seqrec: the shared engine of the sequential-recommendation benchmark suite.

Data pipeline (`seqrec.data`), full-ranking metrics (`seqrec.metrics`), the training loop
(`seqrec.train`), result files (`seqrec.results`), reports and the command line (`python -m seqrec`).
"""

__version__ = "0.1.0"
