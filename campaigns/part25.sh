#!/usr/bin/env bash
# Part 25, on a host of any number of GPUs, after part 24 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
# Part 24 found #4's bf16 fast path on eager fp32's test NDCG@10 seed by seed once it draws the fp32 run's dropout
# masks (amazon-beauty, 10 seeds: 0.00006 a seed apart), and amp runs draw
# them by default since (models/dropout_masks.py).
#   GPU 0: once a session (.tests25-done), the graphed step against the eager one for all five models in bf16, and
#     for Mamba4Rec and SSD4Rec (new to the test) in fp32 too, eager and compiled (14 tests;
#     logs/graph-steps-tests25.txt; SASRec, TiSASRec and Mamba4Rec never trained compiled or in bf16 on a GPU).
#     Then seed 0 of #4's fast path with the defaults (<timing>-amp-compile-cuda-graph-part25/),
#     inductor's and Triton's caches empty (COLD): part 24's SEQREC_DROPOUT_MASKS=fp32 seed 0, 0.03599, to the digit
#     if the default is that path, and the path's cold first epoch (part 24's seed 0, on a fresh machine: 37.1 s).
#     Then TiM4Rec ml-1m h64 seed 0 on the fast path (bf16, compiled, CUDA graph;
#     <timing>-amp-compile-cuda-graph-ml1m-seeds/; about 6 s an epoch against eager fp32's 14-15): paired with the
#     grid's eager fp32 run of that seed (test NDCG@10 0.1597, 73 epochs), it says whether ml-1m's remaining cells
#     can train on the fast path (suites: --amp bf16 --compile --cuda-graph). Then 3 epochs of each model at ml-1m
#     h256 on the fast path (<timing>-amp-compile-cuda-graph-ml1m-h256-3-epochs/): whether each runs and how long
#     its epoch takes, for the h256 cells, whose checkpoints cannot travel (a run must finish within its session).
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the matched_tisasrec checkpoint
#   first; ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part25.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
ML1M="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets ml-1m --hidden 64 \
  --models tim4rec --amp bf16 --cuda-graph --compile"
H256="python3 -m seqrec sweep --epochs 3 --patience 10 --device cuda --gpus 0 --datasets ml-1m --hidden 256 --seeds 0 \
  --amp bf16 --cuda-graph --compile --out $SET-ml1m-h256-3-epochs/accuracy --models"
GPU0=("[ -e $ROOT/.tests25-done ] || { timeout 600 $PYTEST tests/test_train.py \
    -k 'cuda_graph_step_matches_eager and (bf16 or mamba4rec or ssd4rec)' \
    > $ROOT/logs/graph-steps-tests25.txt 2>&1; touch $ROOT/.tests25-done; }"
  "$COLD $RUN --seeds 0 --out $SET-part25/accuracy" "$ML1M --seeds 0 --out $SET-ml1m-seeds/accuracy")
for m in tim4rec ssd4rec mamba4rec sasrec tisasrec; do GPU0+=("$H256 $m"); done
GPU1=()
split_one_offs gpu0-fast-path gpu1-seeds
