"""Build the whole report: per set of result files, the figures, the tables and then the index."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from seqrec.report import cold_starts, efficiency, epoch_profiles, figures, kernels, paper_tables, profiles, timeline
from seqrec.report.collect import ablation_runs, collect_results, main_runs
from seqrec.report.index import Entry, SetSection, cards, render_index, source_line
from seqrec.report.tables import Table, render_latex, render_markdown

INDEX = "README.md"
MANIFEST = ".report-files"  # what the last build wrote; files it lists that this build does not write are removed


@dataclass
class ReportSummary:
    index: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    n_files: int = 0
    n_problems: int = 0


def set_dir(set_name: str) -> Path:
    """Where a set's figures and tables go, relative to the output directory."""
    if set_name == ".":
        return Path(".")
    return Path(*(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in set_name.split("/")))


def _rel(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _title(what: str, set_name: str, frame: pd.DataFrame) -> str:
    card_list = cards(frame)
    return f"{what}\nset {set_name}" + (f"; {', '.join(card_list)}" if card_list else "")


def build_report(results: str | Path, out: str | Path, results_label: str | None = None) -> ReportSummary:
    """Read ``results``, write figures, tables and ``README.md`` under ``out``. Raises ``ReportInputError``
    naming the file and field for a result file it cannot use."""
    results, out = Path(results), Path(out)
    label = results_label if results_label is not None else results.as_posix()
    data = collect_results(results)
    out.mkdir(parents=True, exist_ok=True)
    summary = ReportSummary(index=out / INDEX, n_files=data.n_files, n_problems=len(data.problems))
    sections = []
    for set_name in data.sets:
        runs = data.runs[data.runs["set"] == set_name]
        work = data.workloads[data.workloads["set"] == set_name]
        base = out / set_dir(set_name)
        used = pd.concat([runs, work], ignore_index=True) if not (runs.empty and work.empty) else runs
        section = SetSection(name=set_name, source=source_line(used) if not used.empty else "No ok result files.")
        set_readme = results / set_name / "README.md"
        if set_readme.is_file():  # how the set was produced (campaign notes), written beside its result files
            section.notes.append(f"How these results were produced: [{label}/{set_name}/README.md]"
                                 f"({Path(os.path.relpath(set_readme, out)).as_posix()}).")

        def add_figure(fig, name: str, title: str, frame: pd.DataFrame, base=base, section=section) -> None:
            if fig is None:
                return
            paths = figures.save_figure(fig, base / "figures" / name)
            summary.figures += paths
            section.figures.append(Entry(title, [_rel(p, out) for p in paths], source_line(frame)))

        def add_tables(tables: list[Table], name: str, title: str, intro: list[str], frame: pd.DataFrame,
                       base=base, section=section, set_name=set_name) -> None:
            if not tables:
                return
            heading = f"{title} — set {set_name}"
            md = _write(base / "tables" / f"{name}.md", render_markdown(tables, heading, intro))
            tex = _write(base / "tables" / f"{name}.tex", render_latex(tables, heading, intro))
            summary.tables += [md, tex]
            section.tables.append(Entry(title, [_rel(md, out), _rel(tex, out)], source_line(frame)))

        main, abl = main_runs(runs), ablation_runs(runs)
        add_figure(figures.accuracy_vs_hidden(runs, _title("Test accuracy vs hidden size", set_name, main)),
                   "accuracy-vs-hidden", "Accuracy vs hidden size", main)
        for (kind, phase), (_, _, label_y) in figures.WORKLOAD_QUANTITIES.items():
            frame = work[(work["kind"] == kind) & (work["phase"] == phase)] if not work.empty else work
            devices = sorted(set(frame["device_name"])) if not frame.empty else []
            for device in devices:
                sub = frame[frame["device_name"] == device]
                timers = sorted(set(sub["timer"]) - {""})
                timer = " (CPU timings)" if "cpu_perf_counter" in timers else ""
                suffix = "" if len(devices) == 1 else "-" + re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
                what = f"{label_y[0].upper()}{label_y[1:]} vs sequence length{timer}"
                add_figure(figures.workload_vs_seq_len(sub, kind, phase, _title(what, set_name, sub)),
                           f"{kind}-{phase.replace('_', '-')}{suffix}", what + (f" — {device}" if suffix else ""),
                           sub)
        add_figure(figures.accuracy_vs_time(runs, _title("Test NDCG@10 vs training time", set_name, main)),
                   "accuracy-vs-time", "Accuracy vs training time (Pareto front)", main)
        add_figure(figures.ablation_figure(runs, _title("Ablation: test NDCG@10", set_name, abl)),
                   "ablation", "Ablation", abl)
        add_tables(paper_tables.accuracy_tables(runs, set_name), "accuracy", "Accuracy",
                   [paper_tables.ACCURACY_NOTE], main)
        add_tables(efficiency.train_efficiency_tables(runs, set_name), "efficiency-train",
                   "Training efficiency", [efficiency.TRAIN_NOTE], main)
        add_tables(efficiency.workload_efficiency_tables(work, set_name), "efficiency-workload",
                   "Latency and memory", [efficiency.WORKLOAD_NOTE], work)
        add_tables(paper_tables.ablation_tables(runs, set_name), "ablation", "Ablation",
                   [paper_tables.ABLATION_NOTE], abl)
        add_tables(paper_tables.length_tables(runs, set_name), "ablation-max-len",
                   "Ablation at other max_len", [paper_tables.LENGTH_NOTE], abl)
        kern = data.kernels[data.kernels["set"] == set_name]
        add_tables(kernels.kernel_tables(kern, set_name), "kernels", "Kernels", [kernels.NOTE],
                   kern.drop_duplicates("file"))  # one row per implementation; the source counts files
        prof = data.profiles[data.profiles["set"] == set_name]
        add_figure(profiles.profile_figure(prof, _title("Training step by kernel category", set_name, prof)),
                   "profile", "Training step by kernel category", prof)
        add_tables(profiles.profile_tables(prof, set_name), "profile", "Training step by kernel category",
                   [profiles.NOTE], prof)
        timed = runs[runs["step_timeline"].map(bool)] if not runs.empty else runs
        add_figure(timeline.step_figure(timed, _title("Step times of the first epochs", set_name, timed)),
                   "step-times", "Step times of the first epochs", timed)
        add_tables(timeline.step_tables(timed, set_name), "step-times", "Step times of the first epochs",
                   [timeline.STEP_NOTE], timed)
        profiled = runs[runs["gpu_profiles"].map(bool)] if not runs.empty else runs
        add_tables(timeline.profile_tables(profiled, set_name), "gpu-profile", "GPU time of a profiled epoch",
                   [timeline.PROFILE_NOTE], profiled)
        sections.append(section)
    for every_set in (_across_sets_section, _cold_starts_section):
        section = every_set(data.runs, out, summary)
        if section is not None:
            sections.append(section)
    n_kernel_files = data.kernels["file"].nunique()
    counts = {"files": data.n_files,
              "used": len(data.runs) + len(data.workloads) + n_kernel_files + len(data.profiles),
              "problems": len(data.problems),
              "unused": len(data.unused)}
    _write(summary.index, render_index(label, sections, data.problems, counts, data.superseded))
    _replace_manifest(out, [summary.index, *summary.figures, *summary.tables])
    return summary


ACROSS_SETS_DIR = "across-sets"
COLD_STARTS_DIR = "cold-starts"


def _across_sets_section(runs: pd.DataFrame, out: Path, summary: ReportSummary) -> SetSection | None:
    """The profiled epochs of every set side by side (``seqrec/report/epoch_profiles.py``), under
    ``out/across-sets/``; None where no run has a profiled epoch with kernel categories."""
    used = runs[runs["gpu_profiles"].map(epoch_profiles.has_categories)] if not runs.empty else runs
    title = "Profiled epochs across sets"
    return _every_set_section(ACROSS_SETS_DIR, "Across sets: profiled epochs", title, "epoch-profiles", used,
                              epoch_profiles.across_tables(used),
                              lambda: epoch_profiles.across_figure(used, title + ": GPU ms a step by kernel category"),
                              epoch_profiles.NOTE, out, summary)


def _cold_starts_section(runs: pd.DataFrame, out: Path, summary: ReportSummary) -> SetSection | None:
    """The cold starts of every set side by side (``seqrec/report/cold_starts.py``), under ``out/cold-starts/``;
    None where no run recorded where its first epoch went."""
    used = runs[runs["cold_start"].map(cold_starts.has_cold_start)] if not runs.empty else runs
    title = "Cold starts across sets"
    return _every_set_section(COLD_STARTS_DIR, "Across sets: cold starts", title, "cold-starts", used,
                              cold_starts.cold_tables(used),
                              lambda: cold_starts.cold_figure(used, title + ": where the first epoch went"),
                              cold_starts.NOTE, out, summary)


def _every_set_section(name: str, heading: str, title: str, stem: str, used: pd.DataFrame, tables: list,
                       draw: Callable[[], Any], note: str, out: Path, summary: ReportSummary) -> SetSection | None:
    """A section of runs from every set: one figure (``draw()``) and ``tables``, as
    ``out/name/{figures,tables}/stem.*``; None without tables."""
    if not tables:
        return None
    section = SetSection(name=name, source=source_line(used), heading=heading)
    base = out / name
    paths = figures.save_figure(draw(), base / "figures" / stem)
    summary.figures += paths
    section.figures.append(Entry(title, [_rel(p, out) for p in paths], source_line(used)))
    md = _write(base / "tables" / f"{stem}.md", render_markdown(tables, f"{title} — every set", [note]))
    tex = _write(base / "tables" / f"{stem}.tex", render_latex(tables, f"{title} — every set", [note]))
    summary.tables += [md, tex]
    section.tables.append(Entry(title, [_rel(md, out), _rel(tex, out)], source_line(used)))
    return section


def _replace_manifest(out: Path, written: list[Path]) -> None:
    """Remove the files an earlier build wrote that this one did not (a set or figure that went away), then
    record this build's files. Only paths listed in the manifest, inside ``out``, are ever removed."""
    manifest = out / MANIFEST
    new = sorted({_rel(p, out) for p in written})
    old = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    root = out.resolve()
    for rel in sorted(set(old) - set(new)):
        path = (out / rel).resolve()
        if rel and root in path.parents and path.is_file():
            path.unlink()
    _write(manifest, "".join(f"{rel}\n" for rel in new))
