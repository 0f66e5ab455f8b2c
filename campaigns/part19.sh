#!/usr/bin/env bash
# Part 19, on a host of any number of GPUs, after part 18 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
#   GPU 0: once a session (.tests19-done), the fused Adam graph tests (their compiled case deterministic now; part
#     18's failed without it), the fused time MLP's tests on the GPU (.time-mlp19-ok when they pass) and its bench
#     (kernels/scalar_mlp, suites/bench_time_mlp.py: not yet run on a GPU); then #4's run (TiM4Rec, amazon-beauty,
#     h64, seed 0, bf16, compiled, CUDA graph, profiled at epoch 5) with part 18's defaults after it (the time MLP as
#     nn.Linear) and the conv's narrow tiles (the default since part 18's bench); with the fused time MLP
#     (SEQREC_TIME_MLP_KERNEL=1: part 18's profile put the linear MLP's GEMMs at 0.25 ms a step); with the SSD's
#     mixed dots as one bf16 product (SEQREC_SSD_BF16_PRODUCT=1: it rounds more; part 18's bench: 26-28% less graph
#     time); with both; the defaults again (the spread between two runs of one configuration, which part 18 lacked);
#     the in_proj unpadded again (part 18: within noise). Sets <timing>-amp-compile-cuda-graph-part19, ...-part19-
#     time-mlp-kernel, ...-part19-bf16-product, ...-part19-time-mlp-kernel-bf16-product, ...-part19-repeat,
#     ...-part19-unpadded-in-proj. Part 18's defaults took 0.287 s an epoch; 8x needs 0.26 s.
#     Then, once a session (.anatomy19-done), the anatomy's GPU tests and its kernel profile of the same step
#     (compiled, bf16, not graphed) with the code that launched each kernel (seqrec/kernel_sources.py): part 18's
#     12 aten sum kernels a step (0.17 ms) come from no kernel name's place (logs/anatomy19.txt, .json).
#   GPU 1 (after GPU 0's lines on a host of one GPU): what the bf16 product costs in accuracy, seeds 0-9 of the same
#     run unprofiled with it (set <timing>-amp-compile-cuda-graph-bf16-product-seeds) and without it
#     (<timing>-amp-compile-cuda-graph-part19-seeds): paired by seed.
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the ablation first; ml-1m's h256
#   runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# The queue (fp32, not compiled) now runs the narrow conv tiles (values rounded differently from part 18's in the
# weight gradients' sums; result files carry their commit). Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part19.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
GPU0=("[ -e $ROOT/.tests19-done ] || { timeout 300 $PYTEST -m gpu tests/test_train.py -k fused_adam \
    > $ROOT/logs/fused-adam-tests19.txt 2>&1; timeout 300 $PYTEST tests/test_kernels_time_mlp.py \
    tests/test_bench_time_mlp.py > $ROOT/logs/time-mlp-tests19.txt 2>&1 && touch $ROOT/.time-mlp19-ok; \
    python3 suites/bench_time_mlp.py --out $ROOT/logs/bench-time-mlp19 > $ROOT/logs/bench-time-mlp19.txt 2>&1; \
    touch $ROOT/.tests19-done; }"
  "$PROFILED --out $SET-part19/accuracy"
  "[ -e $ROOT/.time-mlp19-ok ] && SEQREC_TIME_MLP_KERNEL=1 $PROFILED --out $SET-part19-time-mlp-kernel/accuracy"
  "SEQREC_SSD_BF16_PRODUCT=1 $PROFILED --out $SET-part19-bf16-product/accuracy"
  "[ -e $ROOT/.time-mlp19-ok ] && SEQREC_TIME_MLP_KERNEL=1 SEQREC_SSD_BF16_PRODUCT=1 $PROFILED \
    --out $SET-part19-time-mlp-kernel-bf16-product/accuracy"
  "$PROFILED --out $SET-part19-repeat/accuracy"
  "SEQREC_LINEAR_PAD=1 $PROFILED --out $SET-part19-unpadded-in-proj/accuracy"
  "[ -e $ROOT/.anatomy19-done ] || { timeout 300 $PYTEST -m gpu tests/test_anatomy.py > $ROOT/logs/anatomy-tests19.txt \
    2>&1; python3 -m seqrec anatomy --model tim4rec --batch 2048 --seq-len 50 --hidden 64 --device cuda \
    --backend auto --profile 10 --compile --amp bf16 --out $ROOT/logs/anatomy19.json > $ROOT/logs/anatomy19.txt 2>&1; \
    touch $ROOT/.anatomy19-done; }")
GPU1=("SEQREC_SSD_BF16_PRODUCT=1 $RUN --seeds $SEEDS --out $SET-bf16-product-seeds/accuracy"
  "$RUN --seeds $SEEDS --out $SET-part19-seeds/accuracy")
split_one_offs gpu0-profiles gpu1-seeds
