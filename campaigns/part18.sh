#!/usr/bin/env bash
# Part 18, on a host of any number of GPUs, after part 17 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; ok result files skipped), and GPU 0's one-off work is skipped once a call has brought back its
# .timing-done.
#   GPU 0, one thing at a time, then the queue:
#     the GPU tests of what part 17's profile of #4's compiled, graphed TiM4Rec step led to: fused Adam in the graph
#     (seqrec/train.py build_adam, SEQREC_GRAPH_ADAM), the loss's scores over a table padded to a multiple of 64
#     items under autocast (models/item_table.py) and the padded in_proj (models/aligned_linear.py); .speed18-ok when
#     they pass;
#     then, only on .speed18-ok, #4's run profiled at epoch 5 with the five changes (the defaults now: those two, the
#     lookup's padding gradient spread under compile, TiM4Rec's pointwise time MLP without GEMMs under compile,
#     models/tim4rec.py pointwise_mlp, and the SSD mixer's in_proj output padded from 324 to 328 columns under
#     autocast, models/aligned_linear.py) and with each one turned off by its variable, compiled, and eager (sets
#     <timing>-amp-compile-cuda-graph-part18, ...-part18-foreach-adam, ...-part18-row0-padding-grad,
#     ...-part18-unpadded-table, ...-part18-linear-time-mlp, ...-part18-unpadded-in-proj,
#     <timing>-amp-cuda-graph-part18):
#     part 17's same run took 0.332 s an epoch, 4.89 ms of kernels a step, against the 0.26 s 8x needs;
#     the graphed-against-eager tests (eager and compiled, fp32 and bf16: through the lookup's spread gradient under
#     compile and the padded table; logs/graph-tests18.txt);
#     the conv tests on the GPU (all of them: the narrow tiles too) and its bench with TiM4Rec's 4-channel time
#     convs in tiles as narrow as their channels (kernels/conv/fused.py NARROW_TILES, off by default; provider
#     triton_narrow_tiles; logs/bench-conv18.txt);
#     the SSD mixer's bf16 bench with the mixed dots as one bf16 product beside ours (part 17's did not run: the
#     bench refused the variant's name, fixed in 2012d59; logs/bench-ssd18.txt).
#   Every GPU but 0 runs QUEUE_LANES (here 1) queue lanes on ml-1m's queue (the ablation, then the grid's h32 and
#   h128). ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0; results/full/README.md, part 14).
# The campaign's queue (fp32, not compiled) runs on the code paths of part 17: the lookup's spread and the time MLP
# are changed under compile only, the padded table and in_proj under autocast only, and its graphed lines (TiSASRec's) keep capturable foreach Adam
# (campaigns/ml1m_queue.sh: SEQREC_GRAPH_ADAM=foreach). No LANE_GATE. Each result file records what ran
# ("implementation": adam, padding_grad, item_table_rows_multiple, linear_out_multiple, time_mlp).
# Every call to the device tool must carry .gpu (a call without carry removes it there).
# Usage (repository root, data under .gpu/data):  bash campaigns/part18.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
SESSION_BOUND_WINDOW_S=${SESSION_BOUND_WINDOW_S:-0}
export QUEUE_LANES=${QUEUE_LANES:-1}
queue_campaign
touch "$ROOT/.graph-ok" "$ROOT/.graph-tested"  # passed in part 15
touch "$ROOT/.interval-ok" "$ROOT/.interval-tested"  # passed in part 17, the interval kernels unchanged since
PROFILED="SEQREC_PROFILE_EPOCH=5 python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 \
  --datasets amazon-beauty --hidden 64 --models tim4rec --seeds 0 --amp bf16 --cuda-graph"
SET=$ROOT/$timing-amp-compile-cuda-graph-part18
SPEED_TESTS="tests/test_item_table.py tests/test_aligned_linear.py tests/test_train.py -k 'fused_adam or padded'"
GRAPH_TESTS="tests/test_train.py -k 'step_matches_eager or graph_that_builds'"
if [ -e "$ROOT/.timing-done" ]; then  # a former call of this session did it (campaigns/absorb.sh)
  lane 0 gpu0-queue1 "$(queue_loop "$QUEUE")"
else
  lane 0 gpu0-timing \
    "timeout 300 $PYTEST -m gpu $SPEED_TESTS && touch $ROOT/.speed18-ok" \
    "[ -e $ROOT/.speed18-ok ] && $PROFILED --compile --out $SET/accuracy" \
    "[ -e $ROOT/.speed18-ok ] && SEQREC_GRAPH_ADAM=foreach $PROFILED --compile --out $SET-foreach-adam/accuracy" \
    "[ -e $ROOT/.speed18-ok ] && SEQREC_SPREAD_PADDING_GRAD=0 $PROFILED --compile \
       --out $SET-row0-padding-grad/accuracy" \
    "[ -e $ROOT/.speed18-ok ] && SEQREC_ITEM_TABLE_PAD=1 $PROFILED --compile --out $SET-unpadded-table/accuracy" \
    "[ -e $ROOT/.speed18-ok ] && SEQREC_TIME_MLP_ELEMENTWISE=0 $PROFILED --compile --out $SET-linear-time-mlp/accuracy" \
    "[ -e $ROOT/.speed18-ok ] && SEQREC_LINEAR_PAD=1 $PROFILED --compile --out $SET-unpadded-in-proj/accuracy" \
    "[ -e $ROOT/.speed18-ok ] && $PROFILED --out $ROOT/$timing-amp-cuda-graph-part18/accuracy" \
    "timeout 600 $PYTEST -m gpu $GRAPH_TESTS > $ROOT/logs/graph-tests18.txt 2>&1" \
    "timeout 300 $PYTEST tests/test_kernels_conv.py > $ROOT/logs/conv-tests18.txt 2>&1; \
     python3 suites/bench_conv.py --out $ROOT/logs/bench-conv18 > $ROOT/logs/bench-conv18.txt 2>&1" \
    "python3 suites/bench_ssd.py --out $ROOT/logs/bench-ssd18 --dtype bfloat16 --variants triton,triton_bf16_product \
       > $ROOT/logs/bench-ssd18.txt 2>&1" \
    "touch $ROOT/.timing-done" \
    "$(queue_loop "$QUEUE")"
fi
queue_lanes
