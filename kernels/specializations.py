"""Which kernel specializations a training run compiles, by batch size, without a GPU and without compiling.

Triton compiles a kernel once per specialization: the dtypes, the pointers' 16-byte alignment, each int argument's
being 1 or a multiple of 16 (unless the kernel lists it in ``do_not_specialize``), the constexprs. A batch size
that changes any of these costs one more compilation at its first launch: on an H200, part 12b
(results/full/README.md) measured 4.5 s of TiM4Rec's cold first epoch at the epoch's last, partial batch, whose
row count B*L was not a multiple of 16. ``step_specializations`` runs the training step and the evaluation's
forward on CPU at each batch size with every Triton launch recorded by Triton's own cache key
(``knobs.runtime.jit_cache_hook``) instead of compiled, so the keys of a partial batch can be compared with the
full batch's:

    python -m kernels.specializations --model tim4rec --config '{"hidden_size": 64}' --n-items 12101 \\
        --seq-len 50 --train-batches 2048,341 --eval-batches 2048,1883 [--amp bf16]

Needs Triton's NVIDIA backend importable (no GPU, no ptxas); not under TRITON_INTERPRET.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager

from kernels.prewarm import add_dry_step_arguments, dry_steps
from kernels.ptxas_report import compile_only


@contextmanager
def specializations(arch: int = 90, sms: int = 132):
    """Within: each launch of one of our Triton kernels appends ``"<kernel>:<Triton's cache key>"`` to the list
    it yields and compiles and runs nothing. Equal keys share one compiled kernel."""
    from triton import knobs

    seen: list[str] = []

    def record(*, key, fn, **_):
        seen.append(f"{fn.name}:{key}")
        return True  # skip the compilation (and so the launch)

    hook = knobs.runtime.jit_cache_hook
    knobs.runtime.jit_cache_hook = record
    try:
        with compile_only(arch, sms):
            yield seen
    finally:
        knobs.runtime.jit_cache_hook = hook


def step_specializations(model_name: str, config: dict, n_items: int, seq_len: int, train_batches: list[int],
                         eval_batches: list[int], amp: str | None = None, dataset: str | None = None,
                         arch: int = 90) -> dict[tuple[str, int], set[str]]:
    """{("train" | "eval", B): the specialization keys its launches need} over ``kernels.prewarm.dry_steps``."""
    out: dict[tuple[str, int], set[str]] = {}
    with specializations(arch) as seen:
        done = 0
        for phase, b in dry_steps(model_name, config, n_items, seq_len, train_batches, eval_batches, amp, dataset):
            out[(phase, b)] = set(seen[done:])
            done = len(seen)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dry_step_arguments(ap)  # the first of each batch list is the full batch
    ap.add_argument("--json", action="store_true", help="print every phase's keys as JSON")
    args = ap.parse_args(argv)
    sizes = [[int(b) for b in s.split(",") if b.strip()] for s in (args.train_batches, args.eval_batches)]
    keys = step_specializations(args.model, json.loads(args.config), args.n_items, args.seq_len, *sizes,
                                amp=args.amp, dataset=args.dataset)
    if args.json:
        print(json.dumps({f"{p} {b}": sorted(k) for (p, b), k in keys.items()}, indent=1))
        return 0
    for phase, batches in (("train", sizes[0]), ("eval", sizes[1])):
        if not batches:
            continue
        full = keys[(phase, batches[0])]
        print(f"{phase} {batches[0]}: {len(full)} specializations")
        for b in batches[1:]:
            extra = sorted(keys[(phase, b)] - full)
            print(f"{phase} {b}: {len(extra)} beyond {phase} {batches[0]}'s"
                  + "".join(f"\n    {k.split(':')[0]}" for k in extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
