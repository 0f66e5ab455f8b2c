#!/usr/bin/env bash
# Wait up to SECONDS while a background campaign runs (progress every minute), packing the result files it
# wrote and its logs into DEST/campaign.tgz every minute and at the end (the device tool brings back DEST; a call
# cut off by its time limit brings back the last pack), and the checkpoints of unfinished runs whose path matches
# $CKPT_MATCH (default: ml-1m's, whose runs outlast a session) into DEST/ckpt.tgz (keep it small: the tool brings
# back files of limited size; every unfinished run's, 60 MB in part 6, did not come back). Extracted into
# .gpu/resume/ before the next campaign, they let those runs go on where they stopped.
# Usage: bash campaigns/collect.sh SECONDS DEST [ROOT]
set -u
secs=$1 dest=$2 root=${3:-/tmp/campaign}
end=$((SECONDS + secs))
pack() {  # both packs, each written aside and renamed, so that the one there is always whole
  # only what this campaign wrote (the copied committed results are older than .started), no checkpoints or model
  # weights (they would make the pack too large to come back); logs always
  (cd "$root" && find . -type f ! -name '*.ckpt' ! -name '*.weights' \( -newer .started -o -path './logs/*' \) -print0 |
    tar czf "$dest/.campaign.tgz.part" --null -T -) && mv "$dest/.campaign.tgz.part" "$dest/campaign.tgz"
  (cd "$root" && find . -type f -name '*.ckpt' -path "${CKPT_MATCH:-*ml-1m*}" -print0 |
    tar czf "$dest/.ckpt.tgz.part" --null -T -) && mv "$dest/.ckpt.tgz.part" "$dest/ckpt.tgz"
}
while :; do
  n=$(find "$root" -name '*.json' -path '*/full*' 2>/dev/null | wc -l)
  echo "--- $(date -u +%T) result files: $n; running lanes: $(pgrep -fc 'seqrec|pytest' || true)"
  for f in "$root"/logs/*.log; do [ -f "$f" ] && echo "  $(basename "$f"): $(grep -E '^\[|passed|failed|skipped|^===' "$f" | tail -1)"; done
  [ $SECONDS -ge $end ] && break
  pgrep -f 'seqrec|pytest' >/dev/null || break
  pack
  sleep $(( end - SECONDS < 60 ? end - SECONDS : 60 ))
done
nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
pack
ls -la "$dest"
