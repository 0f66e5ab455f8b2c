#!/usr/bin/env bash
# Part 10b, on 2 GPUs, after part 10 (results/full/README.md "Part 10"): two diagnostics, each lane on its own GPU.
#   GPU 0: the SSD kernels' fwd+bwd at B = 256, L = 200 took 869 us at this commit against 540 at 67bed1d (H200):
#     bench_ssd at 67bed1d, c0d0e47 (bf16 tiles), b15c46e (backward sweep reordered) and the head, fp32 and bf16;
#     then campaigns/prewarm_diff.py (which kernels a prewarmed step still compiles, and how they differ).
#   GPU 1: the chunked interval attention took 3.85 ms at B = 256 against part 8's 1.47 (H200): the head at
#     INTERVAL_SPACE_BYTES 64 MiB (default), 256 MiB and 1 GiB, and a3a6525^ (before the chunking), B = 256 and
#     2048, one head, fp32 and bf16, each with a kernel profile.
#   PART=attn: the interval attention only, split over both GPUs (DTYPES, default float32,bfloat16).
# Usage (repository root, old trees under .gpu/): timeout 520 bash campaigns/part10b.sh ROOT
set -u
R=${1:-/tmp/p10b}; mkdir -p "$R/logs"
HEAD_COMMIT=$(cut -d' ' -f1 .gpu/COMMIT)
ssd() {  # tree commit
  for d in float32 bfloat16; do
    (cd "$1" && SEQREC_GIT_COMMIT=$2 PYTHONPATH=. python3 suites/bench_ssd.py --out "$R/ssd-$(basename "$1")" \
      --dtype $d --variants triton)
  done
}
attn() {  # tree commit bytes name
  (cd "$1" && SEQREC_GIT_COMMIT=$2 PYTHONPATH=. python3 -c "
import runpy, sys
sys.path.insert(0, 'suites')
import kernels.interval_attention.fused as f
if sys.argv[1] != '-': f.INTERVAL_SPACE_BYTES = int(sys.argv[1])
sys.argv = ['bench_interval_attention.py', *sys.argv[2:]]
runpy.run_path('suites/bench_interval_attention.py', run_name='__main__')" "$3" --out "$R/attn-$4" --batches 256,2048 \
    --heads 1 --dtypes ${DTYPES:-float32,bfloat16} --naive-max-batch 0 --profile 3)
}
if [ "${PART:-}" = attn ]; then
  (export CUDA_VISIBLE_DEVICES=0
   attn .gpu/old-a3a6525p 524e425425bac007fe4318cf10d6a60f9d759b4e - before-chunking
   attn . "$HEAD_COMMIT" - head-64mib) > "$R/logs/gpu0-attn.log" 2>&1 &
  (export CUDA_VISIBLE_DEVICES=1
   attn . "$HEAD_COMMIT" $((256 * 2**20)) head-256mib
   attn . "$HEAD_COMMIT" $((2**30)) head-1gib) > "$R/logs/gpu1-attn.log" 2>&1 &
  wait; exit
fi
(
  export CUDA_VISIBLE_DEVICES=0
  ssd .gpu/old-67bed1d 67bed1db2a429690f98a7a49705592b3312f72d5
  ssd .gpu/old-c0d0e47 c0d0e473d158ee0c167ebbfdf112a2ca3ecacd14
  ssd .gpu/old-b15c46e b15c46e73a1e6b765f1b1ef3c54a91fbb58a6204
  ssd . "$HEAD_COMMIT"
  python3 campaigns/prewarm_diff.py "$R"
) > "$R/logs/gpu0.log" 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  attn .gpu/old-a3a6525p 524e425425bac007fe4318cf10d6a60f9d759b4e - before-chunking
  attn . "$HEAD_COMMIT" - head-64mib
  attn . "$HEAD_COMMIT" $((256 * 2**20)) head-256mib
  attn . "$HEAD_COMMIT" $((2**30)) head-1gib
) > "$R/logs/gpu1.log" 2>&1 &
wait
