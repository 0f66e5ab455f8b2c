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
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part27.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
SESSION_BOUND_WINDOW_S=300  # one_offs_then_queue's 0 kept every h256 line out of the lanes
GPU0=("$(queue_loop "$QUEUE.session" $SESSION_BOUND_WINDOW_S)")
GPU1=()
split_one_offs gpu0-h256-then-queue gpu1-seeds
