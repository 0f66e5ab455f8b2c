#!/usr/bin/env bash
# Prepare .gpu/, the folder a campaign call carries to the GPU machine (the device tool sends the checkout only):
# the raw data (../shared/data/raw, or $SEQREC_DATA) under .gpu/data, and .gpu/COMMIT, "<commit> <source digest>",
# which lets lanes.sh record the commit in result files where the machine's .git lags. Keeps .gpu/ out of git
# (.git/info/exclude). Run from the repository root before each campaign call, after the last commit:
#   bash campaigns/prepare_gpu_dir.sh [PYTHON]        # PYTHON: one that imports seqrec (default python3)
set -eu
python=${1:-python3}
src=${SEQREC_DATA:-../shared/data/raw}
[ -d "$src" ] || { echo "prepare_gpu_dir: no raw data at $src (set SEQREC_DATA)" >&2; exit 1; }
mkdir -p .git/info .gpu
grep -qx '.gpu/' .git/info/exclude 2>/dev/null || echo '.gpu/' >> .git/info/exclude
if [ ! -d .gpu/data ]; then
  cp -r "$src" .gpu/data
  chmod -R u+w .gpu/data
fi
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "prepare_gpu_dir: uncommitted changes; the digest \
will not match the commit's code" >&2
echo "$(git rev-parse HEAD) $("$python" -c 'from seqrec.results import source_digest; print(source_digest())')" \
  > .gpu/COMMIT
echo "prepared .gpu/ ($(du -sh .gpu | cut -f1)): data from $src, COMMIT $(cut -c1-12 .gpu/COMMIT)"
