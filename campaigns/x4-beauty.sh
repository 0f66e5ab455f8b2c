#!/usr/bin/env bash
# GPU campaign on one 4-GPU host, as four lanes in the background (setsid: they outlive the command that
# starts them, so a run is collected by later commands; see campaigns/collect.sh). Every lane writes result
# files under $ROOT (default /tmp/campaign) in the repository's results/ layout, and its log to $ROOT/logs.
#   lane 0: GPU kernel tests at full size, kernel benchmarks (+ mamba-ssm compiled from .whl/), latency and
#           memory suites (full profile), then the TiM4Rec ablation on amazon-beauty, seed 0 (components first)
#   lane 1: the five models on amazon-beauty h64 on the reference (pure PyTorch) path, seed 0; then the
#           accuracy suite on ml-100k at h32/128/256
#   lane 2/3: the accuracy suite (full profile, our kernels) on amazon-beauty: h64 first, then h32/128/256,
#           then ml-100k h64, then amazon-sports h64
# Later entries of a lane run only if time is left; every suite and sweep resumes from its result files.
# Usage (repository root, data under $SEQREC_DATA):  bash campaigns/x4-beauty.sh [ROOT]
source campaigns/lanes.sh
BEAUTY="--datasets amazon-beauty"

lane 0 lane0-kernels \
  "timeout 300 python3 -m pytest -q -p no:cacheprovider tests/test_kernels_ssd.py tests/test_kernels_selective_scan.py tests/test_kernels_interval_attention.py tests/test_kernels_conv.py tests/test_models_ssm.py tests/test_models_attention.py" \
  "$SUITE suites/test_kernels.py --benchmark-json $ROOT/logs/bench-kernels.json" \
  "$SUITE suites/test_latency.py suites/test_memory.py --benchmark-json $ROOT/logs/bench-workloads.json" \
  "SEQREC_ABLATION_VARIANTS=full,no_time_path,time_dt_init_neutral,official,time_feature_log_gap,time_feature_none,time_residual_shared,time_residual_point,no_ffn,layers_1,layers_3 $SUITE suites/test_ablation.py $BEAUTY --seeds 0" \
  "SEQREC_ABLATION_VARIANTS=time_feature_user_norm_gap,time_mechanism,backbone $SUITE suites/test_ablation.py $BEAUTY --seeds 0"
lane 1 lane1-reference \
  "python3 -m seqrec sweep --models tim4rec,ssd4rec,sasrec,tisasrec,mamba4rec $BEAUTY --hidden 64 --seeds 0 --patience 10 --backend torch --device cuda --out $ROOT/full-reference/accuracy" \
  "$SUITE suites/test_accuracy.py --datasets ml-100k --hidden 32,128,256"
lane 2 lane2-accuracy \
  "$SUITE suites/test_accuracy.py $BEAUTY --hidden 64 --models tim4rec,ssd4rec,sasrec" \
  "$SUITE suites/test_accuracy.py $BEAUTY --hidden 32,128,256 --models tim4rec,ssd4rec,sasrec" \
  "$SUITE suites/test_accuracy.py --datasets ml-100k --hidden 64 --models tim4rec,ssd4rec,sasrec" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 64 --models tim4rec,ssd4rec,sasrec"
lane 3 lane3-accuracy \
  "$SUITE suites/test_accuracy.py $BEAUTY --hidden 64 --models mamba4rec,tisasrec" \
  "$SUITE suites/test_accuracy.py $BEAUTY --hidden 32,128,256 --models mamba4rec,tisasrec" \
  "$SUITE suites/test_accuracy.py --datasets ml-100k --hidden 64 --models mamba4rec,tisasrec" \
  "$SUITE suites/test_accuracy.py --datasets amazon-sports --hidden 64 --models mamba4rec,tisasrec"
echo "campaign lanes started under $ROOT (logs: $ROOT/logs)"
