#!/usr/bin/env bash
# Part 12b, on a host of any number of GPUs, after part 12 (results/full/README.md), whose host went back after
# one call. Every run resumes as in part 12 (campaigns/resume/ packs; ok result files skipped).
#   GPU 0 first times where #4's cold first epoch goes: TiM4Rec amazon-beauty h64, 2 epochs, each training step's
#   wall time recorded (SEQREC_STEP_TIMES=2: the device synchronised after every step), into logs/timeline/:
#     bf16 + CUDA graph with every cache empty, prewarm on and off (part 12's full run: 19.3 s, part 11's 20.6 s);
#     the same again on the caches that the run without prewarm filled (what is left without compilation);
#     bf16 eager and fp32 eager (no graph), caches empty (part 1's fp32 eager first epochs took 7-9 s);
#   then the queue, with a second queue lane on GPU 0 once these are done (ml-1m's runs are half idle GPU at L = 200
#   only for the SSMs; SASRec's step is the GPU's: part 12's anatomy, 31 ms of kernels in 31 ms a step).
#   Every GPU but 0 runs QUEUE_LANES (default 2) queue lanes at once.
# Usage (repository root, data under .gpu/data):  bash campaigns/part12b.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
queue_campaign
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested" "$ROOT/.graph-ok"  # these GPU tests passed in part 11
mkdir -p "$ROOT/logs/timeline"
WARM_CACHE=$(mktemp -d)  # outside ROOT, which collect.sh packs
TIMELINE="SEQREC_STEP_TIMES=2 python3 -m seqrec train --model tim4rec --dataset amazon-beauty --hidden 64 --seed 0 \
  --epochs 2 --patience 0 --device cuda --no-progress"
timeline() {  # timeline NAME ENV FLAGS: one timed 2-epoch run
  echo "$2 $TIMELINE $3 --out $ROOT/logs/timeline/$1.json"
}
lane 0 gpu0-timing \
  "$(timeline bf16-graph-cold-prewarm "SEQREC_PREWARM=1 $COLD" "--amp bf16 --cuda-graph")" \
  "$(timeline bf16-graph-cold "SEQREC_PREWARM=0 TORCHINDUCTOR_CACHE_DIR=$WARM_CACHE/inductor \
     TRITON_CACHE_DIR=$WARM_CACHE/triton" "--amp bf16 --cuda-graph")" \
  "$(timeline bf16-graph-warm "SEQREC_PREWARM=0 TORCHINDUCTOR_CACHE_DIR=$WARM_CACHE/inductor \
     TRITON_CACHE_DIR=$WARM_CACHE/triton" "--amp bf16 --cuda-graph")" \
  "$(timeline bf16-eager-cold "SEQREC_PREWARM=0 $COLD" "--amp bf16")" \
  "$(timeline fp32-eager-cold "SEQREC_PREWARM=0 $COLD" "")" \
  "touch $ROOT/.timing-done" \
  "$(queue_loop "$QUEUE")"
queue_lanes
