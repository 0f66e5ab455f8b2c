#!/usr/bin/env bash
# Wait up to SECONDS while a background campaign runs (progress every minute), packing the result files it
# wrote and its logs into DEST/campaign.tgz every minute and at the end (the device tool brings back DEST; a call
# cut off by its time limit brings back the last pack), and the checkpoints of unfinished runs whose path matches
# $CKPT_MATCH (default: ml-1m's, whose runs outlast a session) into DEST/ckpt-1.tgz, ckpt-2.tgz, ..., three
# checkpoints a file (an ml-1m h64 checkpoint packs to about 5 MB; the tool brings back at most 8 files of 16 MiB:
# part 7's one 19.6 MB pack did not come back), at most 6 files. Extracted into .gpu/resume/ before the next
# campaign, they let those runs go on where they stopped.
# Usage: bash campaigns/collect.sh SECONDS DEST [ROOT]
set -u
secs=$1 dest=$2 root=${3:-/tmp/campaign}
end=$((SECONDS + secs))
pack() {  # both packs, each written aside and renamed, so that the one there is always whole
  # only what this campaign wrote (the copied committed results are older than .started), no checkpoints or model
  # weights (they would make the pack too large to come back); logs always
  (cd "$root" && find . -type f ! -name '*.ckpt' ! -name '*.weights' ! -name .lanes \
      \( -newer .started -o -path './logs/*' \) -print0 |
    tar czf "$dest/.campaign.tgz.part" --null -T -) && mv "$dest/.campaign.tgz.part" "$dest/campaign.tgz"
  local i=0 group
  while read -r group; do
    i=$((i + 1))
    (cd "$root" && echo "$group" | tr ' ' '\n' | grep -v '^$' | tar czf "$dest/.ckpt-$i.tgz.part" -T -) &&
      mv "$dest/.ckpt-$i.tgz.part" "$dest/ckpt-$i.tgz"
  done < <(cd "$root" && find . -type f -name '*.ckpt' -path "${CKPT_MATCH:-*ml-1m*}" | sort | head -18 | paste -d' ' - - -)
  rm -f $(ls "$dest"/ckpt-*.tgz 2>/dev/null | awk -v n=$i -F'ckpt-|[.]tgz' '$2 > n')  # packs of runs since finished
}
lanes_running() {  # whether a lane's shell (its pid in $root/.lanes, lanes.sh) still runs
  local pid
  while read -r pid; do kill -0 "$pid" 2>/dev/null && return 0; done < <(cat "$root/.lanes" 2>/dev/null)
  return 1
}
[ -d "$root" ] || { echo "collect: no campaign under $root (a fresh machine?)" >&2; exit 1; }
while :; do
  n=$(find "$root" -name '*.json' -path '*/full*' 2>/dev/null | wc -l)
  echo "--- $(date -u +%T) result files: $n; lanes running: $(lanes_running && echo yes || echo no)"
  for f in "$root"/logs/*.log; do [ -f "$f" ] && echo "  $(basename "$f"): $(grep -E '^\[|passed|failed|skipped|^===' "$f" | tail -1)"; done
  [ $SECONDS -ge $end ] && break
  lanes_running || break
  pack
  sleep $(( end - SECONDS < 60 ? end - SECONDS : 60 ))
done
nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
pack
ls -la "$dest"
