#!/usr/bin/env bash
# Part 14, on a host of any number of GPUs, after part 13 (results/full/README.md). Every run resumes as before
# (campaigns/resume/ packs, .gpu/resume/; ok result files skipped).
#   GPU 0, one thing at a time:
#     the GPU tests of the kernel timers that now replay a CUDA graph (kernels.ssd.tune, the selective scan's bench);
#     #4's epoch: TiM4Rec amazon-beauty h64, bf16 + compile + CUDA graph, every cache empty (set
#     <timing>-amp-compile-cuda-graph-partial-graph): part 10's 0.340 s an epoch ran the epoch's last, partial batch
#     eagerly; since e1564c5 it replays a graph of its own (eager + graph: 0.49 -> 0.45 s an epoch, part 13);
#     each model's compiled fp32 step at ml-1m's shape, h64 (would compiling shorten ml-1m's runs);
#     the anatomy of each model's step at ml-1m's shape and h256 (can such a run finish within one session);
#     the SSD launch settings searched again, ranked by graph replay time (part 5 ranked eager medians, half host
#     time; the kernels changed since), bf16, then fp32 further down, into logs/ssd-tune14-*.txt;
#     the selective scan's block settings at ml-1m's batch (its backward is 42% of Mamba4Rec's step there), graph
#     times, into logs/scan-configs14.txt;
#     the conv and norm benches with graph times into logs/kernels14, and the conv backward's grid of row tiles x
#     warps x shared x loads (part 13's eager medians of these were the host's launches);
#     #5: the interval attention at 128 MiB chunks (graph times and peak memory between part 12's 256 MiB default,
#     31x under the naive form, and 64 MiB, 67x and 14-16% slower), into logs/attn-128mib;
#     then the queue, with a second queue lane on GPU 0 once these are done.
#   Every GPU but 0 runs QUEUE_LANES (default 2) queue lanes at once. ml-1m's h256 runs (queue.txt.session: their
#   checkpoints cannot travel to the next session) start in no lane here (SESSION_BOUND_WINDOW_S=0): whether one can
#   finish within a session is what this part's h256 anatomies say; a later part sets the window.
# Every call to the device tool must carry .gpu (a call without carry removes it there; the lanes read a copy of
# the data since 89f758a, but .gpu/resume is read at the start only).
# Usage (repository root, data under .gpu/data):  bash campaigns/part14.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
SESSION_BOUND_WINDOW_S=${SESSION_BOUND_WINDOW_S:-0}
queue_campaign
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested" "$ROOT/.graph-ok" "$ROOT/.graph-tested"  # passed in part 13
COMPILED="$COLD python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty \
  --hidden 64 --models tim4rec --seeds 0 --amp bf16 --compile --cuda-graph"
SCAN_CONFIGS="'{}' '{\"block_d_bwd\": 4, \"warps_bwd\": 1}' '{\"block_d_bwd\": 16, \"warps_bwd\": 4}' \
  '{\"warps_bwd\": 1}' '{\"max_chunk\": 4}' '{\"max_chunk\": 6}'"
K14=$ROOT/logs/kernels14
# ml-1m's h256 runs cannot hand a checkpoint to the next session (27-42 MiB against what a call can carry): each
# must finish within one session. Their step's time at ml-1m's shape, fp32 eager as the grid trains (TiSASRec at
# its batch, 256; graphed in training), times ml-1m's steps an epoch, says whether one can.
ANATOMY256="python3 -m seqrec anatomy --hidden 256 --seq-len 200 --n-items 3416 --device cuda --backend auto --profile 10"
# ml-1m's runs are the GPU's own time (parts 12, 13: kernels = wall a step), about 23 minutes each, some 90 still to
# run: would torch.compile (eager dropout draws, compile_rng "eager": seed for seed eager's accuracy on 10 seeds,
# results/full-compile-eager-rng/) shorten their steps? Each model's compiled fp32 step at ml-1m's shape, h64,
# against part 13's eager anatomies (part 12's for SASRec; TiSASRec's eager one here).
ANATOMY_ML1M_COMPILED="python3 -m seqrec anatomy --hidden 64 --seq-len 200 --n-items 3416 --device cuda --backend auto \
  --profile 20 --compile"
lane 0 gpu0-timing \
  "timeout 300 $PYTEST -m gpu tests/test_kernels_ssd.py tests/test_kernels_selective_scan_sequential.py \
     -k 'tune_times or bench_times'" \
  "$COMPILED --out $ROOT/$timing-amp-compile-cuda-graph-partial-graph/accuracy" \
  "for m in sasrec mamba4rec ssd4rec tim4rec; do $ANATOMY_ML1M_COMPILED --model \$m --batch 2048; done \
     > $ROOT/logs/anatomy14-ml1m-compiled-fp32.txt 2>&1" \
  "$ANATOMY_ML1M_COMPILED --model tisasrec --batch 256 >> $ROOT/logs/anatomy14-ml1m-compiled-fp32.txt 2>&1" \
  "${ANATOMY_ML1M_COMPILED% --compile} --model tisasrec --batch 256 > $ROOT/logs/anatomy14-ml1m-tisasrec-eager.txt 2>&1" \
  "for m in sasrec mamba4rec ssd4rec tim4rec; do $ANATOMY256 --model \$m --batch 2048; done \
     > $ROOT/logs/anatomy14-ml1m-h256.txt 2>&1" \
  "$ANATOMY256 --model tisasrec --batch 256 >> $ROOT/logs/anatomy14-ml1m-h256.txt 2>&1" \
  "python3 -m kernels.ssd.tune --dtype bfloat16 > $ROOT/logs/ssd-tune14-bf16.txt 2>&1" \
  "python3 -m kernels.selective_scan.sequential $SCAN_CONFIGS > $ROOT/logs/scan-configs14.txt 2>&1" \
  "python3 suites/bench_conv.py --out $K14" \
  "python3 suites/bench_norm.py --out $K14" \
  "python3 -m kernels.ssd.tune --dtype float32 > $ROOT/logs/ssd-tune14-fp32.txt 2>&1" \
  "python3 suites/bench_conv.py --out $K14 --bwd-grid > $ROOT/logs/conv-bwd-grid14.txt 2>&1" \
  "SEQREC_INTERVAL_SPACE_MIB=128 python3 suites/bench_interval_attention.py --out $ROOT/logs/attn-128mib \
     --batches 256,2048 --heads 1 --dtypes float32 --naive-max-batch 0" \
  "touch $ROOT/.timing-done" \
  "$(queue_loop "$QUEUE")"
queue_lanes
