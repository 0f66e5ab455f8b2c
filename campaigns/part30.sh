#!/usr/bin/env bash
# Part 30, on a host of any number of GPUs, after part 29 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok).
# As parts 27-29, each GPU's first lane starts one of ml-1m's h256 cells on #4's fast path (ROOT/queue.txt.session,
# taken only while the campaign is younger than 5 minutes), GPU 1's too now that its cold runs take two minutes, not
# ten; then ml-1m's queue, GPU 1's queue lane after GPU 1's one-offs.
# Part 29 (results/full-amp-compile-cuda-graph-cold-prewarm-at-claim/): with --compile-ahead and the prewarm the cold
# first epoch took 8.6-10.1 s; in 60 epochs the background compile landed after epoch 39, but the switch epoch took
# 13.5 s (part 11's: 3.3 s), as if the training process's compile missed the cache the background process filled.
# The switch epoch now records its steps and its compile alone, with torch's cache counters
# (epochs[k].compile_seconds.caches: fxgraph_cache_hit / _miss / _bypass, autograd_cache_*), and what became of the
# background process (cold_start.compile_ahead). On CPU the bf16 loss's warm compile bypassed AOT autograd's cache
# (autocast's enter and exit in the graph), now marked cacheable (seqrec/inductor_fixes.py). GPU 1, after its h256
# run: the prewarm's and compile-ahead's GPU tests once a session (logs/prewarm-tests30.txt; compile-ahead's now with
# bf16 and the CUDA graph, and the prewarm on: the switch must hit the cache), then TiM4Rec amazon-beauty h64 seed 0 on
# the fast path, caches empty, SEQREC_STEP_TIMES=1, --compile-ahead --epochs 60 --patience 0, twice:
#   - the defaults (the prewarm on): -cold-compile-ahead-switch/, against part 29's 13.5 s switch;
#   - SEQREC_PREWARM=0: -cold-compile-ahead-switch-no-prewarm/, part 11's set-up (3.3 s then): whether the prewarm's
#     processes, started beside the background compile, are what its cache lacks.
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part30.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
h256_then_queue
SWITCH="$COLD_TIMED --compile-ahead --epochs 60 --patience 0 --out $SET-cold-compile-ahead-switch"
GPU1=("$(queue_loop "$QUEUE.session" $SESSION_BOUND_WINDOW_S)"
  "$(prewarm_tests_once 30)"
  "$SWITCH/accuracy"
  "SEQREC_PREWARM=0 $SWITCH-no-prewarm/accuracy")
split_one_offs gpu0-h256-then-queue gpu1-seeds
