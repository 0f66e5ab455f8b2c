# Part 11's kernel benches, shared by part11*.sh and part12.sh (source it after lanes.sh): KERNEL_BENCHES, lane
# commands timing the interval attention at the default chunk budget (B = 256 and 2048, 1 and 2 heads, fp32 and
# bf16, the naive form up to B = NAIVE_MAX_BATCH, default 256) and at 64 MiB chunks (into logs/attn-64mib), and the
# SSD mixer, each with its host time a call (and since part 12 its time replayed as a CUDA graph); into
# KERNEL_OUT, default the timing set's kernels/.
KERNEL_BENCHES=(
  "python3 suites/bench_interval_attention.py --out ${KERNEL_OUT:-$ROOT/$timing/kernels} --batches 256,2048 --heads 1,2 \
     --dtypes float32,bfloat16 --naive-max-batch ${NAIVE_MAX_BATCH:-256}"
  "SEQREC_INTERVAL_SPACE_MIB=64 python3 suites/bench_interval_attention.py --out $ROOT/logs/attn-64mib \
     --batches 256,2048 --heads 1 --dtypes float32 --naive-max-batch 0"
  "for d in float32 bfloat16; do python3 suites/bench_ssd.py --out ${KERNEL_OUT:-$ROOT/$timing/kernels} --dtype \$d \
     --variants triton,triton_split16; done > $ROOT/logs/bench-ssd.txt 2>&1"
)
