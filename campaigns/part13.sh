#!/usr/bin/env bash
# Part 13, on a host of any number of GPUs, after part 12b (results/full/README.md). Every run resumes as in part 12
# (campaigns/resume/ packs; ok result files skipped).
#   GPU 0, one thing at a time (its timings are reported):
#     the CUDA graph's GPU tests: the epoch's partial batch is now a graph of its own (`seqrec/cuda_graph.py`);
#     the queue's graphed runs wait for them;
#     the GPU tests of the kernels whose code changed since part 12 (`8e395ce`: the row counts and the backward's
#     tiles a program are runtime arguments Triton does not specialize; the prewarm's small dry step, `a4cfd00`);
#     #4's cold first epoch, eager (bf16 + CUDA graph, no compile), every cache empty, each step of the first epoch
#     timed (SEQREC_STEP_TIMES=1): prewarm off (set <timing>-cold-eager-unspecialized; part 12b's 13.9 s, of which
#     4.5 s recompiling the last, partial batch) and on (-prewarm; part 12b's former prewarm: 18.9 s);
#     the step's kernels compiled one after another on this host's CPU, each one's compile seconds (ptxas_report:
#     the first step's 9 s on this host against 4.3 s of compilation on the 2-core development machine);
#     the anatomy of the SSM models' eager step at ml-1m's shape (kernel time against wall time a step: whether the
#     queue's ml-1m runs would gain from the CUDA graph, as TiSASRec's do; SASRec's is the GPU's, part 12);
#     the benches of the changed kernels (conv, norms, SSD mixer) into logs/kernels13, against the committed
#     kernels/ records (the speed of unspecialized row counts);
#     then the queue, with a second queue lane on GPU 0 once these are done.
#   Every GPU but 0 runs QUEUE_LANES (default 2) queue lanes at once.
# Usage (repository root, data under .gpu/data):  bash campaigns/part13.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
# the queue's graphed runs wait for the CUDA graph's GPU tests (GPU 0's first command): the graph of the partial
# batch (`seqrec/cuda_graph.py`) is new; they run eagerly if the tests fail
GRAPH="\$(while [ ! -e $ROOT/.graph-tested ]; do sleep 5; done; [ -e $ROOT/.graph-ok ] && echo --cuda-graph)"
queue_campaign
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested"  # these GPU tests passed in part 11
COLD_RUN="SEQREC_STEP_TIMES=1 $COLD python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
  --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --cuda-graph --amp bf16"
K13=$ROOT/logs/kernels13
ANATOMY="python3 -m seqrec anatomy --batch 2048 --hidden 64 --seq-len 200 --n-items 3416 --device cuda --backend auto \
  --profile 20"  # ml-1m's shape, as its grid trains (fp32, eager)
lane 0 gpu0-timing \
  "timeout 540 $PYTEST -m gpu tests/test_train.py -k cuda_graph && touch $ROOT/.graph-ok; touch $ROOT/.graph-tested" \
  "timeout 420 $PYTEST -m gpu tests/test_kernels_norm.py tests/test_kernels_conv.py tests/test_kernels_ssd.py \
     tests/test_prewarm.py" \
  "SEQREC_PREWARM=0 $COLD_RUN --out $ROOT/$timing-cold-eager-unspecialized/accuracy" \
  "SEQREC_PREWARM=1 $COLD_RUN --out $ROOT/$timing-cold-eager-unspecialized-prewarm/accuracy" \
  "python3 -m kernels.ptxas_report --model tim4rec --batch 64 --seq-len 50 --hidden 64 --amp bf16 \
     > $ROOT/logs/ptxas-tim4rec-bf16-host.txt 2>&1" \
  "$ANATOMY --model tim4rec > $ROOT/logs/anatomy-tim4rec-ml1m-eager-fp32.txt 2>&1" \
  "$ANATOMY --model mamba4rec > $ROOT/logs/anatomy-mamba4rec-ml1m-eager-fp32.txt 2>&1" \
  "$ANATOMY --model ssd4rec > $ROOT/logs/anatomy-ssd4rec-ml1m-eager-fp32.txt 2>&1" \
  "python3 suites/bench_conv.py --out $K13" \
  "python3 suites/bench_norm.py --out $K13" \
  "for d in float32 bfloat16; do python3 suites/bench_ssd.py --out $K13 --dtype \$d --variants triton; done \
     > $ROOT/logs/bench-ssd13.txt 2>&1" \
  "touch $ROOT/.timing-done" \
  "$(queue_loop "$QUEUE")"
queue_lanes
