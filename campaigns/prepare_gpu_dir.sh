#!/usr/bin/env bash
# Prepare .gpu/, the folder a campaign call carries to the GPU machine (the device tool sends the checkout only):
# the raw data (../shared/data/raw, or $SEQREC_DATA) under .gpu/data, and .gpu/COMMIT, "<commit> <source digest>",
# which lets lanes.sh record the commit in result files where the machine's .git lags. Keeps .gpu/ out of git
# (.git/info/exclude). Run from the repository root before each campaign call, after the last commit:
#   [GPU_DATASETS=ml-1m,amazon-beauty] bash campaigns/prepare_gpu_dir.sh [PYTHON]   # PYTHON imports seqrec
# GPU_DATASETS: only these datasets' folders (default every one): what travels is capped at 64 MiB, the tracked
# files and .gpu/ together, and what the data does not take is what checkpoints (campaigns/resume/, .gpu/resume/)
# may. The last line says how much is left.
set -eu
python=${1:-python3}
src=${SEQREC_DATA:-../shared/data/raw}
[ -d "$src" ] || { echo "prepare_gpu_dir: no raw data at $src (set SEQREC_DATA)" >&2; exit 1; }
mkdir -p .git/info .gpu
grep -qx '.gpu/' .git/info/exclude 2>/dev/null || echo '.gpu/' >> .git/info/exclude
datasets=${GPU_DATASETS:-}
for name in ${datasets//,/ }; do
  [ -d "$src/$name" ] || { echo "prepare_gpu_dir: GPU_DATASETS names $name, not a folder of $src" >&2; exit 1; }
done
rm -rf .gpu/data
mkdir .gpu/data
if [ -n "$datasets" ]; then
  for name in ${datasets//,/ }; do cp -r "$src/$name" .gpu/data/; done
else
  cp -r "$src"/. .gpu/data/
fi
chmod -R u+w .gpu/data
# markers of one-off work a call did (campaigns/absorb.sh: .timing-done, .kernels-ok, ...) hold for the commit
# they ran on: a new commit does that work again
rm -f .gpu/resume/.[!.]*
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "prepare_gpu_dir: uncommitted changes; the digest \
will not match the commit's code" >&2
echo "$(git rev-parse HEAD) $("$python" -c 'from seqrec.results import source_digest; print(source_digest())')" \
  > .gpu/COMMIT
echo "prepared .gpu/ ($(du -sh .gpu | cut -f1)): data from $src ($(ls .gpu/data | tr '\n' ' ')), COMMIT \
$(cut -c1-12 .gpu/COMMIT)"
# a committed pack whose every checkpoint .gpu/resume/ also holds (as newer copies) travels twice: say so
for pack in campaigns/resume/*.tgz; do
  [ -e "$pack" ] || continue
  held=yes
  while read -r member; do
    [ -e ".gpu/resume/${member#./}" ] || held=no
  done < <(tar -tzf "$pack" | grep -v '/$')
  [ $held = yes ] && echo "prepare_gpu_dir: .gpu/resume/ holds every checkpoint of $pack, which travels with \
every call too: git rm it (campaigns/resume/README.md)" >&2
done
bash campaigns/travels.sh || echo "prepare_gpu_dir: over the 64 MiB a call carries: carry fewer datasets" >&2
