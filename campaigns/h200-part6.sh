#!/usr/bin/env bash
# Part 6 on one H200 (nvidia-h200), after part 5 (results/full/README.md); it replaces x4-part6.sh, whose 4-GPU
# host was not lent this session. Every entry resumes: cases with an ok result file are skipped; unfinished runs go
# on from the checkpoints a former machine left (extract its ckpt.tgz into .gpu/resume/ first).
#   The timing lane runs alone first (TIMING=full, the default); the training lanes wait for it:
#     the GPU tests of what changed after part 5 (the norms' public ops, the compiled CUDA-graph step in bf16 and in
#     fp32; fp32 compile + graph trains only if they pass);
#     the norms' host cost on one host: the latency suite at h64, L50 and L200, for SASRec, TiM4Rec and SSD4Rec with
#     our norms (set full) and with them set aside (SEQREC_REFERENCE_OPS, set full-reference-norms);
#     the rest of SASRec's latency and TiSASRec's (not rerun since part 4);
#     TiM4Rec and SSD4Rec on amazon-beauty h64 seed 0 with --compile --cuda-graph in fp32 (set
#     full-compile-cuda-graph: the fast path without bf16's accuracy cost; its epoch time is timed alone).
#   Then four training lanes share the GPU (their epoch times are not reported): ml-1m h64 seed 0 (TiM4Rec and
#   SSD4Rec resume part 5's checkpoints), the rest of ml-100k, fp32 compile + graph seeds 1 and 2, amazon-sports.
# TIMING=train (a second machine, after part 6's first lost its lanes): only the CUDA-graph tests and the fp32
# compile + graph epochs run alone before the training lanes; TIMING=none: the training lanes only.
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/h200-part6.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64"
GRAPH=tests/test_train.py::test_cuda_graph_step_matches_eager
NORMS_ASIDE="SEQREC_REFERENCE_OPS=layer_norm,gated_rms_norm"
AB="suites/test_latency.py --models sasrec,tim4rec,ssd4rec --hidden 64 --backends auto --rerun -k 'L50- or L200-'"
DONE=$ROOT/.timing-done
GRAPH_TESTS="timeout 300 python3 -m pytest -q -p no:cacheprovider -m gpu '$GRAPH[sasrec-bf16-True]' \
  '$GRAPH[tim4rec-bf16-True]' '$GRAPH[tisasrec-bf16-True]' '$GRAPH[sasrec-None-True]' '$GRAPH[tim4rec-None-True]' \
  && touch $ROOT/.graph-ok"
GRAPH_FP32="[ -e $ROOT/.graph-ok ] && $BEAUTY --seeds 0 --models tim4rec,ssd4rec --compile --cuda-graph \
  --out $ROOT/full-compile-cuda-graph/accuracy"
case "${TIMING:-full}" in
  full) lane 0 gpu0-timing \
    "timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_norm.py || export $NORMS_ASIDE" \
    "$GRAPH_TESTS" \
    "$TSUITE $AB" \
    "$NORMS_ASIDE python3 -m pytest -q -p no:cacheprovider --benchmark-only --profile full \
       --results-dir $ROOT/full-reference-norms $AB" \
    "$TSUITE suites/test_latency.py --models sasrec,tisasrec --hidden 64 --backends auto --rerun \
       -k 'not L50- and not L200- or tisasrec'" \
    "$GRAPH_FP32" "touch $DONE" ;;
  train) lane 0 gpu0-timing "$GRAPH_TESTS" "$GRAPH_FP32" "touch $DONE" ;;
  none) touch "$DONE" ;;
esac
WAIT="while [ ! -e $DONE ]; do sleep 10; done"
export OMP_NUM_THREADS=4
lane 0 train-ml1m-a "$WAIT" "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0 \
  --models tim4rec,sasrec,tisasrec"
lane 0 train-ml1m-b "$WAIT" "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0 \
  --models ssd4rec,mamba4rec"
lane 0 train-ml100k "$WAIT" "$SUITE suites/test_accuracy.py --datasets ml-100k" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 32"
lane 0 train-graph-sports "$WAIT" \
  "[ -e $ROOT/.graph-ok ] && $BEAUTY --seeds 1,2 --models tim4rec,ssd4rec --compile --cuda-graph --out $ROOT/full-compile-cuda-graph/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 128"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
