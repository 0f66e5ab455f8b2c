"""One data pipeline for every model: readers, RecBole-style processing, cached datasets, device batches."""

from seqrec.data.dataset import Batch, SeqDataset
from seqrec.data.errors import DataError
from seqrec.data.registry import DATASETS, load_dataset

__all__ = ["Batch", "DATASETS", "DataError", "SeqDataset", "load_dataset"]
