#!/usr/bin/env bash
# Part 18b: part 18's profiled runs of #4, which part 18's first call skipped (its gate, the GPU tests of the five
# changes, failed on one bf16 tolerance: the graphed fused Adam against torch's uncapturable fused Adam, the losses
# 1.8e-4 apart after 21 bf16 steps; fp32 passed, and the graphed-against-eager tests passed: results/full/README.md,
# part 18). Split over two GPUs, then both GPUs take ml-1m's queue (campaigns/ml1m_queue.sh):
#   GPU 0: #4's run (TiM4Rec, amazon-beauty, h64, seed 0, bf16, compiled, CUDA graph, profiled at epoch 5) with
#     part 18's defaults, then with fused Adam, the padding gradient's spread and the padded item table each off;
#   GPU 1 (after GPU 0's, on a host of one GPU): the repaired fused Adam test (bf16: against eager with the same capturable fused Adam), then the time MLP as
#     GEMMs, the unpadded in_proj, and the defaults eager (not compiled); its queue lane starts after them.
# Usage (repository root, data under .gpu/data):  bash campaigns/part18b.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
PROFILED="SEQREC_PROFILE_EPOCH=5 python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
  --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --amp bf16 --cuda-graph"
SET=$ROOT/$timing-amp-compile-cuda-graph-part18
GPU0=("$PROFILED --compile --out $SET/accuracy"
  "SEQREC_GRAPH_ADAM=foreach $PROFILED --compile --out $SET-foreach-adam/accuracy"
  "SEQREC_ITEM_TABLE_PAD=1 $PROFILED --compile --out $SET-unpadded-table/accuracy"
  "SEQREC_SPREAD_PADDING_GRAD=0 $PROFILED --compile --out $SET-row0-padding-grad/accuracy")
GPU1=("SEQREC_TIME_MLP_ELEMENTWISE=0 $PROFILED --compile --out $SET-linear-time-mlp/accuracy"
  "SEQREC_LINEAR_PAD=1 $PROFILED --compile --out $SET-unpadded-in-proj/accuracy"
  "$PROFILED --out $ROOT/$timing-amp-cuda-graph-part18/accuracy"
  "timeout 200 $PYTEST -m gpu tests/test_train.py -k fused_adam > $ROOT/logs/fused-adam-tests18b.txt 2>&1")
split_one_offs gpu0-profiles gpu1-profiles
