#!/usr/bin/env bash
# Part 10, on a host of any number of GPUs (ask status which kinds are lent), after part 9 (results/full/README.md),
# whose queue never ran (a test's own bug stopped it). Every run resumes: cases with an ok result file are skipped;
# ml-1m TiSASRec seed 0 goes on from its checkpoint (.gpu/resume/).
#   GPU 0, one thing at a time (its timings are reported):
#     the CUDA-graph GPU tests (the graphed step against eager for SASRec, TiM4Rec, TiSASRec; a run resumed across
#     the graph): .graph-ok; the interval attention's kernel tests: .interval-ok, without which TiSASRec's runs are
#     dropped from the queue; the conv and SSD kernel tests at full size: .kernels-ok, which every lane's queue waits
#     for (fp32: the grid's runs are fp32; the bf16 cases apart, .bf16-ok: the SSD kernels' 16-bit tiles now take
#     bf16 MMAs, first run on a GPU here, and gate the bf16 figures below);
#     the SSD kernels against the reference path and themselves before this session's register work (67bed1d,
#     .gpu/old-67bed1d: the same card), fp32 and bf16, and the SPLIT_BF16_DOTS variant (triton_split16); then the compile tests (TiM4Rec at L = 200 with the upstream inductor fix applied at run time,
#     seqrec/inductor_fixes.py; part 9 failed there); the prewarm's and the benches' timer's GPU tests;
#     the interval attention at B = 256 and 2048, 1 and 2 heads, fp32 and bf16 (issue #5: its peak memory, now
#     chunked over the batch, against the naive form at B = 256 and part 9's at 2048);
#     TiM4Rec's first epoch on amazon-beauty h64 (bf16 + compile + CUDA graph) with every cache empty, with and
#     without our kernels compiled ahead in background processes (kernels.prewarm; sets <timing>-cold-prewarm-1
#     and -0: issue #4's first epoch under 15 s, part 8: 37.6 s on an H200);
#     on an H200 (part 8's card) also issue #4's figures at this commit: TiM4Rec's compiled bf16 step with every
#     cache empty (the cold first step and torch's compile phases), and its amazon-beauty h64 seed 0, bf16 +
#     compile + CUDA graph (set full-amp-compile-fused-sums, against full-amp-compile-eager-rng's 0.351 s);
#     then the queue.
#   The queue (file $ROOT/queue.txt, written once), part 9's: TiSASRec amazon-beauty h64 seeds 0-2 eager and with
#   the CUDA graph (does the graph train TiSASRec as eager does, seed for seed?); ml-1m TiSASRec seed 0 (resumed);
#   ml-1m h64 seeds 1 and 2 of the five models (#8); the ablation's ml-1m variants over 3 seeds (#9, without the
#   reference row, `-k 'not full-'`: the grid's TiM4Rec run); the rest of ml-1m's grid; the ablation's h16
#   backbones; last the ablation's rows taken from the grid. TiSASRec's ml-1m runs (batch 256: 49 s an epoch eager,
#   the same on an H100 as on an H200, so bound by the host) train with the CUDA graph once .graph-ok says the
#   graphed step matches eager (the accuracy and ablation suites' --cuda-graph; seqrec.train.EXECUTION_ONLY).
# Usage (repository root, data under .gpu/data):  bash campaigns/part10.sh [ROOT]
source campaigns/lanes.sh
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
QUEUE=$ROOT/queue.txt
GRAPH="\$([ -e $ROOT/.graph-ok ] && echo --cuda-graph)"  # expanded when the line runs
TIS="[ -e $ROOT/.interval-ok ] &&"  # TiSASRec's runs: only with the interval attention's GPU tests passed
source campaigns/ml1m_queue.sh
write_ml1m_queue "$QUEUE"
ANATOMY="python3 -m seqrec anatomy --model tim4rec --batch 2048 --hidden 64 --device cuda --backend auto --profile 20"
COLD='TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITON_CACHE_DIR=$(mktemp -d)'
PYTEST="python3 -m pytest -q -p no:cacheprovider"
BEFORE=67bed1db2a429690f98a7a49705592b3312f72d5  # the SSD kernels before this session's register work (.gpu/old-67bed1d)
KERNELS_OK="while [ ! -e $ROOT/.kernels-tested ]; do sleep 10; done; [ -e $ROOT/.kernels-ok ] &&"
H200_ONLY="[ $timing = full ] &&"  # part 8's card: #4's figures compare with its
lane 0 gpu0-timing \
  "timeout 300 $PYTEST -m gpu tests/test_train.py -k 'cuda_graph_step_matches_eager or resumes_as_a_cuda_graph_run' \
     && touch $ROOT/.graph-ok" \
  "timeout 300 $PYTEST tests/test_kernels_interval_attention.py && touch $ROOT/.interval-ok" \
  "timeout 480 $PYTEST tests/test_kernels_conv.py tests/test_kernels_ssd.py -k 'not mamba_ssm and not bfloat16' \
     && touch $ROOT/.kernels-ok; touch $ROOT/.kernels-tested" \
  "timeout 300 $PYTEST tests/test_kernels_conv.py tests/test_kernels_ssd.py -k 'bfloat16 and not mamba_ssm' \
     && touch $ROOT/.bf16-ok" \
  "timeout 480 $PYTEST tests/test_compile_custom_ops.py && timeout 480 $PYTEST -m gpu tests/test_anatomy.py \
     tests/test_train.py -k 'ml1m_shape or profile_lists' && touch $ROOT/.compile-ok" \
  "timeout 300 $PYTEST -m gpu tests/test_prewarm.py tests/test_bench_common.py" \
  "python3 suites/bench_interval_attention.py --out $ROOT/$timing/kernels --batches 256,2048 --heads 1,2 \
     --dtypes float32,bfloat16 --naive-max-batch 256" \
  "for d in float32 bfloat16; do python3 suites/bench_ssd.py --out $ROOT/$timing/kernels --dtype \$d \
     --variants triton,triton_split16; done > $ROOT/logs/bench-ssd.txt 2>&1" \
  "(cd .gpu/old-67bed1d && for d in float32 bfloat16; do SEQREC_GIT_COMMIT=$BEFORE PYTHONPATH=. python3 \
     suites/bench_ssd.py --out $ROOT/logs/bench-ssd-67bed1d --dtype \$d --variants triton; done) \
     > $ROOT/logs/bench-ssd-67bed1d.txt 2>&1" \
  "[ -e $ROOT/.bf16-ok ] && for p in 1 0; do SEQREC_PREWARM=\$p $COLD python3 -m seqrec sweep --epochs 1 --patience 0 --device cuda --gpus 0 \
     --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --compile --cuda-graph --amp bf16 \
     --out $ROOT/$timing-cold-prewarm-\$p/accuracy; done" \
  "[ -e $ROOT/.bf16-ok ] && $H200_ONLY $COLD $ANATOMY --seq-len 50 --compile --amp bf16 --out $ROOT/$timing/profile/tim4rec-b2048-l50-h64-compiled-bf16.json \
     > $ROOT/logs/anatomy-l50-compiled-bf16-cold.txt 2>&1" \
  "[ -e $ROOT/.bf16-ok ] && $H200_ONLY python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty \
     --hidden 64 --models tim4rec --seeds 0 --compile --cuda-graph --amp bf16 --out $ROOT/full-amp-compile-fused-sums/accuracy" \
  "$KERNELS_OK $(queue_loop "$QUEUE")"
for g in $(seq 1 $((ngpu - 1))); do lane "$g" "gpu$g-queue" "$KERNELS_OK $(queue_loop "$QUEUE")"; done
echo "campaign lanes started under $ROOT on $ngpu GPUs (logs: $ROOT/logs; queue: $QUEUE)"
