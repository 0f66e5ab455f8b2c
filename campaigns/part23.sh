#!/usr/bin/env bash
# Part 23, on a host of any number of GPUs, after part 22 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
# Since part 22 the conv backward walks sequences by default, its launch an argument of the compiled custom ops (part
# 22's anatomy was served the other launch's compiled backward from torch's cache), and --amp fp16 trains under
# float16 autocast with PyTorch's loss scaling: does fp16 (3 more mantissa bits than bf16) close bf16's 1.1% NDCG@10
# gap to eager fp32 (#4), and at what epoch time?
#   GPU 0: once a session (.tests23-done), the GPU tests of the custom ops' launch argument and of the graphed fused
#     Adam (logs/ops-tests23.txt), the fp16 graphed step against the eager one (logs/fp16-graph-tests23.txt; it
#     passes: .fp16-ok), the anatomy with the sequential backward (the default) and then the tiled one
#     (SEQREC_CONV_BWD_SEQUENTIAL=0, the order that failed in part 22: logs/anatomy23-{default,tiled}.*), #4's step
#     under fp16 (logs/anatomy23-fp16.*) and ml-1m's eager fp32 steps as the ablation trains them (SASRec, TiM4Rec;
#     batch 2048, L 200, 3,707 items: where its 21 s an epoch go, logs/anatomy23-ml1m-*.*; and compiled, fp32: what
#     ml-1m's grid, some 70 runs at about 20 minutes each eager, would gain, #8 and #9). Then #4's profiled run
#     (seed 0, profiled at epoch 5) as the default is now (<timing>-amp-compile-cuda-graph-part23) and under fp16
#     (-part23-fp16, only after .fp16-ok).
#   GPU 1 (after GPU 0's lines on a host of one GPU), only after .fp16-ok: seeds 0-9 under fp16 (-fp16-seeds),
#     paired by seed with part 20's bf16 seeds and eager fp32 (results/full-seeds-eager); then TF32 (--tf32): ml-1m's
#     3-epoch timings and amazon-beauty's eager seeds 0-9 (<timing>-tf32-seeds).
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the ablation first (part 22's
#   matched_sasrec checkpoint first of all); ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part23.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
FP16_RUN=${RUN/--amp bf16/--amp fp16}
ANATOMY="python3 -m seqrec anatomy --model tim4rec --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto \
  --profile 10 --compile"
ML1M="python3 -m seqrec anatomy --batch 2048 --seq-len 200 --hidden 64 --n-items 3707 --device cuda --backend auto \
  --profile 10"
OK="[ -e $ROOT/.fp16-ok ] &&"
GPU0=("[ -e $ROOT/.tests23-done ] || { timeout 300 $PYTEST tests/test_compile_custom_ops.py tests/test_train.py \
    -k 'conv or (fused_adam_matches_eager and not fp16)' > $ROOT/logs/ops-tests23.txt 2>&1; \
    timeout 300 $PYTEST tests/test_train.py -k 'fused_adam_matches_eager and fp16' \
    > $ROOT/logs/fp16-graph-tests23.txt 2>&1 && touch $ROOT/.fp16-ok; \
    $ANATOMY --amp bf16 --out $ROOT/logs/anatomy23-default.json > $ROOT/logs/anatomy23-default.txt 2>&1; \
    SEQREC_CONV_BWD_SEQUENTIAL=0 $ANATOMY --amp bf16 --out $ROOT/logs/anatomy23-tiled.json \
    > $ROOT/logs/anatomy23-tiled.txt 2>&1; \
    $ANATOMY --amp fp16 --out $ROOT/logs/anatomy23-fp16.json > $ROOT/logs/anatomy23-fp16.txt 2>&1; \
    $ML1M --model sasrec --out $ROOT/logs/anatomy23-ml1m-sasrec.json > $ROOT/logs/anatomy23-ml1m-sasrec.txt 2>&1; \
    $ML1M --model tim4rec --out $ROOT/logs/anatomy23-ml1m-tim4rec.json > $ROOT/logs/anatomy23-ml1m-tim4rec.txt 2>&1; \
    $ML1M --model sasrec --compile --out $ROOT/logs/anatomy23-ml1m-sasrec-compiled.json \
    > $ROOT/logs/anatomy23-ml1m-sasrec-compiled.txt 2>&1; $ML1M --model tim4rec --compile \
    --out $ROOT/logs/anatomy23-ml1m-tim4rec-compiled.json > $ROOT/logs/anatomy23-ml1m-tim4rec-compiled.txt 2>&1; \
    touch $ROOT/.tests23-done; }"
  "$PROFILED --out $SET-part23/accuracy"
  "$OK SEQREC_PROFILE_EPOCH=5 $FP16_RUN --seeds 0 --out $SET-part23-fp16/accuracy")
GPU1=()
for s in ${SEEDS//,/ }; do
  GPU1+=("$OK $FP16_RUN --seeds $s --out $SET-fp16-seeds/accuracy")
done
# TF32 (fp32 storage, TF32 products): 3 epochs of ml-1m's TiM4Rec h64 eager and compiled + graphed (against part 20's
# fp32 15.3 and 11.5 s an epoch, results/full-compile-cuda-graph-ml1m-3-epochs/), and amazon-beauty's eager seeds
# 0-9 (paired with results/full-seeds-eager, the same protocol in IEEE fp32): a faster grid protocol for ml-1m's rest?
ML1M_3="python3 -m seqrec sweep --epochs 3 --patience 10 --device cuda --gpus 0 --datasets ml-1m --hidden 64 \
  --models tim4rec --seeds 0 --tf32"
GPU1+=("$ML1M_3 --out $ROOT/$timing-tf32-ml1m-3-epochs/accuracy"
  "$ML1M_3 --compile --cuda-graph --out $ROOT/$timing-compile-cuda-graph-tf32-ml1m-3-epochs/accuracy")
for s in ${SEEDS//,/ }; do
  GPU1+=("python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty \
    --hidden 64 --models tim4rec --tf32 --seeds $s --out $ROOT/$timing-tf32-seeds/accuracy")
done
split_one_offs gpu0-tests gpu1-seeds
