#!/usr/bin/env bash
# Take one device call's packs (campaigns/collect.sh: campaign.tgz, ckpt-N.tgz) into .gpu/resume/, so that the next
# call resumes from them even on a fresh machine: the device tool hands a machine back after 30 s idle, and with it
# the campaign's lanes (part 15 lost its machine twice between calls). campaigns/lanes.sh copies .gpu/resume/ into a
# new campaign root; campaigns/call.sh starts the part again where no campaign runs.
# Taken: ok result files (a failed one is left out, so its run is tried again), the checkpoints of runs that have no
# ok result yet, and the markers a part leaves in its root (.timing-done, .kernels-ok, ...: one-off work and GPU
# tests already done on this commit). Left out: logs (read them from the call's own folder), the root's bookkeeping
# (.started, .lanes, the queue), and result files the checkout already holds, byte for byte. Prints what travels and
# fails when .gpu/ and the tracked files pass the 64 MiB a call carries.
# Usage (repository root): bash campaigns/absorb.sh FILES_DIR [DEST (default .gpu/resume)]
set -euo pipefail
src=$1 dest=${2:-.gpu/resume}
[ -f "$src/campaign.tgz" ] || { echo "absorb: no campaign.tgz in $src" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar xzf "$src/campaign.tgz" -C "$tmp"
for pack in "$src"/ckpt-*.tgz; do [ -f "$pack" ] && tar xzf "$pack" -C "$tmp"; done
mkdir -p "$dest"
n_ok=0 n_ckpt=0
while IFS= read -r -d '' f; do  # ok result files, in the root's layout
  grep -qs '"status": "ok"' "$tmp/$f" || continue
  mkdir -p "$dest/$(dirname "$f")" && cp "$tmp/$f" "$dest/$f"
  n_ok=$((n_ok + 1))
done < <(cd "$tmp" && find . -name '*.json' -path './full*' -print0)
for f in "$tmp"/.*-ok "$tmp"/.*-tested "$tmp"/.*-done; do  # not .gpu1-done: GPU 1's one-offs of this part, not the next's
  [ -f "$f" ] && [ "$(basename "$f")" != .gpu1-done ] && cp "$f" "$dest/"
done
while IFS= read -r -d '' f; do  # checkpoints
  mkdir -p "$dest/$(dirname "$f")" && cp "$tmp/$f" "$dest/$f"
done < <(cd "$tmp" && find . -name '*.ckpt' -print0)
while IFS= read -r -d '' f; do  # a finished run's checkpoint (this call's or an earlier one's) is stale
  result=${f%.ckpt}
  if grep -qs '"status": "ok"' "$dest/$result" || grep -qs '"status": "ok"' "results/${result#./}"; then
    rm -f "$dest/$f"
  else
    n_ckpt=$((n_ckpt + 1))
  fi
done < <(cd "$dest" && find . -name '*.ckpt' -print0)
while IFS= read -r -d '' f; do  # a result the checkout holds as it is (committed): lanes.sh copies results/full*/
  # into the root anyway, so a copy here would travel twice (113 such files, 2.8 MB, by session 31)
  if cmp -s "$dest/$f" "results/${f#./}"; then rm -f "$dest/$f"; fi
done < <(cd "$dest" && find . -name '*.json' -print0)
find "$dest" -mindepth 1 -type d -empty -delete
echo "absorb: $n_ok ok result files; $dest holds $n_ckpt checkpoints of unfinished runs"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  bash campaigns/travels.sh || { echo "absorb: over the 64 MiB a call carries: drop checkpoints from $dest" >&2; exit 1; }
fi
