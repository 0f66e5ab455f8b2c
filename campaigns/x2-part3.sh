#!/usr/bin/env bash
# Part 3 of the GPU campaign on one 2-GPU host (nvidia-h200-x2), after part 2 (results/full/README.md). Every
# entry resumes: cases with an ok result file are skipped; part 2's failures run again.
#   GPU 0 runs one thing at a time (its timings are reported):
#     the GPU tests part 2 failed or did not have (the CUDA-graph step against the same Adam, the profile test);
#     where TiM4Rec's training step at batch 2048 spends its 15 ms (seqrec anatomy --profile, SSD4Rec and SASRec
#     too: logs/anatomy-*.txt) and with the loss compiled; TiM4Rec and SSD4Rec trained with --compile (epoch
#     time and compile time against the eager runs: set full-compile); TiSASRec with the CUDA-graph step (its
#     kernel seed is now drawn on the device; batch 256 is launch-bound); the kernel suite (the selective scan
#     against mamba-ssm's CUDA scan, rebound);
#     the latency suite (Mamba4Rec with mamba-ssm, then the rest of the grid); the memory suite alone
#     (part 2's shared-GPU out-of-memory skips, Mamba4Rec with mamba-ssm, then h256)
#   GPU 1 is shared by three lanes of training runs (seconds per epoch include the sharing): the rest of the
#     amazon-beauty ablation (backbones at h16-128, equal-parameter variants), one lane per seed; then the rest
#     of ml-100k and amazon-sports at hidden 64
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/x2-part3.sh [ROOT]
source campaigns/lanes.sh
ANATOMY="python3 -m seqrec anatomy --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto --profile 20"
lane 0 gpu0-timing \
  "timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_anatomy.py \
     tests/test_bench_common.py -k 'graph or profile or measure'" \
  "$ANATOMY --model tim4rec > $ROOT/logs/anatomy-tim4rec.txt 2>&1" \
  "$ANATOMY --model ssd4rec > $ROOT/logs/anatomy-ssd4rec.txt 2>&1" \
  "$ANATOMY --model sasrec > $ROOT/logs/anatomy-sasrec.txt 2>&1" \
  "$ANATOMY --model tim4rec --compile > $ROOT/logs/anatomy-tim4rec-compiled.txt 2>&1" \
  "python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --models tim4rec,ssd4rec \
     --datasets amazon-beauty --hidden 64 --seeds 0 --compile --out $ROOT/full-compile/accuracy" \
  "python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --models tisasrec \
     --datasets amazon-beauty --hidden 64 --seeds 0 --cuda-graph --out $ROOT/full-cuda-graph/accuracy" \
  "$TSUITE suites/test_kernels.py --benchmark-json $ROOT/logs/bench-kernels-3.json" \
  "$TSUITE suites/test_latency.py --models mamba4rec --hidden 64" \
  "$TSUITE suites/test_memory.py --hidden 64 || $TSUITE suites/test_memory.py --hidden 64" \
  "$TSUITE suites/test_latency.py || $TSUITE suites/test_latency.py" \
  "$TSUITE suites/test_memory.py || $TSUITE suites/test_memory.py"
for seed in 0 1 2; do
  lane 1 "gpu1-ablation-s$seed" \
    "$SUITE suites/test_ablation.py --datasets amazon-beauty --seeds $seed"
done
lane 1 gpu1-accuracy \
  "$SUITE suites/test_accuracy.py --datasets ml-100k" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 64"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
