#!/usr/bin/env bash
# Part 17, on a host of any number of GPUs, after part 16 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next, as part 16: every run resumes (campaigns/resume/
# packs, .gpu/resume/; ok result files skipped), and GPU 0's one-off work is skipped once a call has brought back its
# .timing-done.
#   GPU 0, one thing at a time, then the queue:
#     #4's compiled, graphed TiM4Rec amazon-beauty h64 epoch profiled again, now with the kernels' seconds by
#     category and the 30 longest (epochs[4].gpu_profile.gpu_categories, gpu_top: fa9f7c6). Part 16 found the epoch
#     93-94% GPU-busy, 4.89 ms of kernels a step against the 4.0 ms that 8x needs: this says which kernels to shrink
#     (set <timing>-amp-compile-cuda-graph-kernels);
#     the conv bench, now with TiM4Rec's time convs over its 4 heads (suites/bench_conv.py, (2048, 50, 4)): a third
#     of the step's conv calls, timed apart from the 192-channel conv for the first time (logs/bench-conv17/);
#     our layer norm's launch grid at widths 64 and 128 (logs/ln-grid17.txt): part 16's grid at 256 put 2 warps
#     first in fp32 and bf16; the default moves only if the models' other widths agree;
#     the SSD kernels' tests (all of them, on the GPU), then the SSD mixer's bench in bf16 with the mixed dots as one
#     bf16 product (variant triton_bf16_product, kernels.ssd.fused.BF16_PRODUCT_DOTS, mamba-ssm's precision) beside ours
#     (about fp32 accuracy: two TF32 products; logs/bench-ssd17.txt): what that accuracy costs the step. Its dA is
#     9% off the reference under the interpreter, so it is a measurement, not a candidate default as it stands.
#   Every GPU but 0 runs QUEUE_LANES (here 1) queue lanes on ml-1m's queue (the ablation, then the grid's h32 and
#   h128). ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0; results/full/README.md, part 14).
# The interval attention's chunks now stay within the naive form's memory over d too (fused.WITHIN_NAIVE_OVER_D:
# B = 256 at L = 200 gets 96 sequences a chunk, 78 MiB; B = 2048 keeps 128 MiB): GPU 0 runs its GPU tests first, and
# TiSASRec's queue lines wait for them (.interval-tested; they run on .interval-ok), then its bench with the naive
# form at B = 256 (logs/attn17.txt: the factor under the naive form's peak, and the time against part 14's 128 MiB).
# Every other kernel's default path is that of e84b215 (part 16; the SSD's new BF16_PRODUCT_DOTS is off): no
# LANE_GATE.
# Every call to the device tool must carry .gpu (a call without carry removes it there).
# Usage (repository root, data under .gpu/data):  bash campaigns/part17.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
SESSION_BOUND_WINDOW_S=${SESSION_BOUND_WINDOW_S:-0}
export QUEUE_LANES=${QUEUE_LANES:-1}
queue_campaign
touch "$ROOT/.graph-ok" "$ROOT/.graph-tested"  # passed in part 15
PROFILED="SEQREC_PROFILE_EPOCH=5 python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
  --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --amp bf16 --cuda-graph --compile"
INTERVAL_TESTS="tests/test_kernels_interval_attention.py tests/test_kernels_interval_attention_chunks.py"
SSD_TESTS_AND_BENCH="timeout 300 $PYTEST tests/test_kernels_ssd.py > $ROOT/logs/ssd-tests17.txt 2>&1; \
     python3 suites/bench_ssd.py --out $ROOT/logs/bench-ssd17 --dtype bfloat16 --variants triton,triton_bf16_product \
       > $ROOT/logs/bench-ssd17.txt 2>&1 && touch $ROOT/.ssd17-done"
if [ -e "$ROOT/.timing-done" ] && [ -e "$ROOT/.ssd17-done" ]; then  # former calls of this session did both
  lane 0 gpu0-queue1 "$(queue_loop "$QUEUE")"
elif [ -e "$ROOT/.timing-done" ]; then
  # call 1 ran everything up to the SSD tests, whose tune test failed on `import bench_common` (fixed in the commit
  # after 59e4469), and was collected during the SSD bench: .timing-done was put in .gpu/resume/ by hand after
  # reading call 1's gpu0-timing.log, and the SSD tests and bench run again
  lane 0 gpu0-ssd "$SSD_TESTS_AND_BENCH" "$(queue_loop "$QUEUE")"
else
  lane 0 gpu0-timing \
    "timeout 420 $PYTEST -m gpu $INTERVAL_TESTS && touch $ROOT/.interval-ok; touch $ROOT/.interval-tested" \
    "python3 suites/bench_interval_attention.py --out $ROOT/logs/attn17 --batches 256,2048 --heads 1 --dtypes float32 \
       --naive-max-batch 256 > $ROOT/logs/attn17.txt 2>&1" \
    "timeout 300 $PYTEST -m gpu tests/test_epoch_profile.py \
       && $PROFILED --out $ROOT/$timing-amp-compile-cuda-graph-kernels/accuracy" \
    "python3 suites/bench_conv.py --out $ROOT/logs/bench-conv17 > $ROOT/logs/bench-conv17.txt 2>&1" \
    "python3 suites/bench_norm.py --ln-grid --ln-widths 64,128 > $ROOT/logs/ln-grid17.txt 2>&1" \
    "$SSD_TESTS_AND_BENCH" \
    "touch $ROOT/.timing-done" \
    "$(queue_loop "$QUEUE")"
fi
queue_lanes
