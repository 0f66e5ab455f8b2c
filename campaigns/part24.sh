#!/usr/bin/env bash
# Part 24, on a host of any number of GPUs, after part 23 (results/full/README.md). Run it through campaigns/call.sh
# and absorb each call's packs (campaigns/absorb.sh) before the next: every run resumes (campaigns/resume/ packs,
# .gpu/resume/; a sweep skips a case whose result file is ok, so a later call's lanes pass over finished lines in
# seconds).
# Part 23 found fp16's seeds at bf16's test NDCG@10 seed by seed (0.03609 against 0.03614), not at eager fp32's
# (-1.21%, p = 0.026), while TF32 (fp16's 10-bit products) kept fp32's (-0.03%, p = 0.41). torch's CUDA dropout draws
# other masks for a 2-byte tensor than for a float32 one (models/dropout_masks.py), and six of TiM4Rec's ten dropouts
# take bf16 activations under autocast: is #4's 1.1% "gap" the other masks rather than the precision?
#   GPU 0: once a session (.tests24-done), the GPU test of that premise and of the switch (logs/dropout-masks-tests24.txt;
#     it passes: .masks-ok). Then, after .masks-ok, seeds 0-9 of #4's fast path (bf16, compiled, CUDA graph) with the
#     fp32 run's masks (SEQREC_DROPOUT_MASKS=fp32: <timing>-amp-compile-cuda-graph-fp32-masks-seeds), paired by seed
#     with eager fp32 (results/full-seeds-eager) and with part 22's defaults. Then, once (.sdpa24-done), SASRec's
#     attention by SDPA backend with and without TF32 (logs/bench-sdpa24*.txt).
#   GPU 1 (after GPU 0's lines on a host of one GPU), after .masks-ok: seeds 0-9 of eager fp32 with the amp run's masks
#     (SEQREC_DROPOUT_MASKS=amp: <timing>-amp-masks-seeds), paired with eager fp32 and with the fast path.
#   Then every GPU takes ml-1m's queue (campaigns/ml1m_queue.sh; QUEUE_LANES=1), the matched_sasrec checkpoint
#   first (56 epochs, best 50); ml-1m's h256 runs start in no lane (SESSION_BOUND_WINDOW_S=0).
# Every call to the device tool must carry .gpu.
# Usage (repository root, data under .gpu/data):  bash campaigns/part24.sh [ROOT]
source campaigns/lanes.sh
source campaigns/ml1m_queue.sh
one_offs_then_queue
fast_path_runs
OK="[ -e $ROOT/.masks-ok ] &&"
EAGER="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
  --models tim4rec"
GPU0=("[ -e $ROOT/.tests24-done ] || { timeout 300 $PYTEST tests/test_dropout_masks.py \
    > $ROOT/logs/dropout-masks-tests24.txt 2>&1 && ! grep -q skipped $ROOT/logs/dropout-masks-tests24.txt \
    && touch $ROOT/.masks-ok; touch $ROOT/.tests24-done; }")
GPU1=()
for s in ${SEEDS//,/ }; do
  GPU0+=("$OK SEQREC_DROPOUT_MASKS=fp32 $RUN --seeds $s --out $SET-fp32-masks-seeds/accuracy")
  GPU1+=("$OK SEQREC_DROPOUT_MASKS=amp $EAGER --seeds $s --out $ROOT/$timing-amp-masks-seeds/accuracy")
done
# then, once, SASRec's attention by SDPA backend at ml-1m's shape in IEEE fp32 and with TF32 products (the grid's ml-1m
# cells at h32, h128 and h256 train with --tf32; eager fp32's step spent 10.5 of 31 ms in the memory-efficient
# attention's backward, part 23's anatomy), after the bench's GPU tests (logs/bench-sdpa-tests24.txt)
GPU0+=("[ -e $ROOT/.sdpa24-done ] || { timeout 300 $PYTEST tests/test_bench_sdpa.py > $ROOT/logs/bench-sdpa-tests24.txt \
    2>&1 && python3 suites/bench_sdpa.py --out $ROOT/logs/bench-sdpa24 > $ROOT/logs/bench-sdpa24.txt 2>&1 && \
    python3 suites/bench_sdpa.py --tf32 --out $ROOT/logs/bench-sdpa24 > $ROOT/logs/bench-sdpa24-tf32.txt 2>&1; \
    touch $ROOT/.sdpa24-done; }")
split_one_offs gpu0-tests gpu1-seeds
