#!/usr/bin/env bash
# Part 22, on a host of any number of GPUs, after part 21 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
# #4's step (TiM4Rec amazon-beauty h64, bf16, compiled, CUDA graph) has two changes to time, both value-keeping:
# the conv backward walking each sequence in time (SEQREC_CONV_BWD_SEQUENTIAL=1; part 21 found it wrong on the GPU
# and fixed it, 76c6392) and inductor without its mix-order reductions (TORCHINDUCTOR_MIX_ORDER_REDUCTION=0: part 21
# traced the step's 12 aten sums, 0.17 ms a step, to them).
#   GPU 0: once a session (.tests22-done), the conv GPU tests (logs/conv-seq-tests22.txt; they pass: .conv-seq-ok),
#     the compiled loop's carries (logs/loop-carries-tests22.txt), the anatomy four ways
#     (logs/anatomy22-{default,no-mix-order,conv-seq,both}.*), the conv bench (logs/bench-conv22*; the sequential
#     backward's channels a program x programs a SM against the tiled one: logs/conv-seq-grid22.txt) and the SSD
#     bench with each kernel's time (logs/bench-ssd22*: where the fp32 mixer's 11.4x over its bytes floor goes; #4),
#     most telling first (a machine handed back mid-way runs them all again). Then #4's profiled run (seed 0,
#     profiled at epoch 5) four ways: as is (<timing>-amp-compile-cuda-graph-part22), without mix-order reductions
#     (-part22-no-mix-order), with the sequential conv backward (-part22-conv-seq-bwd, only after .conv-seq-ok), and
#     with the time path in fp32 (-part22-fp32-time: part 21 timed it 4 ms an epoch faster, at bf16's accuracy).
#   GPU 1 (after GPU 0's lines on a host of one GPU), only after .conv-seq-ok: seeds 0-9 with both changes
#     (-part22-both-seeds), paired by seed with part 20's bf16 seeds (results/full-amp-compile-cuda-graph-part20-seeds).
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the ablation first (part 20's
#   matched_sasrec checkpoint first of all); ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part22.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
ANATOMY="python3 -m seqrec anatomy --model tim4rec --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto \
  --profile 10 --compile --amp bf16"
SEQ=SEQREC_CONV_BWD_SEQUENTIAL=1 NO_MIX=TORCHINDUCTOR_MIX_ORDER_REDUCTION=0
OK="[ -e $ROOT/.conv-seq-ok ] &&"
GPU0=("[ -e $ROOT/.tests22-done ] || { timeout 300 $PYTEST tests/test_kernels_conv.py \
    > $ROOT/logs/conv-seq-tests22.txt 2>&1 && touch $ROOT/.conv-seq-ok; timeout 300 $PYTEST \
    tests/test_triton_loop_carries.py > $ROOT/logs/loop-carries-tests22.txt 2>&1; \
    $ANATOMY --out $ROOT/logs/anatomy22-default.json > $ROOT/logs/anatomy22-default.txt 2>&1; \
    $NO_MIX $ANATOMY --out $ROOT/logs/anatomy22-no-mix-order.json > $ROOT/logs/anatomy22-no-mix-order.txt 2>&1; \
    $OK $SEQ $ANATOMY --out $ROOT/logs/anatomy22-conv-seq.json > $ROOT/logs/anatomy22-conv-seq.txt 2>&1; \
    $OK $SEQ $NO_MIX $ANATOMY --out $ROOT/logs/anatomy22-both.json > $ROOT/logs/anatomy22-both.txt 2>&1; \
    python3 suites/bench_conv.py --out $ROOT/logs/bench-conv22 > $ROOT/logs/bench-conv22.txt 2>&1; \
    $OK python3 suites/bench_conv.py --out $ROOT/logs/bench-conv22 --seq-grid > $ROOT/logs/conv-seq-grid22.txt 2>&1; \
    python3 suites/bench_ssd.py --out $ROOT/logs/bench-ssd22 --variants triton,torch --profile 10 \
    > $ROOT/logs/bench-ssd22.txt 2>&1; python3 suites/bench_ssd.py --out $ROOT/logs/bench-ssd22 --dtype bfloat16 \
    --variants triton,torch --profile 10 > $ROOT/logs/bench-ssd22-bf16.txt 2>&1; \
    touch $ROOT/.tests22-done; }"
  "$PROFILED --out $SET-part22/accuracy"
  "$NO_MIX $PROFILED --out $SET-part22-no-mix-order/accuracy"
  "$OK $SEQ $PROFILED --out $SET-part22-conv-seq-bwd/accuracy"
  "SEQREC_FP32_MODULES='time_layers.*,time_norm' $PROFILED --out $SET-part22-fp32-time/accuracy")
GPU1=()
for s in ${SEEDS//,/ }; do
  GPU1+=("$OK $SEQ $NO_MIX $RUN --seeds $s --out $SET-part22-both-seeds/accuracy")
done
split_one_offs gpu0-tests gpu1-seeds
