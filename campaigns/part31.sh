#!/usr/bin/env bash
# Part 31, on a host of any number of GPUs, after part 30 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok).
# Part 30 (results/full-amp-compile-cuda-graph-cold-compile-ahead-switch/): compile-ahead's switch epoch took 17.0-19.5
# s because the training process's compile missed the cache of the background process in both graphs: under amp the
# run's dropouts draw the fp32 run's masks (wrapped modules), the background process's model did not, and so it
# compiled another graph. It now adapts its model as the run does (seqrec.train.adapt_precision). GPU 0's first lane
# starts one of ml-1m's h256 cells on #4's fast path (ROOT/queue.txt.session, taken only while the campaign is younger
# than 5 minutes), then ml-1m's queue. GPU 1 first runs compile-ahead's GPU tests (logs/prewarm-tests31.txt: its bf16
# graphed TiM4Rec case failed in part 30 with 2 misses; the prewarm's tests passed then and did not change), then
# TiM4Rec amazon-beauty h64 seed 0 on the fast path, caches empty, SEQREC_STEP_TIMES=1, --compile-ahead --epochs 60
# --patience 0, twice as in part 30 (the defaults: -cold-compile-ahead-switch-adapted/; SEQREC_PREWARM=0:
# -cold-compile-ahead-switch-adapted-no-prewarm/): whether the switch epoch now hits the cache (epochs[k]
# .compile_seconds.caches) and costs what part 11's fp32 switch did (3.3 s). Then the same on a long run: TiM4Rec
# ml-1m h64 seed 0 on the fast path with --compile-ahead, caches empty, early stopping as the grid's (-ml1m-cold-
# compile-ahead/): its whole-run time and test NDCG@10 against the fast path's compiled seed 0 (part 25,
# full-amp-compile-cuda-graph-ml1m-seeds/: 0.1552), for the choice of --compile-ahead as --compile's default. Then
# ml-1m's queue (its session-bound window long past).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part31.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
h256_then_queue
SWITCH="$COLD_TIMED --compile-ahead --epochs 60 --patience 0 --out $SET-cold-compile-ahead-switch-adapted"
GPU1=("$(prewarm_tests_once 31 -m gpu tests/test_compile_ahead.py)"
  "$SWITCH/accuracy"
  "SEQREC_PREWARM=0 $SWITCH-no-prewarm/accuracy"
  "SEQREC_STEP_TIMES=1 $COLD ${RUN/--datasets amazon-beauty/--datasets ml-1m} --seeds 0 --compile-ahead \
--out $SET-ml1m-cold-compile-ahead/accuracy")
split_one_offs gpu0-h256-then-queue gpu1-seeds
