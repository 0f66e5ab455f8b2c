# Shared by the campaign scripts (source it from the repository root): ROOT (the first argument, default
# /tmp/campaign) holds result files in the repository's results/ layout and the logs; `lane GPU NAME CMD...`
# runs commands one after another on one GPU in the background (setsid: they outlive the command that started
# them), logging to $ROOT/logs/NAME.log, each lane's pid in $ROOT/.lanes (collect.sh waits while one runs). The
# committed results/full* sets are copied into $ROOT first, so suites and sweeps resume past what is already
# committed; campaigns/collect.sh packs only what is newer.
set -u
ROOT=${1:-/tmp/campaign}
mkdir -p "$ROOT/logs"
ROOT=$(cd "$ROOT" && pwd)  # absolute: the lanes run from a copy of the code (below)
for committed in results/full*/; do  # every committed GPU set, so that sweeps writing there resume past its runs
  set_name=$(basename "$committed"); [ -d "$ROOT/$set_name" ] || cp -r "results/$set_name" "$ROOT/$set_name"
done
# checkpoints of runs a former campaign left unfinished (its ckpt-N.tgz, see collect.sh), in the same layout: the
# committed packs (campaigns/resume/, what a session handed on), then .gpu/resume/ (this checkout's newer ones)
fresh=""
if [ ! -e "$ROOT/.started" ]; then
  fresh=1
  for pack in campaigns/resume/*.tgz; do [ -f "$pack" ] && tar xzf "$pack" -C "$ROOT"; done
  [ -d .gpu/resume ] && cp -r .gpu/resume/. "$ROOT/"
fi
[ -e "$ROOT/.started" ] || touch "$ROOT/.started"
# the data, copied out of the checkout once: the device tool syncs the checkout again at each call, and a call made
# without carry removes .gpu/ there (part 13b: every ml-100k and ml-1m run started after that call failed, looking
# for the recbole wheels instead); beside ROOT, not in it, so that collect.sh does not pack it
if [ -z "${SEQREC_DATA:-}" ]; then
  [ -d "$ROOT.data" ] || [ ! -d .gpu/data ] || cp -r .gpu/data "$ROOT.data"
  SEQREC_DATA=$ROOT.data
fi
export SEQREC_DATA PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 \
  OMP_NUM_THREADS=8 MPLBACKEND=Agg
# the commit this tree is, when .gpu/COMMIT names it ("<commit> <source_sha256>", written where git is current) and
# the code on disk still has that digest: result files then record it although the host's .git copy lags
if [ -f .gpu/COMMIT ] && read -r commit digest < .gpu/COMMIT && \
   [ "$(python3 -c 'from seqrec.results import source_digest; print(source_digest())' 2>/dev/null)" = "$digest" ]; then
  export SEQREC_GIT_COMMIT=$commit
fi
echo "declared commit: ${SEQREC_GIT_COMMIT:-none}" > "$ROOT/logs/commit.txt"
# the lanes run from a copy of the code taken when the campaign starts, beside ROOT: the device tool syncs the
# checkout again at each call on a warm machine, and a run starting during that sync found half a tree (part 20:
# "cannot import name 'prewarm' from 'kernels'"); a later call's code would also run under this commit's name
if [ "$(pwd -P)" != "$(cd "$ROOT.code" 2>/dev/null && pwd -P)" ]; then  # not sourced again from the copy
  if [ -n "$fresh" ] || [ ! -d "$ROOT.code" ]; then
    rm -rf "$ROOT.code" && mkdir -p "$ROOT.code"
    tar -cf - --exclude=./.git --exclude=./.gpu --exclude=./.venv . | tar -xf - -C "$ROOT.code"
  fi
  cd "$ROOT.code" || exit
fi
SUITE="python3 -m pytest -q -p no:cacheprovider --benchmark-only --profile full --results-dir $ROOT/full"
# timings (latency, memory, kernels) go to the set `full` on an H200, the card of its committed latency results,
# else to `full-<card>`: one card type per set; TSUITE is SUITE writing there
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
case "$card" in
  *H200*) timing=full ;;
  *) timing=full-$(echo "${card:-unknown}" | tr -cs 'A-Za-z0-9' '-' | tr 'A-Z' 'a-z' | sed 's/-$//') ;;
esac
echo "card: ${card:-none}; timing set: $timing" > "$ROOT/logs/card.txt"
TSUITE="python3 -m pytest -q -p no:cacheprovider --benchmark-only --profile full --results-dir $ROOT/$timing"

lane() {  # lane GPU NAME COMMANDS...: run the commands one after another on one GPU, logging each
  local gpu=$1 name=$2; shift 2
  setsid bash -c "echo \$\$ >> $ROOT/.lanes; export CUDA_VISIBLE_DEVICES=$gpu; for c in \"\$@\"; do \
    echo \"=== \$(date -u +%T) \$c\"; eval \"\$c\"; echo \"=== rc=\$? \$(date -u +%T)\"; done" "$name" "$@" \
    >"$ROOT/logs/$name.log" 2>&1 < /dev/null &
}

pop_line() {  # pop_line FILE: print FILE's first line and remove it, under a lock; fails when FILE is empty
  flock "$1.lock" bash -c '[ -s "$0" ] && head -n 1 "$0" && sed -i 1d "$0"' "$1"
}
export -f pop_line

queue_loop() {  # queue_loop FILE [SECONDS]: the command that pops FILE's lines (commands) one at a time and runs
  # them, logged as a lane's commands, until FILE is empty: lanes sharing FILE take its runs in order, each run once.
  # SECONDS: pop a line only while the campaign ($ROOT/.started) is younger than that (runs that must finish within
  # the session they start in)
  local young=""
  [ -n "${2:-}" ] && young="[ \$(( \$(date +%s) - \$(stat -c %Y $ROOT/.started) )) -lt $2 ] && "
  echo "while ${young}c=\$(pop_line $1); do echo \"=== \$(date -u +%T) \$c\"; eval \"\$c\"; \
echo \"=== rc=\$? \$(date -u +%T)\"; done"
}

