#!/usr/bin/env bash
# Part 7 on one 4-GPU host (nvidia-h200-x4), after part 6 (results/full/README.md): our kernels are custom ops under
# torch.compile now (kernels/*/op.py), so every model compiles to one graph (TiM4Rec 11 graphs before, SSD4Rec 7).
# Every entry resumes: cases with an ok result file are skipped; unfinished ml-1m runs go on from the checkpoints in
# .gpu/resume/ (part 6's).
#   GPU 0 runs one thing at a time (its timings are reported):
#     the GPU tests of the custom ops and the compiled graph steps (.compile-ok when they pass: the compiled runs
#     train only then); whether CUDA-graph replays draw new dropout masks;
#     TiM4Rec and SSD4Rec on amazon-beauty h64 seed 0 with --compile --cuda-graph, fp32 (set full-compile-one-graph:
#     the first epoch is the compile, issue #4's 15 s) and --amp bf16 (set full-amp-compile-one-graph);
#     where the interval attention's time goes at 1 and 2 heads (B=2048, profiled; 2 heads took 4.7x 1 head's);
#     the compiled step's GPU time (anatomy --profile, fp32 and bf16: profile/*-compiled-*);
#     the SSD and conv kernel tests at full size; then amazon-beauty's last case and the rest of ml-100k.
#   GPU 1, two lanes: TiM4Rec amazon-beauty h64 over seeds 0-9 in fp32, eager (set full-seeds-eager) against
#     --cuda-graph (set full-seeds-cuda-graph) and --compile --cuda-graph (full-compile-one-graph): the graphed
#     runs scored about 2% under eager over 3 seeds (part 6, p = 0.12); then ml-1m h64 seed 1.
#   GPUs 2, 3: ml-1m h64 seed 0 (TiM4Rec and SSD4Rec resume part 6's checkpoints), then seed 2.
# Usage (repository root, data under .gpu/data):  bash campaigns/x4-part7.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64"
SEEDS=0,1,2,3,4,5,6,7,8,9
GRAPH=tests/test_train.py::test_cuda_graph_step_matches_eager
ANATOMY="python3 -m seqrec anatomy --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto --profile 20"
TESTED="while [ ! -e $ROOT/.tested ]; do sleep 10; done; [ -e $ROOT/.compile-ok ] &&"
ML1M="$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64"
lane 0 gpu0-timing \
  "timeout 420 python3 -m pytest -q -p no:cacheprovider tests/test_compile_custom_ops.py \
     tests/test_kernels_selective_scan_sequential.py tests/test_kernels_interval_attention.py -k 'not mamba_ssm' \
     && timeout 300 python3 -m pytest -q -p no:cacheprovider -m gpu \
     '$GRAPH[sasrec-None-True]' '$GRAPH[tim4rec-None-True]' '$GRAPH[tim4rec-bf16-True]' '$GRAPH[tisasrec-bf16-True]' \
     && touch $ROOT/.compile-ok; touch $ROOT/.tested" \
  "timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_train.py -k dropout_masks" \
  "$TESTED $BEAUTY --seeds 0 --models tim4rec,ssd4rec --compile --cuda-graph --out $ROOT/full-compile-one-graph/accuracy" \
  "$TESTED $BEAUTY --seeds 0 --models tim4rec,ssd4rec --amp bf16 --compile --cuda-graph \
     --out $ROOT/full-amp-compile-one-graph/accuracy" \
  "python3 suites/bench_interval_attention.py --batches 2048 --dtypes float32 --profile 10 \
     --out $ROOT/$timing/kernels" \
  "$TESTED for m in tim4rec ssd4rec mamba4rec tisasrec; do $ANATOMY --model \$m --compile \
     --out $ROOT/$timing/profile/\$m-b2048-l50-h64-compiled-fp32.json > $ROOT/logs/anatomy-\$m-compiled.txt 2>&1; \
     $ANATOMY --model \$m --compile --amp bf16 --out $ROOT/$timing/profile/\$m-b2048-l50-h64-compiled-bf16.json \
     > $ROOT/logs/anatomy-\$m-compiled-bf16.txt 2>&1; done" \
  "timeout 300 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_ssd.py tests/test_kernels_conv.py" \
  "$SUITE suites/test_accuracy.py --datasets amazon-beauty,ml-100k"
export OMP_NUM_THREADS=4
lane 1 gpu1-seeds-eager "$BEAUTY --seeds $SEEDS --models tim4rec --out $ROOT/full-seeds-eager/accuracy" \
  "$ML1M --seeds 1 --models tim4rec,sasrec,tisasrec"
lane 1 gpu1-seeds-graph "$BEAUTY --seeds $SEEDS --models tim4rec --cuda-graph --out $ROOT/full-seeds-cuda-graph/accuracy" \
  "$TESTED $BEAUTY --seeds ${SEEDS#0,} --models tim4rec --compile --cuda-graph --out $ROOT/full-compile-one-graph/accuracy" \
  "$ML1M --seeds 1 --models ssd4rec,mamba4rec"
lane 2 gpu2-ml1m "$ML1M --seeds 0 --models tim4rec,sasrec,tisasrec" "$ML1M --seeds 2 --models tim4rec,sasrec,tisasrec"
lane 3 gpu3-ml1m "$ML1M --seeds 0 --models ssd4rec,mamba4rec" "$ML1M --seeds 2 --models ssd4rec,mamba4rec"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
