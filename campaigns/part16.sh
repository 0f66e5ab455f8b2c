#!/usr/bin/env bash
# Part 16, on a host of any number of GPUs, after part 15 (results/full/README.md). Run it through campaigns/call.sh,
# which starts it again on a fresh machine (part 15 lost two to the device tool's 30 s idle release), and absorb each
# call's packs (campaigns/absorb.sh) before the next: every run resumes as before (campaigns/resume/ packs,
# .gpu/resume/; ok result files skipped), and GPU 0's one-off work is skipped once a call has brought back its
# .timing-done.
#   GPU 0, one thing at a time, then the queue:
#     the GPU test of SEQREC_PROFILE_EPOCH (tests/test_epoch_profile.py: a graphed epoch is one replay a step);
#     #4's TiM4Rec amazon-beauty h64, bf16 + CUDA graph, eager and compiled, epoch 5 profiled as it trains
#     (epochs[4].gpu_profile: GPU busy, idle inside the graph's replays and between them, kernels outside the graph):
#     part 15's compiled step takes 5.12 ms replayed against part 12's 4.35 ms of kernels; which side of the graph
#     launch the other 0.77 ms fall on decides what to fuse next (sets <timing>-amp-cuda-graph-profiled and
#     <timing>-amp-compile-cuda-graph-profiled);
#     the same two runs with the batch built inside the graph (--graph-batch, after its GPU tests: the same losses
#     and parameters bit for bit as the batch built outside), profiled alike (sets <timing>-amp-cuda-graph-batch-
#     profiled, <timing>-amp-compile-cuda-graph-batch-profiled): about twenty launches a step fewer from the host;
#     our layer norm's launch grid at (2048, 50, 256), fp32 and bf16 (logs/ln-grid16.txt, after its GPU tests): parts
#     14 and 15 both timed it at 0.346 ms a graph in bf16 against PyTorch's 0.289 and its own fp32's 0.211.
#   Every GPU but 0 runs QUEUE_LANES (here 1) queue lanes: what is left of the queue is ml-1m's (part 15). ml-1m's
#   h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0; results/full/README.md, part 14).
# The kernels' GPU tests passed at 374595d (part 15) and no kernel has changed since: no LANE_GATE.
# Every call to the device tool must carry .gpu (a call without carry removes it there).
# Usage (repository root, data under .gpu/data):  bash campaigns/part16.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
SESSION_BOUND_WINDOW_S=${SESSION_BOUND_WINDOW_S:-0}
export QUEUE_LANES=${QUEUE_LANES:-1}
queue_campaign
touch "$ROOT/.graph-ok" "$ROOT/.graph-tested" "$ROOT/.interval-ok" "$ROOT/.interval-tested"  # passed in part 15
PROFILED="SEQREC_PROFILE_EPOCH=5 python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
  --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --amp bf16 --cuda-graph"
if [ -e "$ROOT/.timing-done" ]; then  # a former call of this session did it (campaigns/absorb.sh)
  lane 0 gpu0-queue1 "$(queue_loop "$QUEUE")"
else
  lane 0 gpu0-timing \
    "timeout 300 $PYTEST -m gpu tests/test_epoch_profile.py" \
    "$PROFILED --out $ROOT/$timing-amp-cuda-graph-profiled/accuracy" \
    "$PROFILED --compile --out $ROOT/$timing-amp-compile-cuda-graph-profiled/accuracy" \
    "timeout 300 $PYTEST -m gpu tests/test_train.py -k 'graph_that_builds or run_with_graph_batch' \
       && $PROFILED --graph-batch --out $ROOT/$timing-amp-cuda-graph-batch-profiled/accuracy \
       && $PROFILED --graph-batch --compile --out $ROOT/$timing-amp-compile-cuda-graph-batch-profiled/accuracy" \
    "timeout 300 $PYTEST -m gpu tests/test_bench_norm.py tests/test_kernels_norm.py \
       && python3 suites/bench_norm.py --ln-grid > $ROOT/logs/ln-grid16.txt 2>&1" \
    "touch $ROOT/.timing-done" \
    "$(queue_loop "$QUEUE")"
fi
queue_lanes
