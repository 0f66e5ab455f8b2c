#!/usr/bin/env bash
# Part 7 on one H200 (nvidia-h200), after part 6 (results/full/README.md): our kernels are custom ops under
# torch.compile now (kernels/*/op.py), so every model compiles to one graph (TiM4Rec 11 graphs before, SSD4Rec 7). Every entry resumes: cases with an ok result file are skipped; unfinished ml-1m runs go on from
# the checkpoints in .gpu/resume/ (part 6's).
#   The timing lane runs alone first; the training lanes wait for it:
#     the GPU tests of the custom ops and the compiled graph steps (tests/test_compile_custom_ops.py, the SSD and conv
#     kernels, the CUDA-graph step tests); the one-graph runs train only if they pass; whether graph replays draw
#     new dropout masks (TiM4Rec's graphed runs scored about 2% under eager's, part 6);
#     the compiled step's GPU time (anatomy --profile, fp32 and bf16: profile/*-compiled-*);
#     TiM4Rec and SSD4Rec on amazon-beauty h64 seed 0 with --compile --cuda-graph, fp32 (set full-compile-one-graph:
#     the first epoch is the compile time, issue #4's 15 s) and with --amp bf16 (set full-amp-compile-one-graph).
#   Then four training lanes share the GPU (their epoch times are not reported): ml-1m h64 seed 0, amazon-beauty's
#   last case (TiSASRec h256 seed 2), the rest of ml-100k and amazon-sports h32, the one-graph fp32 seeds 1 and 2, amazon-sports h128.
# Usage (repository root, data under .gpu/data):  bash campaigns/h200-part7.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64"
GRAPH=tests/test_train.py::test_cuda_graph_step_matches_eager
ANATOMY="python3 -m seqrec anatomy --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto --profile 20"
OK="[ -e $ROOT/.compile-ok ] &&"
DONE=$ROOT/.timing-done
lane 0 gpu0-timing \
  "timeout 500 python3 -m pytest -q -p no:cacheprovider tests/test_compile_custom_ops.py tests/test_kernels_conv.py \
     tests/test_kernels_ssd.py tests/test_kernels_selective_scan_sequential.py tests/test_kernels_interval_attention.py \
     -k 'not mamba_ssm' && timeout 300 python3 -m pytest -q -p no:cacheprovider -m gpu \
     '$GRAPH[sasrec-None-True]' '$GRAPH[tim4rec-None-True]' '$GRAPH[tim4rec-bf16-True]' '$GRAPH[tisasrec-bf16-True]' \
     && touch $ROOT/.compile-ok" \
  "timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_train.py -k dropout_masks" \
  "$OK for m in tim4rec ssd4rec mamba4rec tisasrec; do $ANATOMY --model \$m --compile \
     --out $ROOT/$timing/profile/\$m-b2048-l50-h64-compiled-fp32.json > $ROOT/logs/anatomy-\$m-compiled.txt 2>&1; \
     $ANATOMY --model \$m --compile --amp bf16 --out $ROOT/$timing/profile/\$m-b2048-l50-h64-compiled-bf16.json \
     > $ROOT/logs/anatomy-\$m-compiled-bf16.txt 2>&1; done" \
  "$OK $BEAUTY --seeds 0 --models tim4rec,ssd4rec --compile --cuda-graph --out $ROOT/full-compile-one-graph/accuracy" \
  "$OK $BEAUTY --seeds 0 --models tim4rec,ssd4rec --amp bf16 --compile --cuda-graph \
     --out $ROOT/full-amp-compile-one-graph/accuracy" \
  "touch $DONE"
WAIT="while [ ! -e $DONE ]; do sleep 10; done"
export OMP_NUM_THREADS=4
lane 0 train-ml1m-a "$WAIT" "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0 \
  --models tim4rec,sasrec,tisasrec"
lane 0 train-ml1m-b "$WAIT" "$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64 --seeds 0 \
  --models ssd4rec,mamba4rec"
lane 0 train-ml100k "$WAIT" "$SUITE suites/test_accuracy.py --datasets amazon-beauty,ml-100k" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 32"
lane 0 train-graph-sports "$WAIT" \
  "$OK $BEAUTY --seeds 1,2 --models tim4rec,ssd4rec --compile --cuda-graph --out $ROOT/full-compile-one-graph/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 128"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
