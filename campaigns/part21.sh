#!/usr/bin/env bash
# Part 21, on a host of any number of GPUs, after part 20 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
# Where does bf16 lose its 1% of NDCG@10 (TiM4Rec amazon-beauty h64, 10 paired seeds, p = 0.029)? Not in the loss's
# scores (part 20). SEQREC_FP32_MODULES (models/fp32_islands.py) keeps chosen modules in fp32 under bf16.
#   GPU 0: once a session (.tests21-done), the GPU test of the fp32 islands in the compiled one graph
#     (tests/test_compile_custom_ops.py -k islands, on CUDA) and the anatomy again (logs/anatomy21.*: its kernel
#     sources now name the file behind part 20's 12 aten sums a step, called on the autograd thread from no code of
#     ours; the inductor code it compiled goes to ROOT.inductor21, beside ROOT, and its sums with their context to
#     logs/anatomy21-inductor-sums.txt); the conv backward that walks each sequence in time (kernels/conv/fused.py
#     BWD_SEQUENTIAL, off): its GPU test (logs/conv-seq-tests21.txt) and the conv bench with it as a provider
#     (suites/bench_conv.py: triton_seq_bwd; logs/bench-conv21*). Then part 20's missing pair: seed 2 with fp32 scores
#     (<timing>-amp-compile-cuda-graph-fp32-scores-seeds; it failed on a checkout synced under it).
#   GPU 1 (after GPU 0's lines on a host of one GPU): #4's run unprofiled (TiM4Rec, amazon-beauty, h64, bf16,
#     compiled, CUDA graph) over seeds 0-9 with the SSD mixers in fp32 (`layers.*.mixer`: in_proj, conv, SSD, gated
#     norm, out_proj; set <timing>-amp-compile-cuda-graph-fp32-mixer-seeds), with the FFNs in fp32 (`layers.*.ffn`:
#     -fp32-ffn-seeds), with the time path in fp32 (`time_layers.*,time_norm`: -fp32-time-seeds), a seed's three runs
#     one after another (a call that ends early leaves whole triples). Each pairs by seed with part 20's bf16 seeds
#     (results/full-amp-compile-cuda-graph-part20-seeds) and part 8's eager fp32 ones (results/full-seeds-eager: the
#     same dropout masks, compile_rng eager).
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the ablation first (part 20's
#   matched_sasrec checkpoint first of all); ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part21.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
GPU0=("[ -e $ROOT/.tests21-done ] || { timeout 420 $PYTEST tests/test_compile_custom_ops.py -k islands \
    > $ROOT/logs/islands-tests21.txt 2>&1; timeout 300 $PYTEST tests/test_kernels_conv.py -k walking \
    > $ROOT/logs/conv-seq-tests21.txt 2>&1; TORCHINDUCTOR_CACHE_DIR=$ROOT.inductor21 python3 -m seqrec anatomy \
    --model tim4rec --batch 2048 --seq-len 50 --hidden 64 --device cuda --backend auto --profile 10 --compile \
    --amp bf16 --out $ROOT/logs/anatomy21.json > $ROOT/logs/anatomy21.txt 2>&1; \
    grep -rn -E -B4 -A1 '[^l]\.sum\(|aten\.sum' $ROOT.inductor21 --include='*.py' > $ROOT/logs/anatomy21-inductor-sums.txt; \
    python3 suites/bench_conv.py --out $ROOT/logs/bench-conv21 > $ROOT/logs/bench-conv21.txt 2>&1; \
    touch $ROOT/.tests21-done; }"
  "SEQREC_FP32_SCORES=1 $RUN --seeds 2 --out $SET-fp32-scores-seeds/accuracy")
GPU1=()
for s in ${SEEDS//,/ }; do  # seed by seed, the three together
  GPU1+=("SEQREC_FP32_MODULES='layers.*.mixer' $RUN --seeds $s --out $SET-fp32-mixer-seeds/accuracy"
    "SEQREC_FP32_MODULES='layers.*.ffn' $RUN --seeds $s --out $SET-fp32-ffn-seeds/accuracy"
    "SEQREC_FP32_MODULES='time_layers.*,time_norm' $RUN --seeds $s --out $SET-fp32-time-seeds/accuracy")
done
split_one_offs gpu0-tests gpu1-seeds
