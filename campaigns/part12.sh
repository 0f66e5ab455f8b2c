#!/usr/bin/env bash
# Part 12, on a host of any number of GPUs, after part 11 (results/full/README.md). Every run resumes: cases with
# an ok result file are skipped; ml-1m TiSASRec seed 0 and SASRec seed 1 go on from part 11's checkpoints
# (campaigns/resume/, which lanes.sh unpacks).
#   GPU 0, one thing at a time (its timings are reported):
#     the prewarm and anatomy GPU tests (a prewarmed step compiles nothing itself; part 10's failed on 11 cache
#     entries of the step's own, most likely the C launchers, which the prewarm now builds:
#     kernels/triton_launchers.py);
#     issue #4's cold first epoch, eager (bf16 + CUDA graph, no compile), with the prewarm (set
#     <timing>-cold-eager-prewarm; part 11 without it: 20.6 s, <timing>-cold-eager);
#     the anatomy of that cold first step, eager, and of the warm eager steps of TiM4Rec and TiSASRec (amazon-beauty's
#     L = 50) and SASRec (ml-1m's L = 200), kernel time against wall time a step: where the first epoch's 20 s go,
#     why TiSASRec's eager step takes 97 ms against its CUDA graph's 14 ms, and whether ml-1m's 16 s epochs are
#     the GPU's; and of TiM4Rec's compiled bf16 step (#4's path: 4.36 ms of kernels a step in part 10 against
#     5.2 ms a step in its 0.340 s epochs);
#     part 11's kernel benches again, now with each case's time as a CUDA graph (bench_common.graph_ms: the kernels
#     without the host's launches), the naive interval attention left out (measured in part 11), into
#     logs/kernels-graph (the committed kernels/ keep part 11's records, naive form included);
#     then the queue.
#   The queue (file $ROOT/queue.txt, written once): part 10's (campaigns/ml1m_queue.sh); sweeps skip the runs the
#   committed sets hold. Every GPU but 0 runs QUEUE_LANES (default 2) queue lanes at once.
# Usage (repository root, data under .gpu/data):  bash campaigns/part12.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
queue_campaign
NAIVE_MAX_BATCH=0 KERNEL_OUT=$ROOT/logs/kernels-graph source campaigns/kernel_benches.sh
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested" "$ROOT/.graph-ok"  # these GPU tests passed in part 11
ANATOMY="python3 -m seqrec anatomy --batch 2048 --hidden 64 --device cuda --backend auto --profile 20"
lane 0 gpu0-timing \
  "timeout 300 $PYTEST -m gpu tests/test_prewarm.py tests/test_anatomy.py" \
  "SEQREC_PREWARM=1 $COLD python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
     --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --cuda-graph --amp bf16 \
     --out $ROOT/$timing-cold-eager-prewarm/accuracy" \
  "$COLD $ANATOMY --model tim4rec --amp bf16 > $ROOT/logs/anatomy-tim4rec-eager-bf16-cold.txt 2>&1" \
  "$ANATOMY --model tim4rec --amp bf16 > $ROOT/logs/anatomy-tim4rec-eager-bf16-warm.txt 2>&1" \
  "$ANATOMY --model tim4rec --amp bf16 --compile > $ROOT/logs/anatomy-tim4rec-compiled-bf16.txt 2>&1" \
  "$ANATOMY --model tisasrec > $ROOT/logs/anatomy-tisasrec-eager-fp32-warm.txt 2>&1" \
  "$ANATOMY --model sasrec --seq-len 200 --n-items 3416 > $ROOT/logs/anatomy-sasrec-ml1m-eager-fp32-warm.txt 2>&1" \
  "timeout 300 $PYTEST -m gpu tests/test_bench_common.py" \
  "${KERNEL_BENCHES[@]}" \
  "$(queue_loop "$QUEUE")"
# two queue lanes on each other GPU (QUEUE_LANES): one ml-1m run a GPU took 16-21 s an epoch in part 11, and SASRec's
# anatomy above says how busy one run keeps the GPU; the lanes' epoch times are shared-GPU times, not reported
for g in $(seq 1 $((ngpu - 1))); do
  for k in $(seq 1 "${QUEUE_LANES:-2}"); do lane "$g" "gpu$g-queue$k" "$(queue_loop "$QUEUE")"; done
done
echo "campaign lanes started under $ROOT on $ngpu GPUs (logs: $ROOT/logs; queue: $QUEUE)"
