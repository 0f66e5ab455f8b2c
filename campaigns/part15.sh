#!/usr/bin/env bash
# Part 15, on a host of any number of GPUs, after part 14 (results/full/README.md). Every run resumes as before
# (campaigns/resume/ packs, .gpu/resume/; ok result files skipped).
#   GPU 0, one thing at a time:
#     the GPU tests of the kernels whose defaults part 14's graph-ranked searches changed (the SSD kernels' 2 stages,
#     the selective scan's backward on 1 warp, the interval attention's 128 MiB chunks): .interval-ok when the
#     interval attention's pass (TiSASRec's queue lines wait for it), .kernels-ok when the SSD's and the scan's do
#     (every queue lane waits for that first, LANE_GATE, and ends where they failed);
#     the selective scan's new default against the former one in the same command (logs/scan15.txt);
#     the SSD mixer's bench, fp32 and bf16 (logs/bench-ssd15.txt, against part 13b's 960 / 448 and 395 / 188 us);
#     #4's epoch again with the SSD's 2 stages: TiM4Rec amazon-beauty h64, bf16 + compile + CUDA graph, every cache
#     empty (set <timing>-amp-compile-cuda-graph-ssd-stages2; part 14's 0.341 s an epoch), each step of epochs 1-3
#     timed (SEQREC_STEP_TIMES=3, the device synchronised after each): 65 steps of part 12's 4.35 ms of kernels are
#     0.283 s, so where do the other 58 ms of an epoch go (the median is taken over the later, untimed epochs);
#     the norm benches (part 14's Triton layer norm at width 256 in bf16, 0.346 ms a graph against PyTorch's 0.289
#     and its own fp32 0.211: again, to tell noise from a slow setting);
#     SASRec's attention through each SDPA backend (suites/bench_sdpa.py, logs/bench-sdpa15.txt): in fp32 the
#     memory-efficient kernel's backward is 10.6 ms of SASRec's 27.5 ms compiled step at ml-1m's shape (part 14);
#     would the math backend's matmuls be faster there (its dropout draws differ: a choice for later runs only);
#     then the queue.
#   Every GPU but 0 runs QUEUE_LANES (here 1) queue lanes: what is left of the queue is ml-1m's, and two of its runs
#   on one H200 took 27 s an epoch each against 12-16 s alone (part 13). ml-1m's h256 runs start in no lane
#   (SESSION_BOUND_WINDOW_S=0): part 14's anatomies put their steps at 117-162 ms (15 ms for TiSASRec at batch 256),
#   about 60-80 s an epoch over 480 steps, so none finishes within a session's 28 minutes, and their checkpoints
#   (20-42 MiB: a quarter less when written at the best epoch so far) cannot travel (results/full/README.md, part 14).
# Every call to the device tool must carry .gpu (a call without carry removes it there).
# Usage (repository root, data under .gpu/data):  bash campaigns/part15.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
SESSION_BOUND_WINDOW_S=${SESSION_BOUND_WINDOW_S:-0}
export QUEUE_LANES=${QUEUE_LANES:-1}
queue_campaign
touch "$ROOT/.graph-ok" "$ROOT/.graph-tested"  # passed in part 13; the interval attention's are run below
# no run trains on the changed SSD and scan kernels before their GPU tests pass; a lane ends where they fail
LANE_GATE="while [ ! -e $ROOT/.kernels-tested ]; do sleep 5; done; [ -e $ROOT/.kernels-ok ] || exit 1"
COMPILED="SEQREC_STEP_TIMES=3 $COLD python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty \
  --hidden 64 --models tim4rec --seeds 0 --amp bf16 --compile --cuda-graph"
K15=$ROOT/logs/kernels15
lane 0 gpu0-timing \
  "timeout 420 $PYTEST -m gpu tests/test_kernels_ssd.py tests/test_kernels_selective_scan_sequential.py \
     && touch $ROOT/.kernels-ok; touch $ROOT/.kernels-tested" \
  "timeout 420 $PYTEST -m gpu tests/test_kernels_interval_attention.py tests/test_kernels_interval_attention_chunks.py \
     && touch $ROOT/.interval-ok; touch $ROOT/.interval-tested" \
  "python3 -m kernels.selective_scan.sequential '{}' '{\"warps_bwd\": 2}' > $ROOT/logs/scan15.txt 2>&1" \
  "for d in float32 bfloat16; do python3 suites/bench_ssd.py --out $K15 --dtype \$d --variants triton; done \
     > $ROOT/logs/bench-ssd15.txt 2>&1" \
  "$COMPILED --out $ROOT/$timing-amp-compile-cuda-graph-ssd-stages2/accuracy" \
  "python3 suites/bench_norm.py --out $K15" \
  "timeout 120 $PYTEST -m gpu tests/test_bench_sdpa.py && python3 suites/bench_sdpa.py --out $K15 \
     > $ROOT/logs/bench-sdpa15.txt 2>&1" \
  "touch $ROOT/.timing-done" \
  "$LANE_GATE" \
  "$(queue_loop "$QUEUE")"
queue_lanes
