#!/usr/bin/env bash
# Part 11b, after part 11's first call (results/full/README.md, part 11), whose lanes ended with its machine: its
# kernel, graph and compile-ahead GPU tests passed at 5e3a3bb, and its cold TiM4Rec runs with --compile-ahead took
# 18.4 s (prewarm off) and 16.7 s (on) in the eager first epoch, against 7-9 s for eager first epochs in parts 1-8.
# Since then the background compilation starts after the run's first step (seqrec/train.py), not beside it.
#   GPU 0, one thing at a time (its timings are reported; GPU 1 runs the queue meanwhile):
#     the cold eager first epoch alone (bf16 + CUDA graph, no compile; set <timing>-cold-eager), prewarm off:
#     what the first epoch takes without a process beside it;
#     the cold --compile-ahead runs again at this commit, prewarm off and on (sets
#     <timing>-cold-compile-ahead-after-first-step[-prewarm]);
#     the compile-ahead GPU tests at this commit;
#     part 11's benches: the interval attention at the default and at 64 MiB chunks, the SSD mixer, each with its host
#     time a call;
#     then the queue.
#   The queue (file $ROOT/queue.txt, written once): part 10's (campaigns/ml1m_queue.sh); sweeps skip the runs the
#   committed sets hold (lanes.sh copies every results/full* set).
# Usage (repository root, data under .gpu/data):  bash campaigns/part11b.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
queue_campaign
source campaigns/kernel_benches.sh
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested" "$ROOT/.graph-ok"  # part 11's GPU tests of these passed
TIM="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
  --models tim4rec --seeds 0 --cuda-graph --amp bf16"
lane 0 gpu0-timing \
  "SEQREC_PREWARM=0 $COLD $TIM --out $ROOT/$timing-cold-eager/accuracy" \
  "for p in 0 1; do SEQREC_PREWARM=\$p $COLD $TIM --compile --compile-ahead \
     --out $ROOT/$timing-cold-compile-ahead-after-first-step\$([ \$p = 1 ] && echo -prewarm)/accuracy; done" \
  "timeout 480 $PYTEST -m gpu tests/test_compile_ahead.py" \
  "${KERNEL_BENCHES[@]}" \
  "$(queue_loop "$QUEUE")"
for g in $(seq 1 $((ngpu - 1))); do lane "$g" "gpu$g-queue" "$(queue_loop "$QUEUE")"; done
echo "campaign lanes started under $ROOT on $ngpu GPUs (logs: $ROOT/logs; queue: $QUEUE)"
