#!/usr/bin/env bash
# Part 9, on a host of any number of GPUs (ask status which kinds are lent: x2 or x4 H200/H100, or one GPU), after
# part 8 (results/full/README.md). Every GPU but the first takes ml-1m runs from one queue from the start; GPU 0
# first measures, then joins the queue. Every run resumes: cases with an ok result file are skipped, and the
# unfinished ml-1m runs of part 8 (TiM4Rec seed 1, TiSASRec seed 0) go on from their checkpoints (.gpu/resume/).
#   GPU 0, one thing at a time (its timings are reported):
#     the conv and SSD kernel tests at full size (both kernels' backward ops return raw partial sums now, summed in
#     PyTorch; a second conv backward path for K = 4 loads each x shift once): .kernels-ok when they pass, and every
#     lane's queue waits for it (a kernel wrong on the GPU must not train the grid);
#     the custom ops, the compiled TiM4Rec at ml-1m's shape (inductor failed there on torch 2.11, part 8; now
#     without persistent reductions), the CUDA-graph steps and anatomy's first-step report (.compile-ok);
#     TiM4Rec's step at B = 2048, L = 50, h64 with every compile cache empty: compiled bf16 (issue #4's path: GPU
#     time against part 7's 4.61 ms; the cold first step and torch's compile phases, issue #4's 15 s) and eager
#     fp32 (the cold first step is our own kernels' Triton compilation); on a card other than part 8's H200, the
#     compiled bf16 step also without the persistent-reduction workaround and at part 8's commit (.gpu/old-a1f1603),
#     the comparisons on one card;
#     the conv benchmark (the K = 4 backward's two paths: provider triton_shared_x_bwd) and its
#     backward over row tiles x warps (ptxas -v for sm_90 puts the backward at 128-255 registers a thread: few warps
#     per SM; logs/conv-bwd-grid.txt);
#     TiM4Rec amazon-beauty h64 seed 0, bf16 + compile + CUDA graph (set full-amp-compile-fused-sums: #4's epoch
#     at this commit, against full-amp-compile-eager-rng's 0.351 s);
#     TiM4Rec's compiled step at ml-1m's shape (B = 2048, L = 200), fp32;
#     the naive interval attention at B = 2048, 1 head, fp32 (issue #5's memory and speed against it; ~65 GB, ~5 min);
#     then the queue.
#   The queue (file $ROOT/ml1m-queue.txt, written once): TiSASRec amazon-beauty h64 seeds 0-2 eager and with the
#   CUDA graph (sets full-seeds-eager, full-seeds-cuda-graph: does the graph train TiSASRec as eager does, seed for
#   seed, as it does the other models? then its ml-1m runs, at batch 256 and launch-bound, about 47 s an epoch
#   eager, could take the graph, about 4x faster); the two resumed runs; ml-1m h64 seeds 1 and 2 of the five
#   models (#8); the ablation's ml-1m variants over 3 seeds (#9; without the reference, `-k 'not full-'`, which
#   is the accuracy grid's TiM4Rec run: a lane must not train it while another trains that run); then the rest of
#   ml-1m's grid (h32, h128, h256), the ablation's h16 backbones, and last the ablation's rows taken from the grid.
# Usage (repository root, data under .gpu/data):  bash campaigns/part9.sh [ROOT]
source campaigns/lanes.sh
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
QUEUE=$ROOT/ml1m-queue.txt
ACC="$SUITE suites/test_accuracy.py --datasets ml-1m"
ABL="$SUITE suites/test_ablation.py --datasets ml-1m"
if [ ! -e "$QUEUE" ]; then
  BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
    --models tisasrec --seeds 0,1,2"
  {
    echo "$BEAUTY --out $ROOT/full-seeds-eager/accuracy"
    echo "$BEAUTY --cuda-graph --out $ROOT/full-seeds-cuda-graph/accuracy"
    echo "$ACC --hidden 64 --seeds 1 --models tim4rec"
    echo "$ACC --hidden 64 --seeds 0 --models tisasrec"
    for s in 1 2; do for m in sasrec mamba4rec tisasrec ssd4rec tim4rec; do
      echo "$ACC --hidden 64 --seeds $s --models $m"; done; done
    for s in 0 1 2; do
      for v in no_time_path no_ffn time_residual_point layers_1 layers_3 time_feature_log_gap \
               time_feature_user_norm_gap time_feature_none time_dt_init_neutral official official_time_mlp \
               matched_sasrec matched_tisasrec; do
        echo "SEQREC_ABLATION_VARIANTS=$v $ABL --seeds $s -k 'not full-'"; done; done
    for h in 32 128 256; do for s in 0 1 2; do for m in tim4rec ssd4rec mamba4rec sasrec tisasrec; do
      echo "$ACC --hidden $h --seeds $s --models $m"; done; done; done
    for s in 0 1 2; do echo "SEQREC_ABLATION_VARIANTS=full,backbone_ssd,backbone_ssm,backbone_attention $ABL --seeds $s \
      --hidden 16"; done
    # last: the rows the ablation takes from the accuracy grid's runs (recorded, not trained, once those exist)
    for s in 0 1 2; do echo "SEQREC_ABLATION_VARIANTS=full,backbone_ssd,backbone_ssm,backbone_attention $ABL --seeds $s \
      --hidden 32,64,128"; done
  } > "$QUEUE"
fi
# part 8's code (git archive a1f1603 into .gpu/old-a1f1603): its compiled bf16 step on this card, against this
# commit's with and without INDUCTOR_WORKAROUNDS (no persistent reductions, which L = 200 needs on torch 2.11)
OLD=a1f1603f9c1a5027dddba6da29fd4f863e37af64
ANATOMY="python3 -m seqrec anatomy --model tim4rec --batch 2048 --hidden 64 --device cuda --backend auto --profile 20"
COLD='TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITON_CACHE_DIR=$(mktemp -d)'
PROFILE=$ROOT/$timing/profile
KERNELS_OK="while [ ! -e $ROOT/.kernels-tested ]; do sleep 10; done; [ -e $ROOT/.kernels-ok ] &&"
lane 0 gpu0-timing \
  "timeout 420 python3 -m pytest -q -p no:cacheprovider tests/test_kernels_conv.py tests/test_kernels_ssd.py \
     -k 'not mamba_ssm' && touch $ROOT/.kernels-ok; touch $ROOT/.kernels-tested" \
  "timeout 600 python3 -m pytest -q -p no:cacheprovider tests/test_compile_custom_ops.py && timeout 600 python3 -m pytest \
     -q -p no:cacheprovider -m gpu tests/test_anatomy.py tests/test_train.py \
     -k 'ml1m_shape or cuda_graph_step_matches_eager or profile_lists' && touch $ROOT/.compile-ok" \
  "$COLD $ANATOMY --seq-len 50 --compile --amp bf16 --out $PROFILE/tim4rec-b2048-l50-h64-compiled-bf16.json \
     > $ROOT/logs/anatomy-l50-compiled-bf16-cold.txt 2>&1" \
  "python3 -c 'import sys, seqrec.train as t; t.INDUCTOR_WORKAROUNDS.clear(); from seqrec.cli import main; \
     sys.exit(main(sys.argv[1:]))' ${ANATOMY#python3 -m seqrec } --seq-len 50 --compile --amp bf16 \
     --out $PROFILE/tim4rec-b2048-l50-h64-compiled-bf16-persistent.json > $ROOT/logs/anatomy-l50-compiled-bf16-persistent.txt 2>&1" \
  "(cd .gpu/old-a1f1603 && SEQREC_GIT_COMMIT=$OLD PYTHONPATH=. $ANATOMY --seq-len 50 --compile --amp bf16 \
     --out $PROFILE/tim4rec-b2048-l50-h64-compiled-bf16-a1f1603.json) > $ROOT/logs/anatomy-l50-compiled-bf16-a1f1603.txt 2>&1" \
  "$COLD $ANATOMY --seq-len 50 --out $PROFILE/tim4rec-b2048-l50-h64-eager-fp32.json \
     > $ROOT/logs/anatomy-l50-eager-fp32-cold.txt 2>&1" \
  "python3 suites/bench_conv.py --out $ROOT/$timing/kernels && python3 suites/bench_conv.py --out /tmp --bwd-grid \
     > $ROOT/logs/conv-bwd-grid.txt 2>&1" \
  "[ -e $ROOT/.compile-ok ] && python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
     --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --compile --cuda-graph --amp bf16 \
     --out $ROOT/full-amp-compile-fused-sums/accuracy" \
  "[ -e $ROOT/.compile-ok ] && $ANATOMY --seq-len 200 --compile \
     --out $PROFILE/tim4rec-b2048-l200-h64-compiled-fp32.json > $ROOT/logs/anatomy-l200-compiled-fp32.txt 2>&1" \
  "python3 suites/bench_interval_attention.py --out $ROOT/$timing/kernels --batches 2048 --heads 1 --dtypes float32 \
     --naive-max-batch 2048" \
  "$KERNELS_OK $(queue_loop "$QUEUE")"
for g in $(seq 1 $((ngpu - 1))); do lane "$g" "gpu$g-ml1m" "$KERNELS_OK $(queue_loop "$QUEUE")"; done
echo "campaign lanes started under $ROOT on $ngpu GPUs (logs: $ROOT/logs; queue: $QUEUE)"
