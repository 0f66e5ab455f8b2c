#!/usr/bin/env bash
# One device call of a campaign that outlives a machine: where ROOT has no campaign (a fresh machine: the device tool
# hands one back after 30 s idle, lanes and all), start PART there, which resumes from campaigns/resume/ and
# .gpu/resume/ (campaigns/absorb.sh took the last call's packs there); where one runs (the machine stayed warm), leave
# it be. Then collect for SECONDS. The same command serves every call of a session:
#   device: bash campaigns/call.sh campaigns/partN.sh 540 $OUT      here, after each: bash campaigns/absorb.sh FILES_AT
# Usage (repository root): bash campaigns/call.sh PART SECONDS DEST [ROOT]
set -u
part=$1 secs=$2 dest=$3 root=${4:-/tmp/campaign}
if [ -e "$root/.started" ]; then
  echo "call: the campaign under $root goes on (a warm machine)"
else
  echo "call: no campaign under $root (a fresh machine): starting $part"
  bash "$part" "$root" || exit
fi
bash campaigns/collect.sh "$secs" "$dest" "$root"
