#!/usr/bin/env bash
# Part 13b, on a host of any number of GPUs, after part 13 (results/full/README.md), whose host went back after one
# call: part 13's GPU tests passed (CUDA graph, kernels, prewarm) and its timings are committed. Every run resumes as
# in part 13 (campaigns/resume/ packs, .gpu/resume/; ok result files skipped).
#   GPU 0 first runs the two benches part 13 did not reach (norms, SSD mixer, into logs/kernels13b: the speed of
#   unspecialized row counts against results/full/kernels/), then the queue, with a second lane once they are done.
#   Every GPU but 0 runs QUEUE_LANES (default 2) queue lanes at once.
# Usage (repository root, data under .gpu/data):  bash campaigns/part13b.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
queue_campaign
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested" "$ROOT/.graph-ok" "$ROOT/.graph-tested"  # passed in part 13
K13=$ROOT/logs/kernels13b
lane 0 gpu0-timing \
  "python3 suites/bench_norm.py --out $K13" \
  "for d in float32 bfloat16; do python3 suites/bench_ssd.py --out $K13 --dtype \$d --variants triton; done \
     > $ROOT/logs/bench-ssd13b.txt 2>&1" \
  "touch $ROOT/.timing-done" \
  "$(queue_loop "$QUEUE")"
queue_lanes
