#!/usr/bin/env bash
# Part 8 on one 2-GPU host (nvidia-h200-x2; this session lends no 4-GPU host, so x4-part8.sh's work is folded onto
# two GPUs, the accuracy grid's ml-1m share shrunk to the two resumed runs and TiSASRec). Every entry resumes:
# cases with an ok result file are skipped; ml-1m's seed-1 runs of TiM4Rec and SSD4Rec go on from part 7's
# checkpoints (.gpu/resume/).
#   GPU 0 runs one thing at a time (its timings are reported):
#     TiM4Rec amazon-beauty h64 seed 0, --compile --cuda-graph --compile-rng eager in fp32 (set
#     full-compile-eager-rng) and --amp bf16 (full-amp-compile-eager-rng); the GPU test that the compiled loss with
#     eager's generator gives eager's losses and gradients under dropout; the interval attention's GPU tests after
#     the head-major change (38335bb; .interval-ok when they pass: TiSASRec trains only then) and its benchmark at
#     1 and 2 heads (profiled at B=2048); TiM4Rec's step at ml-1m's shape (L=200, B=2048), eager and compiled;
#     then ml-1m SSD4Rec seed 1 (resumed).
#   GPU 1, two lanes: the compiled TiM4Rec with eager's masks over seeds 1-9, fp32 (do compiled runs now score as
#     eager does, full-seeds-eager?) and bf16 (what bf16 costs, seed for seed); then ml-1m TiM4Rec seed 1 (resumed)
#     and TiSASRec seed 0.
# Usage (repository root, data under .gpu/data):  bash campaigns/x2-part8.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
  --models tim4rec --compile --cuda-graph --compile-rng eager"
ML1M="$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64"
INTERVAL_OK="while [ ! -e $ROOT/.interval-tested ]; do sleep 10; done; [ -e $ROOT/.interval-ok ] &&"
BENCH="python3 suites/bench_interval_attention.py --out $ROOT/$timing/kernels"
lane 0 gpu0-timing \
  "$BEAUTY --seeds 0 --out $ROOT/full-compile-eager-rng/accuracy" \
  "$BEAUTY --seeds 0 --amp bf16 --out $ROOT/full-amp-compile-eager-rng/accuracy" \
  "timeout 400 python3 -m pytest -q -p no:cacheprovider tests/test_kernels_interval_attention.py \
     tests/test_compile_custom_ops.py -k 'interval or tisasrec' && touch $ROOT/.interval-ok; touch $ROOT/.interval-tested" \
  "timeout 300 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_train.py -k eager_rng" \
  "$BENCH --batches 2048 --profile 5" "$BENCH --batches 256" \
  "for v in eager compiled; do python3 -m seqrec anatomy --batch 2048 --seq-len 200 --hidden 64 --device cuda \
     --backend auto --profile 20 --model tim4rec \$([ \$v = compiled ] && echo --compile) \
     --out $ROOT/$timing/profile/tim4rec-b2048-l200-h64-\$v-fp32.json > $ROOT/logs/anatomy-tim4rec-l200-\$v.txt 2>&1; done" \
  "$ML1M --seeds 1 --models ssd4rec"
export OMP_NUM_THREADS=4
lane 1 gpu1-seeds "$BEAUTY --seeds 1,2,3,4,5,6,7,8,9 --out $ROOT/full-compile-eager-rng/accuracy" \
  "$ML1M --seeds 1 --models tim4rec"
lane 1 gpu1-seeds-bf16 "$BEAUTY --seeds 1,2,3,4,5,6,7,8,9 --amp bf16 --out $ROOT/full-amp-compile-eager-rng/accuracy" \
  "$INTERVAL_OK $ML1M --seeds 0 --models tisasrec"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
