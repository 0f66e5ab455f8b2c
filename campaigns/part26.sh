#!/usr/bin/env bash
# Part 26, on a host of any number of GPUs, after part 25 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
# Part 25's TiM4Rec ml-1m h64 seed 0 on #4's fast path (bf16, compiled, CUDA graph, the fp32 run's dropout masks)
# tracked eager fp32's training loss to the fourth digit at every epoch, 2.8x faster an epoch; its test NDCG@10 was
# 2.8% lower (early stopping on a flat validation curve, inside the grid's seed spread). So ml-1m's queue
# (campaigns/ml1m_queue.sh) now trains the grid's h32, h128 and h256 cells, the h16 backbones and the ablation's
# variants (seeds 0-2, in their own set) on that path.
#   GPU 0: first #4's cold start, three runs of the fast path's seed 0 (TiM4Rec amazon-beauty h64, about a minute
#     each), inductor's and Triton's caches empty (COLD), against part 25's 30.4 s first epoch
#     (<timing>-amp-compile-cuda-graph-part25/): with the prewarm (SEQREC_PREWARM=1: our kernels compiled in background
#     processes while inductor compiles the loss; never timed on the compiled path since its part 12 fix;
#     <timing>-amp-compile-cuda-graph-cold-prewarm/); with the blocks compiled apart (SEQREC_COMPILE_SCOPE=blocks,
#     <timing>-amp-compile-cuda-graph-cold-blocks/), after its GPU tests passed once a session (.tests26-done,
#     .scope-ok; logs/compile-scope-tests26.txt); and with both (-cold-blocks-prewarm/). Each records its first
#     epoch's step times (SEQREC_STEP_TIMES=1), and gives its epoch time and accuracy.
#     Then TiM4Rec ml-1m h64 seeds 1 and 2 on the fast path (<timing>-amp-compile-cuda-graph-ml1m-seeds/; seed 0 is
#     part 25's): paired with the grid's eager fp32 seeds, three pairs say whether the path keeps ml-1m's accuracy,
#     and they are the reference rows of the ablation's variants on it. Then ml-1m's queue (QUEUE_LANES=1): the eager
#     fp32 matched_tisasrec checkpoint of seed 0 first (as it started), then the ablation's variants on the fast path.
#   ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0): a later part starts one at a session's start.
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part26.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
SCOPE_OK="[ -e $ROOT/.scope-ok ] && SEQREC_COMPILE_SCOPE=blocks"
GPU0=("[ -e $ROOT/.tests26-done ] || { timeout 600 $PYTEST tests/test_compile_scope.py \
    > $ROOT/logs/compile-scope-tests26.txt 2>&1 && touch $ROOT/.scope-ok; touch $ROOT/.tests26-done; }"
  "SEQREC_PREWARM=1 $COLD_TIMED --out $SET-cold-prewarm/accuracy"
  "$SCOPE_OK $COLD_TIMED --out $SET-cold-blocks/accuracy"
  "$SCOPE_OK SEQREC_PREWARM=1 $COLD_TIMED --out $SET-cold-blocks-prewarm/accuracy"
  "$FAST_TIM4REC")  # the queue's line of the same runs (campaigns/ml1m_queue.sh) then skips itself
GPU1=()
split_one_offs gpu0-ml1m-seeds gpu1-seeds
