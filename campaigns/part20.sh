#!/usr/bin/env bash
# Part 20, on a host of any number of GPUs, after part 19 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
#   GPU 0: once a session (.tests20-done), the GPU tests of what changed after part 19: every model's compiled
#     loss one graph (autocast_on no longer asks torch.amp.is_autocast_available under compile: torch 2.11's Dynamo
#     broke the graph at each call, 13 graphs in part 19's anatomy), the graphed step against eager, the fp32 scores;
#     and the anatomy of the step again (logs/anatomy20.*: one compiled graph, the aten sums of part 19 gone?). Then
#     #4's run (TiM4Rec, amazon-beauty, h64, seed 0, bf16, compiled, CUDA graph, profiled at epoch 5) with part 19's
#     defaults (the fused time MLP, the bf16-product SSD dots) and one graph (set <timing>-amp-compile-cuda-graph-
#     part20) and with the loss's scores in fp32 (SEQREC_FP32_SCORES=1: -part20-fp32-scores). Part 19's step, split
#     into 13 graphs, took 0.246 s an epoch. Then what ml-1m's epoch takes on the fast path: 3 epochs of TiM4Rec ml-1m
#     h64 seed 0 compiled and graphed in fp32 (set <timing>-compile-cuda-graph-ml1m-3-epochs: 3 epochs, not a trained
#     model); the queue's fp32 eager runs take 14-21 s an epoch, and #8 and #9 have some 100 such runs left.
#   GPU 1 (after GPU 0's lines on a host of one GPU): where bf16's 1.2% of NDCG@10 goes, seeds 0-9 of the same run
#     unprofiled with the scores in fp32 (set <timing>-amp-compile-cuda-graph-fp32-scores-seeds) and without
#     (<timing>-amp-compile-cuda-graph-part20-seeds), a seed's two runs one after the other, paired by seed with each
#     other and with part 8's eager fp32 seeds (results/full-seeds-eager: the same dropout masks, compile_rng eager);
#     then the 3 ml-1m epochs in bf16 (<timing>-amp-compile-cuda-graph-ml1m-3-epochs).
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the ablation first; ml-1m's h256
#   runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part20.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
ML1M="python3 -m seqrec sweep --epochs 3 --patience 10 --device cuda --gpus 0 --datasets ml-1m --hidden 64 --models \
  tim4rec --seeds 0 --compile --cuda-graph"
GPU0=("[ -e $ROOT/.tests20-done ] || { timeout 420 $PYTEST tests/test_compile_custom_ops.py -k 'graph' \
    > $ROOT/logs/one-graph-tests20.txt 2>&1; timeout 300 $PYTEST -m gpu tests/test_train.py \
    -k 'step_matches_eager or graph_that_builds or fused_adam' > $ROOT/logs/graph-tests20.txt 2>&1; \
    timeout 120 $PYTEST tests/test_item_table.py > $ROOT/logs/item-table-tests20.txt 2>&1; \
    python3 -m seqrec anatomy --model tim4rec --batch 2048 --seq-len 50 --hidden 64 --device cuda \
    --backend auto --profile 10 --compile --amp bf16 --out $ROOT/logs/anatomy20.json > $ROOT/logs/anatomy20.txt 2>&1; \
    touch $ROOT/.tests20-done; }"
  "$PROFILED --out $SET-part20/accuracy"
  "SEQREC_FP32_SCORES=1 $PROFILED --out $SET-part20-fp32-scores/accuracy"
  "$ML1M --out $ROOT/$timing-compile-cuda-graph-ml1m-3-epochs/accuracy")
GPU1=()
for s in ${SEEDS//,/ }; do  # seed by seed, the pair together: a call that ends early leaves whole pairs
  GPU1+=("SEQREC_FP32_SCORES=1 $RUN --seeds $s --out $SET-fp32-scores-seeds/accuracy"
    "$RUN --seeds $s --out $SET-part20-seeds/accuracy")
done
GPU1+=("$ML1M --amp bf16 --out $ROOT/$timing-amp-compile-cuda-graph-ml1m-3-epochs/accuracy")
split_one_offs gpu0-profiles gpu1-seeds
