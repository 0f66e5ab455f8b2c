#!/usr/bin/env bash
# Part 27, on a host of any number of GPUs, after part 26 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok).
# ml-1m's h256 cells train on #4's fast path (campaigns/ml1m_queue.sh) at 13-26 s an epoch (part 25), 12-35 minutes
# a run, and their checkpoints (21-33 MB) do not fit in what a call carries: each must finish within the session it
# starts in. So GPU 0 starts its lane with one of them (the next line of ROOT/queue.txt.session, taken only while the
# campaign is younger than 5 minutes: a run that starts at a session's start), then takes ml-1m's queue
# (QUEUE_LANES=1). On a host of two or more GPUs the other GPUs' queue lanes start one each as well (queue_lanes).
# A machine lost between calls starts a fresh campaign, young again: its h256 run starts over there.
# Before its h256 run, GPU 1 (GPU 0 on a host of one GPU, after its h256 run) times #4's cold start twice more (TiM4Rec
# amazon-beauty h64 seed 0 on the fast path, caches empty, about a minute each), now with where the first step's
# 22-29 s go (part 26): SEQREC_STEP_TIMES=1 records torch's compile metrics and the Triton kernels compiled in the
# training process (seqrec/compile_times.py), with the defaults (<timing>-amp-compile-cuda-graph-cold-breakdown/) and
# with the prewarm (-cold-breakdown-prewarm/: whether our kernels still compile in the process then; it saved 1.2 s
# of 29 on part 26's loss scope, 7.6 s on the blocks scope).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part27.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
h256_then_queue
GPU1=("$COLD_TIMED --out $SET-cold-breakdown/accuracy"
  "SEQREC_PREWARM=1 $COLD_TIMED --out $SET-cold-breakdown-prewarm/accuracy")
split_one_offs gpu0-h256-then-queue gpu1-seeds
