#!/usr/bin/env bash
# Part 11, on a host of any number of GPUs (ask status which kinds are lent), after part 10 (results/full/README.md),
# whose queue again never ran (a test's own tolerance stopped it; fixed in 0c88f9d). The kernels are part 10's,
# whose full-size GPU tests passed on an H200 then (fp32 and bf16), so the queue no longer waits for them; every
# lane but GPU 0's starts on the queue at once. Every run resumes: cases with an ok result file are skipped; ml-1m
# TiSASRec seed 0 goes on from its checkpoint (.gpu/resume/).
#   GPU 0, one thing at a time (its timings are reported):
#     the interval attention's kernel tests (its chunk budget is now 256 MiB): .interval-ok; TiSASRec's queue lines
#     wait for them (.interval-tested) and are dropped if they failed;
#     the CUDA-graph GPU tests (the graphed step against eager; train.py's step is now built by make_step):
#     .graph-ok, without which TiSASRec's ml-1m runs train eagerly;
#     the compile-ahead GPU tests (SASRec and TiM4Rec: eager CUDA-graph epochs, then compiled ones from the cache
#     the background process filled): .ahead-ok, which the next runs need;
#     issue #4's first epoch with every cache empty, TiM4Rec amazon-beauty h64, bf16 + compile + CUDA graph, now
#     with --compile-ahead (seqrec/compile_ahead.py: eager epochs while a background process compiles), the whole
#     run (set <timing>-cold-compile-ahead: its first epoch, compiled_from_epoch, the compiled epochs' time, and its
#     accuracy against full-amp-compile-fused-sums; part 10 without it: 32.2 s); then the same with the prewarm
#     (SEQREC_PREWARM=1, set <timing>-cold-compile-ahead-prewarm): the eager first epoch compiles our Triton kernels,
#     which is what the prewarm does ahead (in part 10's compiled first epoch inductor dominated);
#     issue #5's interval attention at B = 256 and 2048, 1 and 2 heads, fp32 and bf16, at the 256 MiB default,
#     against the naive form at B = 256 (part 10: 64 MiB chunks, set full-interval-chunks-64mib);
#     the same at 64 MiB chunks (one head, fp32; into logs/attn-64mib) and the SSD mixer, each now with its host
#     time a call (bench_common.host_ms): part 10 found the 64 MiB chunks and the SSD's B = 256, L = 200 case
#     bound by the host's launches, not the GPU;
#     then the queue.
#   The queue (file $ROOT/queue.txt, written once): part 10's, unchanged.
# Usage (repository root, data under .gpu/data):  bash campaigns/part11.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
queue_campaign
source campaigns/kernel_benches.sh
lane 0 gpu0-timing \
  "timeout 300 $PYTEST tests/test_kernels_interval_attention.py tests/test_kernels_interval_attention_chunks.py \
     && touch $ROOT/.interval-ok; touch $ROOT/.interval-tested" \
  "timeout 300 $PYTEST -m gpu tests/test_train.py -k 'cuda_graph_step_matches_eager or resumes_as_a_cuda_graph_run' \
     && touch $ROOT/.graph-ok" \
  "timeout 480 $PYTEST -m gpu tests/test_compile_ahead.py && touch $ROOT/.ahead-ok" \
  "[ -e $ROOT/.ahead-ok ] && for p in 0 1; do SEQREC_PREWARM=\$p $COLD python3 -m seqrec sweep --epochs 200 \
     --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --compile \
     --compile-ahead --cuda-graph --amp bf16 --out $ROOT/$timing-cold-compile-ahead\$([ \$p = 1 ] && echo -prewarm)/accuracy; \
     done" \
  "timeout 300 $PYTEST tests/test_bench_common.py" \
  "${KERNEL_BENCHES[@]}" \
  "$(queue_loop "$QUEUE")"
for g in $(seq 1 $((ngpu - 1))); do lane "$g" "gpu$g-queue" "$(queue_loop "$QUEUE")"; done
echo "campaign lanes started under $ROOT on $ngpu GPUs (logs: $ROOT/logs; queue: $QUEUE)"
