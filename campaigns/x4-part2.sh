#!/usr/bin/env bash
# Part 2 of the GPU campaign on one 4-GPU host (after campaigns/x4-beauty.sh, whose results are committed).
# Every entry resumes: cases with an ok result file under results/full are skipped.
#   lane 0: kernel benchmarks again (selective scan and SSD against mamba-ssm, compiled from .whl/), the memory
#           suite, the latency suite (its failed cases, and mamba-ssm as a second provider)
#   lane 1: the TiM4Rec ablation on amazon-beauty, every variant, seed 0, then seeds 1 and 2
#   lane 2: the CUDA-graph training step: its GPU test, then amazon-beauty h64 runs with --cuda-graph (epoch time
#           and accuracy against results/full); the rest of the ml-100k grid; TiSASRec at batch 2048 on ml-1m
#           (L=200); amazon-sports h64
#   lane 3: ml-1m accuracy at h64, seed 0, then seeds 1 and 2
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/x4-part2.sh [ROOT]
source campaigns/lanes.sh
lane 0 lane0-kernels \
  "$SUITE suites/test_kernels.py --benchmark-json $ROOT/logs/bench-kernels-2.json" \
  "$SUITE suites/test_memory.py --benchmark-json $ROOT/logs/bench-memory.json" \
  "$SUITE suites/test_latency.py --benchmark-json $ROOT/logs/bench-latency-2.json"
lane 1 lane1-ablation \
  "$SUITE suites/test_ablation.py --datasets amazon-beauty --seeds 0" \
  "$SUITE suites/test_ablation.py --datasets amazon-beauty --seeds 1,2"
lane 2 lane2-accuracy \
  "timeout 300 python3 -m pytest -q -p no:cacheprovider tests/test_train.py -k cuda_graph" \
  "python3 -m seqrec sweep --models tim4rec,ssd4rec,sasrec,mamba4rec --datasets amazon-beauty --hidden 64 --seeds 0 --cuda-graph --device cuda --out $ROOT/full-cuda-graph/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets ml-100k" \
  "python3 -m seqrec sweep --models tisasrec --datasets ml-1m --hidden 64 --seeds 0 --batch-size 2048 --device cuda --out $ROOT/full-tisasrec-b2048/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 64"
lane 3 lane3-accuracy \
  "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0" \
  "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 1,2"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
