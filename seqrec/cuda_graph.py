"""The training step (forward, loss over all items, backward, Adam) captured once as a CUDA graph and replayed.

A step is a few hundred small kernels; where the GPU waits on the host that launches them, a replayed graph
launches them all at once. Measured on an H200 (results/full/latency, phase train_step_graph): TiM4Rec's step
at hidden 64, L=50 takes 17.5 ms eager and 3.4 ms replayed at batch 256, but 20.0 and 15.4 ms at batch 2048,
where the GPU's own work dominates. ``train_config["cuda_graph"] = True`` turns it on
(``python -m seqrec train --cuda-graph``). It computes what the eager loop computes:

- Full batches (``batch_size`` rows): the first ``warmup`` run eagerly on a side stream (Triton compiles and
  autotunes, Adam creates its state), the next one is captured and then replayed, and every later one is
  copied into the graph's static inputs and replayed.
- A partial batch (the epoch's last) runs eagerly the first ``partial_warmup`` times its size comes (once the
  full batches' graph exists, zeroing the gradient tensors in place instead of freeing them, so the addresses
  that graph captured stay the ones the parameters use), then is captured as a graph of its own (its own memory
  pool; the gradients zeroed in place and accumulated into, so both graphs share them) and replayed from the next
  epoch on: eagerly it cost about 23 ms of an epoch of 0.49 s (TiM4Rec amazon-beauty, part 12b), the host's
  launches of one step.
- With ``make_batch`` (train_config ``graph_batch``), a step takes the batch's sample indices (B,) instead
  (``SeqDataset.train_indices``) and builds the batch inside the graph (``SeqDataset.make_batch``): the
  gathers that build a batch, about twenty small kernels launched from the host each step, replay with the rest,
  and one index copy replaces the four input copies. The same batches, the same step.
- Dropout draws from the device generator, which CUDA graphs advance on every replay (TiSASRec's fused
  attention draws its kernel seed there too). A model that draws a random seed on the host inside its step
  (``host_rng_in_step`` true) would replay one frozen mask, so it is refused.

Adam must be built with ``capturable=True`` (its step counters live on the device). Under fp16 autocast a
``torch.amp.GradScaler`` scales the loss in the graph; the fused Adam unscales the gradients and skips a step with
a non-finite one on the device, and the scale's update is a device op too, so each replay carries the scale on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqrec.data.dataset import Batch, batch_rows
from seqrec.train import backward_and_step, eager_step


class GraphedTrainStep:
    """``step(batch) -> loss`` (0-dim tensor on the device, valid until the next call) for one model and its
    capturable Adam; batches (B, L) as ``SeqDataset.train_batches`` yields them, or with ``make_batch`` (index
    (B,) -> Batch) the indices ``SeqDataset.train_indices`` yields."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch_size: int, warmup: int = 3,
                 loss_fn: Callable[..., torch.Tensor] | None = None, partial_warmup: int = 1,
                 make_batch: Callable[[torch.Tensor], Batch] | None = None,
                 scaler: torch.amp.GradScaler | None = None):
        if not all(g.get("capturable", False) for g in optimizer.param_groups):
            raise ValueError("cuda_graph: the optimizer must be built with capturable=True")
        if getattr(model, "host_rng_in_step", False):
            raise ValueError(f"cuda_graph: {type(model).__name__} draws a random seed on the host in each step "
                             "(host_rng_in_step); a graph would replay one mask. Train it without cuda_graph, or "
                             "with dropout 0")
        if not any(p.is_cuda for p in model.parameters()):
            raise ValueError("cuda_graph: the model is not on a CUDA device (graphs are CUDA only)")
        if warmup < 1 or partial_warmup < 1:
            raise ValueError("cuda_graph: warmup and partial_warmup must be >= 1 (Adam creates its state in the "
                             "first step; a shape's first step initialises what its capture must not)")
        self.model, self.optimizer, self.batch_size, self.warmup = model, optimizer, batch_size, warmup
        self.partial_warmup = partial_warmup
        self.make_batch = make_batch
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: tuple[torch.Tensor, ...] = ()
        self.static_loss: torch.Tensor | None = None
        self.warmed = 0
        self.replays = 0
        # partial batches by rows: (graph, static inputs, static loss), and how many ran eagerly before it
        self.partial_graphs: dict[int, tuple[torch.cuda.CUDAGraph, tuple[torch.Tensor, ...], torch.Tensor]] = {}
        self.partial_eager: dict[int, int] = {}
        self.partial_replays = 0
        self.loss_fn = loss_fn or model.loss  # e.g. under autocast (train_config amp)
        self.scaler = scaler  # fp16: the loss scaled, Adam (fused) unscaling and skipping on the device
        self._eager_fresh = eager_step(model, optimizer, loss_fn=loss_fn, scaler=scaler)  # before capture: freed
        self._eager_in_place = eager_step(model, optimizer, set_to_none=False, loss_fn=loss_fn,
                                          scaler=scaler)  # after: kept

    def __call__(self, x: Batch | torch.Tensor) -> torch.Tensor:
        """One step on a batch, or with ``make_batch`` on the indices of one."""
        rows = batch_rows(x)
        if rows != self.batch_size:
            return self._partial(x, rows)
        if self.graph is None and self.warmed < self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager_fresh(self._batch(x))
            torch.cuda.current_stream().wait_stream(side)
            self.warmed += 1
            return loss
        if self.graph is None:  # the graph allocates the gradients it then overwrites
            self.graph, self.static_inputs, self.static_loss = self._capture(x, zero_in_graph=False)
        self.replays += 1
        return self._replay((self.graph, self.static_inputs, self.static_loss), x)

    def _batch(self, x: Batch | torch.Tensor) -> Batch:
        return self.make_batch(x) if self.make_batch is not None else x

    def _inputs(self, x: Batch | torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The tensors a captured step copies in: the indices with ``make_batch``, else the batch's inputs."""
        return (x,) if self.make_batch is not None else _inputs(x)

    def _partial(self, x: Batch | torch.Tensor, rows: int) -> torch.Tensor:
        """A batch of other than ``batch_size`` rows: eager until the full graph exists and for its size's first
        ``partial_warmup`` times after, then captured and replayed."""
        if self.graph is None:
            return self._eager_fresh(self._batch(x))
        captured = self.partial_graphs.get(rows)
        if captured is None:
            if self.partial_eager.get(rows, 0) < self.partial_warmup:
                self.partial_eager[rows] = self.partial_eager.get(rows, 0) + 1
                return self._eager_in_place(self._batch(x))
            # the full graph's gradient tensors, zeroed in place in the graph, then accumulated into
            captured = self.partial_graphs[rows] = self._capture(x, zero_in_graph=True)
        self.partial_replays += 1
        return self._replay(captured, x)

    def _capture(self, x: Batch | torch.Tensor, zero_in_graph: bool) -> tuple[torch.cuda.CUDAGraph, tuple,
                                                                               torch.Tensor]:
        """(graph, its static inputs, its static loss) of one step on ``x``'s shapes: the gradients freed
        before the capture (``zero_in_graph`` False: the graph allocates them) or zeroed in place inside it; with
        ``make_batch`` the batch is built inside the graph from the static indices."""
        static_inputs = tuple(t.clone() for t in self._inputs(x))
        if not zero_in_graph:
            self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            if zero_in_graph:
                self.optimizer.zero_grad(set_to_none=False)
            args = _inputs(self.make_batch(*static_inputs)) if self.make_batch is not None else static_inputs
            static_loss = self.loss_fn(*args)
            backward_and_step(static_loss, self.optimizer, self.scaler)
        return graph, static_inputs, static_loss

    def _replay(self, captured: tuple[torch.cuda.CUDAGraph, tuple, torch.Tensor],
                x: Batch | torch.Tensor) -> torch.Tensor:
        """Copy ``x``'s inputs into a captured step's static inputs, replay it, and return its static loss
        (capturing recorded the step without running it: the first replay runs it; copying a just-captured batch
        onto itself is harmless)."""
        graph, static_inputs, static_loss = captured
        for static, t in zip(static_inputs, self._inputs(x), strict=True):
            static.copy_(t)
        graph.replay()
        return static_loss


def _inputs(batch: Batch) -> tuple[torch.Tensor, ...]:
    return batch.item_seq, batch.seq_len, batch.time_seq, batch.target

