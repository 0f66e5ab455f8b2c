#!/usr/bin/env bash
# Part 29, on a host of any number of GPUs, after part 28 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok).
# As parts 27-28: each GPU's first lane starts one of ml-1m's h256 cells on #4's fast path (ROOT/queue.txt.session,
# taken only while the campaign is younger than 5 minutes), then takes ml-1m's queue; only GPU 1's queue lane waits
# for GPU 1's one-offs.
# Part 28 (results/full-amp-compile-cuda-graph-cold-prewarm-pool/): the prewarm became the default, inductor's early
# pool only without it; with --compile-ahead and the prewarm the cold first epoch took 13.9 s, 12 of our kernels still
# compiled in the training process (9.1 s) because the prewarm's processes had not compiled them yet. They now start
# once the run is claimed (before its data and model), and each reports when it was imported and ready
# (result["cold_start"]: beside when the first epoch began). Claims (kernels/prewarm_claims.py, SEQREC_PREWARM_CLAIMS=1)
# let every process, the training one included, compile each kernel once, whichever claims it first, the training
# process waiting only for kernels a prewarm process holds. GPU 1 first runs the prewarm's GPU tests once a session
# (logs/prewarm-tests29.txt), then TiM4Rec amazon-beauty h64 seed 0 on the fast path, caches empty,
# SEQREC_STEP_TIMES=1, five times:
#   - the defaults (the prewarm from the claim, the pool left to inductor: -cold-prewarm-at-claim/), against part
#     28's 20.9 s;
#   - --compile-ahead (-cold-compile-ahead-at-claim/), against part 28's 13.9 s;
#   - the same with claims (-cold-compile-ahead-claims/; result["cold_start"]["prewarm_claims"]: what the training
#     process claimed, waited for and found done);
#   - the same with 16 prewarm processes, one kernel or two each (SEQREC_PREWARM_PROCESSES=16,
#     -cold-compile-ahead-16-processes/): whether the processes' number bounds when they are ready;
#   - --compile-ahead for 60 epochs, no early stop (-cold-compile-ahead-60-epochs/): the background compile lands and
#     the run goes on compiled (compiled_from_epoch), which amazon-beauty's 24 epochs did not show in part 28.
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part29.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
h256_then_queue
GPU1=("$(prewarm_tests_once 29)"
  "$COLD_TIMED --out $SET-cold-prewarm-at-claim/accuracy"
  "$COLD_TIMED --compile-ahead --out $SET-cold-compile-ahead-at-claim/accuracy"
  "SEQREC_PREWARM_CLAIMS=1 $COLD_TIMED --compile-ahead --out $SET-cold-compile-ahead-claims/accuracy"
  "SEQREC_PREWARM_PROCESSES=16 $COLD_TIMED --compile-ahead --out $SET-cold-compile-ahead-16-processes/accuracy"
  "$COLD_TIMED --compile-ahead --epochs 60 --patience 0 --out $SET-cold-compile-ahead-60-epochs/accuracy")
split_one_offs gpu0-h256-then-queue gpu1-seeds
