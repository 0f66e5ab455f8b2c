#!/usr/bin/env bash
# Part 6 of the GPU campaign on one 4-GPU host (nvidia-h200-x4), after part 5 (results/full/README.md). Every entry
# resumes: cases with an ok result file are skipped; ml-1m runs go on from the checkpoints part 5 left (extract its
# ckpt.tgz into .gpu/resume/ first).
#   GPU 0 runs one thing at a time (its timings are reported):
#     the GPU tests of what changed after part 5 (the compiled bf16 CUDA-graph test's tolerance);
#     the norm kernels' host cost, measured on one host: the latency suite at h64 for SASRec, TiM4Rec and SSD4Rec
#     with our norms (set full) and with them set aside (SEQREC_REFERENCE_OPS, set full-reference-norms);
#     SASRec and TiSASRec latency at h64 (not rerun since part 4);
#     TiM4Rec and SSD4Rec on amazon-beauty h64 seed 0 with --compile --cuda-graph in fp32 (set
#     full-compile-cuda-graph: the fast path without bf16's accuracy cost); then amazon-sports at hidden 32
#   GPU 1: the rest of ml-100k, then amazon-sports at hidden 128
#   GPUs 2, 3: ml-1m at h64, seed 0 (TiM4Rec and SSD4Rec resume part 5's checkpoints), then seed 1
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/x4-part6.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64"
GPU_TESTS="tests/test_kernels_selective_scan_sequential.py tests/test_kernels_ssd.py \
  tests/test_kernels_interval_attention.py tests/test_kernels_norm.py"
FP32_OK="python3 -m pytest -q -p no:cacheprovider -m gpu $GPU_TESTS -k 'not mamba_ssm and not bfloat16'"
NORMS_ASIDE="SEQREC_REFERENCE_OPS=layer_norm,gated_rms_norm"
LAT="--benchmark-only --profile full suites/test_latency.py --hidden 64 --backends auto --rerun"
lane 0 gpu0-timing \
  "timeout 400 python3 -m pytest -q -p no:cacheprovider -m gpu $GPU_TESTS tests/test_train.py" \
  "$TSUITE suites/test_latency.py --models sasrec,tim4rec,ssd4rec --hidden 64 --backends auto --rerun" \
  "$NORMS_ASIDE python3 -m pytest -q -p no:cacheprovider $LAT --models sasrec,tim4rec,ssd4rec \
     --results-dir $ROOT/full-reference-norms" \
  "$TSUITE suites/test_latency.py --models tisasrec --hidden 64 --backends auto --rerun" \
  "$FP32_OK && $BEAUTY --models tim4rec,ssd4rec --seeds 0 --compile --cuda-graph --out $ROOT/full-compile-cuda-graph/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 32"
lane 1 gpu1-ml100k-sports \
  "$FP32_OK && $SUITE suites/test_accuracy.py --datasets ml-100k" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 128"
lane 2 gpu2-ml1m "$FP32_OK && $SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0 \
  --models tim4rec,sasrec,tisasrec" "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 1"
lane 3 gpu3-ml1m "$FP32_OK && $SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0 \
  --models ssd4rec,mamba4rec" "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 2"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
