"""``SeqDataset``: a processed dataset as flat tensors on one device, and batches built there.

Leave-one-out for a user sequence s_1..s_n: training samples are every prefix s_1..s_{t-1} -> s_t for
t = 2..n-2; validation s_1..s_{n-2} -> s_{n-1}; test s_1..s_{n-1} -> s_n. Inputs keep the last
``max_len`` items and are right-padded with 0 (items and times). Users with fewer than 3 interactions
have no samples (never the case after 5-core filtering).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

SPLITS = ("train", "valid", "test")


class Batch(NamedTuple):
    """user (B,), item_seq (B, L), time_seq (B, L), seq_len (B,), target (B,); all int64 on one device."""

    user: torch.Tensor
    item_seq: torch.Tensor
    time_seq: torch.Tensor
    seq_len: torch.Tensor
    target: torch.Tensor


@dataclass
class SeqDataset:
    """A processed dataset: user u (0-based here, id u + 1 in batches) owns ``items[offsets[u]:offsets[u+1]]``
    and the matching ``times``, in chronological order (ties in file order). ``checksum`` is the processed-cache
    key (sha256 of the source bytes, options and pipeline version). All tensors live on ``device``; batches are
    gathered there."""

    name: str
    items: torch.Tensor  # (N,) int64, 1..n_items
    times: torch.Tensor  # (N,) int64 seconds
    offsets: torch.Tensor  # (n_users + 1,) int64
    n_items: int
    max_len: int
    checksum: str
    stats_before: dict = field(default_factory=dict)
    stats_after: dict = field(default_factory=dict)
    _samples: dict = field(default_factory=dict, repr=False)

    @property
    def n_users(self) -> int:
        return self.offsets.numel() - 1

    @property
    def device(self) -> torch.device:
        return self.items.device

    def to(self, device: str | torch.device) -> SeqDataset:
        device = torch.device(device)
        return SeqDataset(self.name, self.items.to(device), self.times.to(device), self.offsets.to(device),
                          self.n_items, self.max_len, self.checksum, self.stats_before, self.stats_after)

    def with_max_len(self, max_len: int) -> SeqDataset:
        return SeqDataset(self.name, self.items, self.times, self.offsets, self.n_items, max_len, self.checksum,
                          self.stats_before, self.stats_after)

    def samples(self, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(user (S,), target position in the flat arrays (S,), input length before truncation (S,))."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        if split not in self._samples:
            lengths = self.offsets[1:] - self.offsets[:-1]
            users = torch.arange(self.n_users, device=self.device)
            eligible = lengths >= 3
            if split == "train":
                per_user = (lengths - 3).clamp(min=0)
                user = users.repeat_interleave(per_user)
                first = torch.cumsum(per_user, 0) - per_user
                t = torch.arange(user.numel(), device=self.device) - first[user] + 1  # t = 1..n-3 (0-based)
            else:
                user = users[eligible]
                t = lengths[eligible] - (2 if split == "valid" else 1)
            self._samples[split] = (user, self.offsets[user] + t, t)
        return self._samples[split]

    def n_samples(self, split: str) -> int:
        return int(self.samples(split)[0].numel())

    def make_batch(self, split: str, index: torch.Tensor) -> Batch:
        """Gather the samples ``index`` (B,) of ``split`` into a right-padded batch, on the device."""
        user, target_pos, t = (x[index] for x in self.samples(split))
        seq_len = t.clamp(max=self.max_len)
        j = torch.arange(self.max_len, device=self.device)
        pos = target_pos[:, None] - seq_len[:, None] + j[None, :]
        valid = j[None, :] < seq_len[:, None]
        pos = torch.where(valid, pos, torch.zeros_like(pos))
        item_seq = torch.where(valid, self.items[pos], torch.zeros_like(pos))
        time_seq = torch.where(valid, self.times[pos], torch.zeros_like(pos))
        return Batch(user + 1, item_seq, time_seq, seq_len, self.items[target_pos])

    def train_batches(self, batch_size: int, seed: int = 0, epoch: int = 0, shuffle: bool = True) -> Iterator[Batch]:
        """Training batches in a seeded order (permutation drawn on CPU from (seed, epoch), then moved)."""
        for index in self.train_indices(batch_size, seed, epoch, shuffle):
            yield self.make_batch("train", index)

    def train_indices(self, batch_size: int, seed: int = 0, epoch: int = 0,
                      shuffle: bool = True) -> Iterator[torch.Tensor]:
        """The training samples (B,) of each batch ``train_batches`` yields, in its order, on the device: for a
        step that builds the batch itself (``make_batch("train", index)``, e.g. inside a CUDA graph)."""
        _check_batch_size(batch_size)
        n = self.n_samples("train")
        if shuffle:
            g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
            order = torch.randperm(n, generator=g).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        """Validation ("valid") or test batches, in user order, built on the device."""
        _check_batch_size(batch_size)
        n = self.n_samples(split)
        for start in range(0, n, batch_size):
            yield self.make_batch(split, torch.arange(start, min(start + batch_size, n), device=self.device))

    def stats(self) -> dict:
        """Statistics before and after filtering, with sample counts per split."""
        after = dict(self.stats_after)
        after.update({f"{s}_samples": self.n_samples(s) for s in SPLITS})
        return {"dataset": self.name, "max_len": self.max_len, "checksum": self.checksum,
                "before_filtering": dict(self.stats_before), "after_filtering": after}


def batch_rows(x: Batch | torch.Tensor) -> int:
    """Rows of a training step's input: a batch, or the sample indices (B,) of one (``train_indices``)."""
    return x.numel() if isinstance(x, torch.Tensor) else x.target.numel()


def _check_batch_size(batch_size: int) -> None:
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
