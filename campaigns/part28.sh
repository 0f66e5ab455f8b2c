#!/usr/bin/env bash
# Part 28, on a host of any number of GPUs, after part 27 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok).
# As part 27: each GPU's first lane starts one of ml-1m's h256 cells on #4's fast path (ROOT/queue.txt.session, taken
# only while the campaign is younger than 5 minutes: a run that must finish within the session it starts in, its
# 30-44 MB checkpoint too big to travel), then takes ml-1m's queue (QUEUE_LANES=1). GPU 1 first times #4's cold start
# (GPU 0 after its h256 run, on a host of one GPU), and only GPU 1's queue lane waits for that now (part 27's GPUs 2 and
# 3 waited for it too, 2 minutes).
# Part 27's breakdown (results/full-amp-compile-cuda-graph-cold-breakdown/): the cold first step is compiling, all of
# it. With the prewarm, torch's compiles took 17.5 s and 12 kernels compiled in the training process 2.4 s: TiM4Rec's
# two time-MLP kernels, which the prewarm missed (fixed, kernels/prewarm.py), and inductor's own kernels, compiled in
# the process until inductor's worker pool answers (now started at the run's start: seqrec/inductor_pool.py). GPU 1
# first runs the prewarm's GPU test once a session (a prewarmed step compiles nothing itself: it would have failed on
# the time-MLP kernels; logs/prewarm-tests28.txt), about a minute in which the other GPUs' h256 runs compile (part
# 27's defaults run shared its start with one), then TiM4Rec amazon-beauty h64 seed 0 on the fast path, caches
# empty, SEQREC_STEP_TIMES=1, four times:
#   - the prewarm with both fixes (<timing>-amp-compile-cuda-graph-cold-prewarm-pool/): against part 27's 20.7 s;
#   - the defaults, the early pool without the prewarm (-cold-pool/): whether the prewarm becomes the default (part 26:
#     29.2 s against 30.4; part 27: 20.7 against 33.8, the latter beside another GPU's compile);
#   - the prewarm with the pool started where inductor starts it (SEQREC_INDUCTOR_POOL_EARLY=0, -cold-prewarm-pool-late/),
#     after them: with the first, what the early pool does, the order favouring the late one;
#   - the prewarm with --compile-ahead (-cold-compile-ahead-prewarm/): the first epochs eager and graphed (part 13: a
#     12.5 s cold first epoch at 0.448 s an epoch, our kernels compiling in it; the prewarm now compiles them beside
#     it) while a background process compiles the loss into inductor's caches; compiled from the first epoch boundary
#     after it finished (part 11: about 30 s, longer than amazon-beauty's 24 epochs then).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part28.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
h256_then_queue
GPU1=("$(prewarm_tests_once 28)"
  "SEQREC_PREWARM=1 $COLD_TIMED --out $SET-cold-prewarm-pool/accuracy"
  "$COLD_TIMED --out $SET-cold-pool/accuracy"
  "SEQREC_PREWARM=1 SEQREC_INDUCTOR_POOL_EARLY=0 $COLD_TIMED --out $SET-cold-prewarm-pool-late/accuracy"
  "SEQREC_PREWARM=1 $COLD_TIMED --compile-ahead --out $SET-cold-compile-ahead-prewarm/accuracy")
split_one_offs gpu0-h256-then-queue gpu1-seeds
