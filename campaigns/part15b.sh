#!/usr/bin/env bash
# Part 15b: the queue alone on every GPU, after part 15's GPU tests passed on the new kernel defaults (SSD stages,
# selective scan backward warps, interval attention chunks; results/full/logs/part15-gpu0-timing.log) and its benches
# ran. Part 15's machine went back between calls, so its lanes ended; this resumes them from .gpu/resume.
# Usage (repository root, data under .gpu/data):  bash campaigns/part15b.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
SESSION_BOUND_WINDOW_S=${SESSION_BOUND_WINDOW_S:-0}
export QUEUE_LANES=${QUEUE_LANES:-1}
queue_campaign
touch "$ROOT/.graph-ok" "$ROOT/.graph-tested" "$ROOT/.interval-ok" "$ROOT/.interval-tested" \
  "$ROOT/.kernels-ok" "$ROOT/.kernels-tested" "$ROOT/.timing-done"  # passed in part 15
lane 0 gpu0-queue1 "$(queue_loop "$QUEUE")"
queue_lanes
