"""Which Triton cache entries a prewarmed step still compiles itself, and how each differs from the prewarmed entry
of the same kernel (its JSON metadata and the TTIR function signature: the specialisation). A GPU diagnostic for
kernels.prewarm (tests/test_prewarm.py's test_a_prewarmed_step_compiles_nothing_itself failed on an H200).
Usage: python campaigns/prewarm_diff.py OUTDIR"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from kernels import prewarm  # noqa: E402
from tests.test_prewarm import STEP, TINY  # noqa: E402


def entries(cache: Path) -> dict[str, dict]:
    """cache key -> {name, meta (JSON metadata), sig (the TTIR's tt.func line)} for every compiled kernel."""
    out = {}
    for d in sorted(cache.iterdir()):
        metas = [p for p in d.glob("*.json") if not p.name.startswith("__grp__")]
        ttir = next(d.glob("*.ttir"), None)
        if not metas:
            continue
        meta = json.loads(metas[0].read_text())
        sig = ""
        if ttir is not None:
            sig = next((ln for ln in ttir.read_text().splitlines() if "tt.func" in ln), "")
            sig = re.sub(r"loc\(#loc\d*\)", "", sig)
        out[d.name] = {"name": meta.get("name", metas[0].stem), "meta": meta, "sig": sig}
    return out


def step(cache: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", STEP, json.dumps(TINY)], cwd=REPO, check=True, timeout=600,
                   env={**env, "TRITON_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)})


def main() -> None:
    out = Path(sys.argv[1])
    warm = Path(tempfile.mkdtemp()) / "warm"
    os.environ["TRITON_CACHE_DIR"] = str(warm)
    os.environ.pop("TRITON_INTERPRET", None)
    os.environ["SEQREC_PREWARM"] = "1"
    procs = prewarm.start("tim4rec", TINY, 30, 8, [3, 4], [4], None, torch.device("cuda"), processes=2)
    print("prewarm exit codes:", [p.wait(timeout=600) for p in procs])
    before = entries(warm)
    step(warm)
    after = entries(warm)
    new = {k: v for k, v in after.items() if k not in before}
    print(f"prewarmed entries {len(before)}, after the step {len(after)}, new {len(new)}")
    lines = []
    for key, e in sorted(new.items(), key=lambda kv: kv[1]["name"]):
        same = [v for v in before.values() if v["name"] == e["name"]]
        lines.append(f"== new {key} {e['name']}: {len(same)} prewarmed entries of that kernel")
        lines.append(f"   run sig: {e['sig'][:1500]}")
        for v in same[:3]:
            meta_diff = {k: (v['meta'].get(k), e['meta'].get(k)) for k in set(v["meta"]) | set(e["meta"])
                         if k != "hash" and v["meta"].get(k) != e["meta"].get(k)}
            lines.append(f"   meta differs (prewarm, run): {meta_diff}")
            lines.extend("   " + d for d in difflib.unified_diff([v["sig"]], [e["sig"]], lineterm="", n=0))
    text = "\n".join(lines)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prewarm-diff.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
