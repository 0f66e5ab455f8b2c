# Shared by part10.sh, part11*.sh, part12*.sh, part13*.sh and part14.sh (source it after lanes.sh). queue_campaign
# sets what their lanes use (ngpu; QUEUE, written here once; GRAPH and TIS; COLD, every cache empty; PYTEST);
# queue_lanes starts the queue lanes that follow GPU 0's own. write_ml1m_queue FILE writes the queue of runs the
# campaign's lanes share, once (an existing FILE is kept: a resumed campaign goes on with what is left of it). First
# the runs a checkpoint of an earlier campaign holds (campaigns/resume/, unpacked into ROOT by lanes.sh), so that each
# goes on where it stopped; then, in this order: TiSASRec amazon-beauty h64 seeds 0-2, eager and with the CUDA graph;
# ml-1m TiSASRec seed 0; the grid's runs on the cheaper datasets, amazon-sports and ml-100k (1-5 minutes each, against
# ml-1m's 10-30); ml-1m h64 seeds 1 and 2 of the five models (#8); the ablation's eager fp32 ml-1m variants at seed 0
# (#9, without the reference row, `-k 'not full-'`: the grid's TiM4Rec run); TiM4Rec ml-1m h64 seeds 0-2 on the fast
# path and the ablation's variants on it over seeds 0-2 (FAST_SET); ml-1m's grid at h32 and h128; the ablation's
# h16 backbones; last the ablation's rows taken from the grid. A grid run or ml-1m ablation variant whose result file in
# ROOT is ok gets no line. ml-1m's h256 runs go to FILE.session (see queue_lanes).
# From part 26 on (before any of their runs) ml-1m's grid at h32, h128 and h256, the ablation's h16 backbones and the
# ablation's ml-1m variants train on #4's fast path (FAST: bf16, compiled, CUDA graph, the fp32 run's dropout masks):
# part 25's TiM4Rec ml-1m h64 seed 0 on it tracked eager fp32's training loss to the fourth digit at every epoch, 2.8x
# faster an epoch (results/full-amp-compile-cuda-graph-ml1m-seeds/). The ablation's variants go to that set (FAST_SET)
# over seeds 0-2, beside its TiM4Rec runs (their reference rows); its eager fp32 seed 0 in full/ stays one seed.
# Uses SUITE (lanes.sh), and TIS and GRAPH: the prefix of a TiSASRec line (its GPU tests passed) and the flag
# TiSASRec's runs take (expanded when the line runs).
MODELS="sasrec mamba4rec tisasrec ssd4rec tim4rec"
FAST="--amp bf16 --compile --cuda-graph"
FAST_SET=full-amp-compile-cuda-graph-ml1m-seeds

acc_line() {  # acc_line DATASET HIDDEN SEED MODEL [FLAG]: the accuracy suite's line for one grid run (FLAG, e.g.
  # --tf32, after its options), none if it is done
  grep -qs '"status": "ok"' "$ROOT/full/accuracy/$4-$1-h$2-s$3.json" && return
  local pre="" post="${5:+ $5}"
  [ "$4" = tisasrec ] && pre="$TIS " post="$post $GRAPH"
  # SASRec's TF32 cells take SDPA's math kernel (models/sdpa_backend.py): the memory-efficient one PyTorch picks
  # does not use TF32; part 24 timed math 1.6x (h64) and 2.1x (h256) faster at ml-1m's shape
  [ "$4" = sasrec ] && [ "${5:-}" = --tf32 ] && pre="SEQREC_SDPA_BACKEND=math "
  echo "$pre$SUITE suites/test_accuracy.py --datasets $1 --hidden $2 --seeds $3 --models $4$post"
}

tisasrec_beauty_done() {  # tisasrec_beauty_done SET: whether ROOT's SET holds TiSASRec amazon-beauty h64 seeds 0-2, ok
  local s
  for s in 0 1 2; do grep -qs '"status": "ok"' "$ROOT/$1/accuracy/tisasrec-amazon-beauty-h64-s$s.json" || return 1; done
}

abl_line() {  # abl_line SEED VARIANT [SET [FLAGS]]: the ablation suite's ml-1m line for one variant and seed into SET
  # (default full; FLAGS, e.g. $FAST, after its options), the reference row left out; none if its result file in ROOT
  # is ok: a pytest start and ml-1m's loading to pass over a finished line took 10-13 s each (part 22: 2 minutes of a
  # fresh machine's queue)
  local f set=${3:-full}
  for f in "$ROOT/$set"/ablation/"$2"-ml-1m-h*-s"$1".json; do
    grep -qs '"status": "ok"' "$f" && return
  done
  local pre="" post="${4:+ $4}"
  [ "$2" = matched_tisasrec ] && pre="$TIS " post="$post $GRAPH"
  echo "${pre}SEQREC_ABLATION_VARIANTS=$2 ${SUITE%/full}/$set suites/test_ablation.py --datasets ml-1m --seeds $1 \
-k 'not full-'$post"
}

# the sweep of TiM4Rec ml-1m h64 seeds 0-2 on the fast path into FAST_SET: the reference rows of its ablation
FAST_TIM4REC="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets ml-1m --hidden 64 \
--models tim4rec $FAST --seeds 0,1,2 --out $ROOT/$FAST_SET/accuracy"

fast_tim4rec_line() {  # FAST_TIM4REC, none if all three of its runs are ok
  local s
  for s in 0 1 2; do
    grep -qs '"status": "ok"' "$ROOT/$FAST_SET/accuracy/tim4rec-ml-1m-h64-s$s.json" || { echo "$FAST_TIM4REC"; return; }
  done
}

checkpointed_first() {  # checkpointed_first FILE: FILE's lines with a grid or ablation run that ROOT holds a
  # checkpoint of first
  local keys=$1.keys ck name
  : > "$keys"
  for ck in "$ROOT"/full/accuracy/*.json.ckpt; do
    name=$(basename "$ck")
    [[ $name =~ ^([a-z0-9]+)-(.+)-h([0-9]+)-s([0-9]+)\.json\.ckpt$ ]] || continue  # model-dataset-hH-sS
    local r=("${BASH_REMATCH[@]}")
    echo "--datasets ${r[2]} --hidden ${r[3]} --seeds ${r[4]} --models ${r[1]}" >> "$keys"
  done
  for ck in "$ROOT"/full*/ablation/*-ml-1m-*.json.ckpt; do  # full/ and FAST_SET's
    name=$(basename "$ck")
    [[ $name =~ ^(.+)-ml-1m-h([0-9]+)-s([0-9]+)\.json\.ckpt$ ]] || continue  # variant-ml-1m-hH-sS
    echo "SEQREC_ABLATION_VARIANTS=${BASH_REMATCH[1]} ${SUITE%/full}/$(basename "$(dirname "$(dirname "$ck")")") \
suites/test_ablation.py --datasets ml-1m --seeds ${BASH_REMATCH[3]} " >> "$keys"
  done
  { grep -F -f "$keys" "$1"; grep -v -F -f "$keys" "$1"; } > "$1.sorted" || true
  mv "$1.sorted" "$1"
  rm -f "$keys"
}

write_ml1m_queue() {
  local QUEUE=$1
  [ -e "$QUEUE" ] && return
  local ABL="$SUITE suites/test_ablation.py --datasets ml-1m"
  local s m v h ds BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
    --models tisasrec --seeds 0,1,2"
  {
    tisasrec_beauty_done full-seeds-eager || echo "$TIS $BEAUTY --out $ROOT/full-seeds-eager/accuracy"
    tisasrec_beauty_done full-seeds-cuda-graph || echo "$TIS $BEAUTY --cuda-graph --out $ROOT/full-seeds-cuda-graph/accuracy"
    acc_line ml-1m 64 0 tisasrec
    for ds in amazon-sports ml-100k; do for h in 32 64 128 256; do for s in 0 1 2; do for m in $MODELS; do
      acc_line $ds $h $s $m
    done; done; done; done
    for s in 1 2; do for m in $MODELS; do acc_line ml-1m 64 $s $m; done; done
    local VARIANTS="no_time_path no_ffn time_residual_point layers_1 layers_3 time_feature_log_gap \
time_feature_user_norm_gap time_feature_none time_dt_init_neutral official official_time_mlp matched_sasrec \
matched_tisasrec"
    # the ablation's eager fp32 ml-1m seed 0 (part 26: only matched_tisasrec's, resuming, was left)
    for v in $VARIANTS; do abl_line 0 $v; done
    # from part 26 on: the ablation's ml-1m variants on the fast path over seeds 0-2, with their reference rows
    fast_tim4rec_line
    for s in 0 1 2; do for v in $VARIANTS; do abl_line $s $v $FAST_SET "$FAST"; done; done
    for h in 32 128; do for s in 0 1 2; do for m in tim4rec ssd4rec mamba4rec sasrec tisasrec; do
      acc_line ml-1m $h $s $m "$FAST"
    done; done; done
    for s in 0 1 2; do echo "SEQREC_ABLATION_VARIANTS=full,backbone_ssd,backbone_ssm,backbone_attention $ABL --seeds $s \
      --hidden 16 $FAST"; done
    # last: the rows the ablation takes from the grid's runs (recorded, not trained, once those exist; a run is
    # reused only at the line's precision: h64 eager fp32, h32 and h128 the fast path)
    for s in 0 1 2; do
      echo "SEQREC_ABLATION_VARIANTS=full,backbone_ssd,backbone_ssm,backbone_attention $ABL --seeds $s --hidden 64"
      echo "SEQREC_ABLATION_VARIANTS=full,backbone_ssd,backbone_ssm,backbone_attention $ABL --seeds $s --hidden 32,128 \
$FAST"
    done
  } > "$QUEUE"
  checkpointed_first "$QUEUE"
  # ml-1m's h256 runs: their checkpoints (27-42 MiB) cannot travel to the next session, so each must finish within
  # the session it starts in; queue_lanes starts them only early in a campaign (SESSION_BOUND_WINDOW_S). Quickest
  # first (part 25's epoch: SASRec 13.5 s, SSD4Rec 17.7, TiM4Rec 18.8, Mamba4Rec 24.4, TiSASRec 26.1): on a host of two
  # GPUs a session starts two, and the slow two models' runs come last
  for m in sasrec ssd4rec tim4rec mamba4rec tisasrec; do for s in 0 1 2; do acc_line ml-1m 256 $s $m "$FAST"; done; done \
    > "$QUEUE.session"
}

one_offs_then_queue() {  # the set-up of parts 18b on: their one-off lines (split_one_offs) before ml-1m's queue,
  # one queue lane a GPU (QUEUE_LANES=1), GPU 1's waiting for GPU 1's one-offs (GPU1_QUEUE_GATE), no h256 run started
  # (SESSION_BOUND_WINDOW_S=0), and the GPU tests and timing of earlier parts taken as done (their markers)
  SESSION_BOUND_WINDOW_S=0
  export QUEUE_LANES=1
  GPU1_QUEUE_GATE="while [ ! -e $ROOT/.gpu1-done ]; do sleep 5; done"
  queue_campaign
  touch "$ROOT/.graph-ok" "$ROOT/.graph-tested" "$ROOT/.interval-ok" "$ROOT/.interval-tested" "$ROOT/.timing-done"
}

h256_then_queue() {  # the set-up of parts 27 on: one_offs_then_queue, each GPU's first lane taking one of ml-1m's
  # h256 runs (QUEUE.session) while the campaign is younger than SESSION_BOUND_WINDOW_S (300 s: a run that starts at
  # a session's start), GPU 0's in its own lane (GPU0), then the queue; fast_path_runs's names. The part then sets
  # GPU1 (GPU 1's one-offs) and calls split_one_offs gpu0-h256-then-queue gpu1-seeds.
  one_offs_then_queue
  SESSION_BOUND_WINDOW_S=300  # one_offs_then_queue's 0 kept every h256 line out of the lanes
  fast_path_runs
  GPU0=("$(queue_loop "$QUEUE.session" $SESSION_BOUND_WINDOW_S)")
}

fast_path_runs() {  # #4's run (TiM4Rec amazon-beauty h64, bf16, compiled, CUDA graph), as parts 19 on use it: RUN
  # (add --seeds, --out), PROFILED (seed 0, profiled at epoch 5), COLD_TIMED (seed 0, every cache empty, its first
  # epoch's steps and compile time recorded: SEQREC_STEP_TIMES=1; add --out; after queue_campaign, which sets COLD),
  # SET (the sets' common prefix), SEEDS (0-9)
  RUN="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
    --models tim4rec --amp bf16 --cuda-graph --compile"
  PROFILED="SEQREC_PROFILE_EPOCH=5 $RUN --seeds 0"
  COLD_TIMED="SEQREC_STEP_TIMES=1 $COLD $RUN --seeds 0"
  SET=$ROOT/$timing-amp-compile-cuda-graph
  SEEDS=0,1,2,3,4,5,6,7,8,9
}

queue_campaign() {  # the parts' common set-up; GRAPH and TIS are expanded when a queue line runs
  ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  QUEUE=$ROOT/queue.txt
  GRAPH=${GRAPH:-"\$([ -e $ROOT/.graph-ok ] && echo --cuda-graph)"}  # a part may set its own first
  # a TiSASRec line waits for its tests and runs only when they passed; it keeps capturable foreach Adam in the
  # CUDA graph (SEQREC_GRAPH_ADAM=foreach), as every graphed run of the campaign before 2026-11-28's b57c09e made
  # fused Adam the graph's default: the campaign's optimizer stays one implementation
  TIS="while [ ! -e $ROOT/.interval-tested ]; do sleep 5; done; [ -e $ROOT/.interval-ok ] && SEQREC_GRAPH_ADAM=foreach"
  write_ml1m_queue "$QUEUE"
  COLD='TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITON_CACHE_DIR=$(mktemp -d)'
  PYTEST="python3 -m pytest -q -p no:cacheprovider"
}

split_one_offs() {  # split_one_offs NAME0 NAME1: the one-off commands in the arrays GPU0 and GPU1, on GPUs 0 and 1
  # (lanes NAME0, NAME1; GPU 1's lane ends with $ROOT/.gpu1-done, which GPU1_QUEUE_GATE may wait for), or in turn on GPU 0
  # on a host of one GPU; GPU 0 goes on to the queue after them. Then queue_lanes.
  if [ "$ngpu" -ge 2 ]; then
    lane 0 "$1" "${GPU0[@]}" "$(queue_loop "$QUEUE")"
    lane 1 "$2" "${GPU1[@]}" "touch $ROOT/.gpu1-done"
  else
    lane 0 "$1" "${GPU0[@]}" "${GPU1[@]}" "$(queue_loop "$QUEUE")"
  fi
  queue_lanes
}

queue_lanes() {  # after GPU 0's own lane: with QUEUE_LANES (default 2) of 2 or more, a second queue lane on GPU 0
  # once $ROOT/.timing-done exists (GPU 0's lane touches it when its timed work is done); QUEUE_LANES queue lanes on
  # every other GPU; the first of them takes session-bound runs ($QUEUE.session) while the campaign is younger than
  # SESSION_BOUND_WINDOW_S (default 300: a session holds its machine about 28 minutes), then the shared queue.
  # QUEUE_LANES=1 where the queue is ml-1m's: two of its runs on one H200 took 27 s an epoch each, one alone 12-16 s.
  # LANE_GATE, where set: a command every queue lane runs first (a part whose kernels changed waits there for their
  # GPU tests, and ends the lane when they fail: `exit`); GPU1_QUEUE_GATE, where set: one GPU 1's queue lanes run
  # then (they wait for GPU 1's one-offs; part 27's GPUs 2 and 3 waited 2 minutes for them when all lanes did)
  [ "${QUEUE_LANES:-2}" -ge 2 ] && lane 0 gpu0-queue2 "while [ ! -e $ROOT/.timing-done ]; do sleep 5; done" \
    ${LANE_GATE:+"$LANE_GATE"} "$(queue_loop "$QUEUE")"
  local g k first gate
  for g in $(seq 1 $((ngpu - 1))); do
    gate=()
    [ "$g" = 1 ] && [ -n "${GPU1_QUEUE_GATE:-}" ] && gate=("$GPU1_QUEUE_GATE")
    for k in $(seq 1 "${QUEUE_LANES:-2}"); do
      first=()
      [ "$k" = 1 ] && first=("$(queue_loop "$QUEUE.session" "${SESSION_BOUND_WINDOW_S:-300}")")
      lane "$g" "gpu$g-queue$k" ${LANE_GATE:+"$LANE_GATE"} "${gate[@]}" "${first[@]}" "$(queue_loop "$QUEUE")"
    done
  done
  echo "campaign lanes started under $ROOT on $ngpu GPUs (logs: $ROOT/logs; queue: $QUEUE)"
}

prewarm_tests_once() {  # prewarm_tests_once N [ARGS...]: the line running the prewarm's and the early pool's GPU tests
  # once a session (ROOT/.testsN-done; their output to ROOT/logs/prewarm-testsN.txt), parts 28 on, and compile-ahead's
  # (parts 30 on: does the switch find the background process's cache, bf16 and graphed too); ARGS, where given,
  # are pytest's instead (part 31: compile-ahead's GPU cases alone, 7 minutes less than all three files'); after
  # queue_campaign
  local n=$1
  shift
  local args="${*:-tests/test_prewarm.py tests/test_inductor_pool.py tests/test_compile_ahead.py}"
  echo "[ -e $ROOT/.tests$n-done ] || { timeout 600 $PYTEST $args > $ROOT/logs/prewarm-tests$n.txt 2>&1; \
    touch $ROOT/.tests$n-done; }"
}
