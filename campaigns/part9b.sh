#!/usr/bin/env bash
# Part 9b: the last minutes of a session whose part 9 broke off (a test's own bug stopped the queue; the machine
# was then released). One thing per GPU, results packed by collect.sh:
#   GPU 0: the naive interval attention at B = 2048, 1 head, fp32, timed over 2 calls (issue #5's last baseline);
#   GPU 1: ml-1m TiM4Rec h64 seed 1 from its checkpoint; GPU 3: TiSASRec seed 0 from its checkpoint;
#   GPU 2: TiM4Rec's compiled bf16 step (B = 2048, L = 50) without the persistent-reduction workaround and at part
#          8's commit (.gpu/old-a1f1603): on one card against part 9's cold profile of this commit.
# Usage (repository root, data under .gpu/data):  bash campaigns/part9b.sh [ROOT]
source campaigns/lanes.sh
ACC="$SUITE suites/test_accuracy.py --datasets ml-1m --hidden 64"
ANATOMY="anatomy --model tim4rec --batch 2048 --hidden 64 --device cuda --backend auto --profile 20 --seq-len 50 \
  --compile --amp bf16"
OLD=a1f1603f9c1a5027dddba6da29fd4f863e37af64
PROFILE=$ROOT/$timing/profile
lane 0 gpu0-naive "python3 suites/bench_interval_attention.py --out $ROOT/$timing/kernels --batches 2048 --heads 1 \
  --dtypes float32 --naive-max-batch 2048 --slow-steps 2"
lane 1 gpu1-ml1m "$ACC --seeds 1 --models tim4rec"
lane 2 gpu2-anatomy \
  "python3 -c 'import sys, seqrec.train as t; t.INDUCTOR_WORKAROUNDS.clear(); from seqrec.cli import main; \
     sys.exit(main(sys.argv[1:]))' $ANATOMY --out $PROFILE/tim4rec-b2048-l50-h64-compiled-bf16-persistent.json \
     > $ROOT/logs/anatomy-l50-compiled-bf16-persistent.txt 2>&1" \
  "(cd .gpu/old-a1f1603 && SEQREC_GIT_COMMIT=$OLD PYTHONPATH=. python3 -m seqrec $ANATOMY \
     --out $PROFILE/tim4rec-b2048-l50-h64-compiled-bf16-a1f1603.json) > $ROOT/logs/anatomy-l50-compiled-bf16-a1f1603.txt 2>&1"
lane 3 gpu3-ml1m "$ACC --seeds 0 --models tisasrec"
echo "part 9b lanes started under $ROOT"
