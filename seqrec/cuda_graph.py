"""The training step (forward, loss over all items, backward, Adam) captured once as a CUDA graph and replayed.

A step is a few hundred small kernels; where the GPU waits on the host that launches them, a replayed graph
launches them all at once. Measured on an H200 (results/full/latency, phase train_step_graph): TiM4Rec's step
at hidden 64, L=50 takes 17.5 ms eager and 3.4 ms replayed at batch 256, but 20.0 and 15.4 ms at batch 2048,
where the GPU's own work dominates. ``train_config["cuda_graph"] = True`` turns it on
(``python -m seqrec train --cuda-graph``). It computes what the eager loop computes:

- Full batches (``batch_size`` rows): the first ``warmup`` run eagerly on a side stream (Triton compiles and
  autotunes, Adam creates its state), the next one is captured and then replayed, and every later one is
  copied into the graph's static inputs and replayed.
- A partial batch (the epoch's last) runs eagerly. It zeroes the gradient tensors in place instead of freeing
  them, so the addresses the graph captured stay the ones the parameters use.
- Dropout draws from the device generator, which CUDA graphs advance on every replay (TiSASRec's fused
  attention draws its kernel seed there too). A model that draws a random seed on the host inside its step
  (``host_rng_in_step`` true) would replay one frozen mask, so it is refused.

Adam must be built with ``capturable=True`` (its step counters live on the device).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqrec.data.dataset import Batch
from seqrec.train import eager_step


class GraphedTrainStep:
    """``step(batch) -> loss`` (0-dim tensor on the device, valid until the next call) for one model and its
    capturable Adam; batches (B, L) as ``SeqDataset.train_batches`` yields them."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch_size: int, warmup: int = 3,
                 loss_fn: Callable[..., torch.Tensor] | None = None):
        if not all(g.get("capturable", False) for g in optimizer.param_groups):
            raise ValueError("cuda_graph: the optimizer must be built with capturable=True")
        if getattr(model, "host_rng_in_step", False):
            raise ValueError(f"cuda_graph: {type(model).__name__} draws a random seed on the host in each step "
                             "(host_rng_in_step); a graph would replay one mask. Train it without cuda_graph, or "
                             "with dropout 0")
        if not any(p.is_cuda for p in model.parameters()):
            raise ValueError("cuda_graph: the model is not on a CUDA device (graphs are CUDA only)")
        if warmup < 1:
            raise ValueError("cuda_graph: warmup must be >= 1 (Adam creates its state in the first step)")
        self.model, self.optimizer, self.batch_size, self.warmup = model, optimizer, batch_size, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: tuple[torch.Tensor, ...] = ()
        self.static_loss: torch.Tensor | None = None
        self.warmed = 0
        self.replays = 0
        self.loss_fn = loss_fn or model.loss  # e.g. under autocast (train_config amp)
        self._eager_fresh = eager_step(model, optimizer, loss_fn=loss_fn)  # before capture: gradients freed
        self._eager_in_place = eager_step(model, optimizer, set_to_none=False, loss_fn=loss_fn)  # after: kept

    def __call__(self, batch: Batch) -> torch.Tensor:
        if batch.target.numel() != self.batch_size:  # the last, partial batch: eager, gradients kept in place
            return (self._eager_fresh if self.graph is None else self._eager_in_place)(batch)
        if self.graph is None and self.warmed < self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager_fresh(batch)
            torch.cuda.current_stream().wait_stream(side)
            self.warmed += 1
            return loss
        inputs = (batch.item_seq, batch.seq_len, batch.time_seq, batch.target)
        if self.graph is None:
            self.static_inputs = tuple(t.clone() for t in inputs)
            self.optimizer.zero_grad(set_to_none=True)  # the graph allocates the gradients it then overwrites
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_loss = self.loss_fn(*self.static_inputs)
                self.static_loss.backward()
                self.optimizer.step()
        else:
            for static, t in zip(self.static_inputs, inputs, strict=True):
                static.copy_(t)
        self.graph.replay()  # capturing recorded the step without running it: the first replay runs it
        self.replays += 1
        return self.static_loss
