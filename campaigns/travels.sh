#!/usr/bin/env bash
# What a device call carries from this checkout: the tracked files and .gpu/ together, capped at 64 MiB. Prints
# "travels: tracked X MiB + .gpu Y MiB of 64 MiB; Z MiB left"; fails when Z is below 0.
# Usage (repository root): bash campaigns/travels.sh
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
carried=$(du -sb .gpu 2>/dev/null | cut -f1)
awk -v t="$tracked" -v c="${carried:-0}" 'BEGIN { m = 1048576; left = 64 - (t + c) / m
  printf "travels: tracked %.1f MiB + .gpu %.1f MiB of 64 MiB; %.1f MiB left\n", t / m, c / m, left; exit left < 0 }'
