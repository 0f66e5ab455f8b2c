#!/usr/bin/env bash
# Part 4 of the GPU campaign on one 2-GPU host (nvidia-h200-x2), after part 3 (results/full/README.md). Every
# entry resumes: cases with an ok result file are skipped.
#   GPU 0 runs one thing at a time (its timings are reported):
#     the GPU tests of what part 3's profile asked for: the Triton causal conv (PyTorch's depthwise conv took
#     2.5 of TiM4Rec's 15.1 ms step), the sequential selective scan, bf16 autocast in the profile and the graph;
#     the step profiles as result files (full/profile/: every model eager, TiM4Rec also with bf16 autocast and
#     compiled) with the Triton conv;
#     the kernel suite without interval attention (conv, both selective scans against mamba-ssm's CUDA scan);
#     TiM4Rec and SSD4Rec on amazon-beauty h64 seed 0 trained eager with the Triton conv (set full-triton-conv),
#     with --amp bf16 (set full-amp) and with --amp bf16 --cuda-graph (set full-amp-cuda-graph): epoch time and
#     NDCG@10 against the fp32 runs; the latency suite again for the SSM models at h64 (their conv changed); the
#     memory and latency suites (part 3's left-out out-of-memory cases, in a process that now frees them)
#   GPU 1 is shared by three lanes of training runs (seconds per epoch include the sharing): amazon-sports h64,
#     one lane per seed; then the rest of ml-100k
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/x2-part4.sh [ROOT]
source campaigns/lanes.sh
ANATOMY="python3 -m seqrec anatomy --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto --profile 20"
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --models tim4rec,ssd4rec \
  --datasets amazon-beauty --hidden 64 --seeds 0"
# the SSM models now train with the Triton conv, first run on a GPU here: no training run before its GPU tests pass
CONV_OK="python3 -m pytest -q -p no:cacheprovider -m 'gpu and not slow' tests/test_kernels_conv.py"
lane 0 gpu0-timing \
  "timeout 400 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_conv.py \
     tests/test_kernels_selective_scan_sequential.py tests/test_anatomy.py tests/test_train.py" \
  "for m in tim4rec ssd4rec mamba4rec sasrec tisasrec; do $ANATOMY --model \$m \
     --out $ROOT/$timing/profile/\$m-b2048-l50-h64-eager-fp32.json > $ROOT/logs/anatomy-\$m.txt 2>&1; done" \
  "$ANATOMY --model tim4rec --amp bf16 --out $ROOT/$timing/profile/tim4rec-b2048-l50-h64-eager-bf16.json \
     > $ROOT/logs/anatomy-tim4rec-bf16.txt 2>&1" \
  "$ANATOMY --model tim4rec --amp bf16 --compile --out $ROOT/$timing/profile/tim4rec-b2048-l50-h64-compiled-bf16.json \
     > $ROOT/logs/anatomy-tim4rec-bf16-compiled.txt 2>&1" \
  "$ANATOMY --model tim4rec --compile --out $ROOT/$timing/profile/tim4rec-b2048-l50-h64-compiled-fp32.json \
     > $ROOT/logs/anatomy-tim4rec-compiled.txt 2>&1" \
  "$TSUITE suites/test_kernels.py -k 'not interval_attention' --benchmark-json $ROOT/logs/bench-kernels-4.json" \
  "python3 -m kernels.selective_scan.sequential '{}' '{\"max_chunk\": 10}' '{\"block_d_bwd\": 8, \"warps_bwd\": 2}' \
     '{\"block_d_bwd\": 32, \"warps_bwd\": 8}' > $ROOT/logs/sequential-scan-blocks.txt 2>&1" \
  "$CONV_OK && $BEAUTY --out $ROOT/full-triton-conv/accuracy" \
  "$BEAUTY --amp bf16 --out $ROOT/full-amp/accuracy" \
  "$BEAUTY --amp bf16 --cuda-graph --out $ROOT/full-amp-cuda-graph/accuracy" \
  "$TSUITE suites/test_latency.py --models mamba4rec,ssd4rec,tim4rec --hidden 64 --backends auto --rerun" \
  "$TSUITE suites/test_memory.py || $TSUITE suites/test_memory.py" \
  "$TSUITE suites/test_latency.py || $TSUITE suites/test_latency.py"
for seed in 0 1 2; do
  lane 1 "gpu1-sports-s$seed" \
    "$CONV_OK && $SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 64 --seeds $seed"
done
lane 1 gpu1-ml100k "$CONV_OK && $SUITE suites/test_accuracy.py --datasets ml-100k"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
