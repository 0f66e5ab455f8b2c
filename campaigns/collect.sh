#!/usr/bin/env bash
# Wait up to SECONDS while a background campaign runs (progress every minute), packing the result files it
# wrote and its logs into DEST/campaign.tgz every minute and at the end (the device tool brings back DEST; a call
# cut off by its time limit brings back the last pack), and the checkpoints of unfinished runs whose path matches
# $CKPT_MATCH (default: ml-1m's, whose runs outlast a session) into DEST/ckpt-1.tgz, ckpt-2.tgz, ..., as many
# checkpoints a file as fit CKPT_PACK_BYTES (default 15 MiB) uncompressed, at most 6 files: the tool brings back at
# most 8 files of 16 MiB (part 7's one 19.6 MB pack did not come back). An ml-1m checkpoint (weights, best weights,
# Adam's two moments, fp32) is 4-5 MiB at h64 and 11-14 MiB at h128, a quarter less when written at the best epoch
# so far (no copy of the best weights); at h256 (20-42 MiB) it cannot come back, so it is named and left out: those
# runs must finish within one session. Committed under
# campaigns/resume/ (or extracted into .gpu/resume/), they let those runs go on in the next campaign.
# Usage: bash campaigns/collect.sh SECONDS DEST [ROOT]
set -u
secs=$1 dest=$2 root=${3:-/tmp/campaign}
end=$((SECONDS + secs))
pack() {  # both packs, each written aside and renamed, so that the one there is always whole
  # only what this campaign wrote (the copied committed results are older than .started), no checkpoints or model
  # weights (they would make the pack too large to come back), no files still being written (atomic writes' *.tmp:
  # part 14's last pack met a 48 MB checkpoint's temporary file and did not come back); logs always. tar's status 1
  # (a file changed as it was read: a log) still leaves a whole archive
  (cd "$root" && find . -type f ! -name '*.ckpt' ! -name '*.weights' ! -name '*.tmp' ! -name .lanes \
      \( -newer .started -o -path './logs/*' \) -print0 |
    { tar czf "$dest/.campaign.tgz.part" --null -T -; [ $? -le 1 ]; }) && mv "$dest/.campaign.tgz.part" "$dest/campaign.tgz"
  local i=0 group
  while read -r group; do
    i=$((i + 1))
    (cd "$root" && echo "$group" | tr ' ' '\n' | grep -v '^$' | tar czf "$dest/.ckpt-$i.tgz.part" -T -) &&
      mv "$dest/.ckpt-$i.tgz.part" "$dest/ckpt-$i.tgz"
  done < <(cd "$root" && find . -type f -name '*.ckpt' -path "${CKPT_MATCH:-*ml-1m*}" -printf '%s %p\n' | sort -k2 |
           checkpoint_groups "${CKPT_PACK_BYTES:-15728640}")
  rm -f $(ls "$dest"/ckpt-*.tgz 2>/dev/null | awk -v n=$i -F'ckpt-|[.]tgz' '$2 > n')  # packs of runs since finished
}
checkpoint_groups() {  # "SIZE PATH" lines -> lines of paths, each line's sizes summing to at most $1, 6 lines at most
  awk -v limit="$1" '
    $1 > limit { print "collect: " $2 " (" $1 " bytes) is over the pack budget; not packed" > "/dev/stderr"; next }
    full { next }
    n == 0 || size + $1 > limit { if (n == 6) { full = 1; next } if (n) print line; n++; line = $2; size = $1; next }
    { line = line " " $2; size += $1 }
    END { if (n) print line }'
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
