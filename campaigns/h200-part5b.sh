#!/usr/bin/env bash
# Part 5b on one H200, after part 5 (results/full/README.md): the SSD kernels' launch settings chosen by part 5's
# tuner (fp32 2 warps and 1 stage, bf16 1 warp, dB/dC per head) are the defaults now. One job at a time:
#   their GPU tests, with the compiled bf16 CUDA-graph step (its loss tolerance was widened after part 5);
#   the kernel suite's SSD case (fp32, tf32 off: the 3x target against mamba-ssm) and the same bench in bf16;
#   TiM4Rec on amazon-beauty h64 seed 0 with --amp bf16 --compile --cuda-graph (set
#   full-ssd-tuned-amp-compile-cuda-graph) and in fp32 eagerly (set full-ssd-tuned); then SSD4Rec the same.
# Training starts only after the SSD GPU tests pass.
# Usage (repository root, data under .gpu/data, mamba-ssm sdist under .whl/):  bash campaigns/h200-part5b.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets amazon-beauty --hidden 64 \
  --seeds 0"
GRAPH=tests/test_train.py::test_cuda_graph_step_matches_eager
OK="[ -e $ROOT/.ssd-ok ] &&"
lane 0 gpu0-part5b \
  "timeout 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_ssd.py -k 'not mamba_ssm' && \
     touch $ROOT/.ssd-ok; timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu \
     '$GRAPH[sasrec-bf16-True]' '$GRAPH[tim4rec-bf16-True]' '$GRAPH[tisasrec-bf16-True]'" \
  "$OK $TSUITE suites/test_kernels.py -k ssd --benchmark-json $ROOT/logs/bench-kernels-5b.json" \
  "$OK $BEAUTY --models tim4rec --amp bf16 --compile --cuda-graph --out $ROOT/full-ssd-tuned-amp-compile-cuda-graph/accuracy" \
  "$OK $BEAUTY --models tim4rec --out $ROOT/full-ssd-tuned/accuracy" \
  "$OK python3 suites/bench_ssd.py --out $ROOT/$timing/kernels --dtype bfloat16 --mamba-sdist .whl/mamba_ssm-2.3.2.post1.tar.gz" \
  "$OK $BEAUTY --models ssd4rec --amp bf16 --compile --cuda-graph --out $ROOT/full-ssd-tuned-amp-compile-cuda-graph/accuracy" \
  "$OK $BEAUTY --models ssd4rec --out $ROOT/full-ssd-tuned/accuracy"
echo "campaign lane started under $ROOT (logs: $ROOT/logs)"
