#!/usr/bin/env bash
# Part 2 of the GPU campaign on one 2-GPU host (nvidia-h200-x2), after campaigns/x4-beauty.sh (committed under
# results/full*). Every entry resumes: cases with an ok result file are skipped.
#   GPU 0 runs one thing at a time (its timings are reported): the GPU tests at this commit (kernels at full size,
#         the CUDA-graph step), TiM4Rec's epoch with the CUDA-graph step, the kernel suite against mamba-ssm,
#         the latency suite (the graphed step, mamba-ssm as a second provider, last campaign's failed cases;
#         hidden 64 first), the CUDA-graph epochs of the other models
#   GPU 1 is shared by four lanes of small launch-bound training runs (their seconds per epoch include that
#         sharing; accuracy does not depend on it) and the memory suite (peak memory is per process): the
#         ablation on amazon-beauty, one lane per seed, TiM4Rec's parts at hidden 64 first; the rest of ml-100k;
#         TiSASRec at batch 2048 and L=200 (ml-100k); amazon-sports at hidden 64
# Timings go to the set `full` on H200, else to `full-<card>` (campaigns/lanes.sh: TSUITE).
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/x2-part2.sh [ROOT]
source campaigns/lanes.sh
SWEEP="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0"
H64="components,time_residual,layers,time_feature,official"  # the ablation groups at hidden 64
GPU_TESTS="tests/test_kernels_ssd.py tests/test_kernels_selective_scan.py tests/test_kernels_interval_attention.py \
tests/test_kernels_conv.py tests/test_models_ssm.py tests/test_models_attention.py"
lane 0 gpu0-timing \
  "timeout 360 python3 -m pytest -q -p no:cacheprovider $GPU_TESTS" \
  "timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_train.py -k 'cuda_graph or graph'" \
  "$SWEEP --models tim4rec --datasets amazon-beauty --hidden 64 --seeds 0 --cuda-graph --out $ROOT/full-cuda-graph/accuracy" \
  "$TSUITE suites/test_kernels.py --benchmark-json $ROOT/logs/bench-kernels-2.json" \
  "$TSUITE suites/test_latency.py --hidden 64 --benchmark-json $ROOT/logs/bench-latency-h64.json || $TSUITE suites/test_latency.py --hidden 64" \
  "$SWEEP --models ssd4rec,sasrec,mamba4rec --datasets amazon-beauty --hidden 64 --seeds 0 --cuda-graph --out $ROOT/full-cuda-graph/accuracy" \
  "$TSUITE suites/test_latency.py || $TSUITE suites/test_latency.py"
for seed in 0 1 2; do
  lane 1 "gpu1-ablation-s$seed" \
    "SEQREC_ABLATION_VARIANTS=$H64 $SUITE suites/test_ablation.py --datasets amazon-beauty --seeds $seed" \
    "$SUITE suites/test_ablation.py --datasets amazon-beauty --seeds $seed"
done
lane 1 gpu1-memory-accuracy \
  "$TSUITE suites/test_memory.py --hidden 64 || $TSUITE suites/test_memory.py --hidden 64" \
  "$SWEEP --models tisasrec --datasets ml-100k --hidden 64 --seeds 0 --batch-size 2048 --out $ROOT/full-tisasrec-b2048/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets ml-100k" \
  "$TSUITE suites/test_memory.py || $TSUITE suites/test_memory.py" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 64"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
