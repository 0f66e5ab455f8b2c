"""The GPU campaign scripts' mechanics on CPU (campaigns/lanes.sh and collect.sh): lanes run their commands
in order in the background, log each with its exit status, and the collector packs only what the campaign
wrote after it started (not the committed results it copied in to resume from) plus the logs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("setsid") is None,
                                reason="needs bash and setsid")


def campaign_repo(tmp_path: Path, *scripts: str) -> Path:
    """A repository folder holding ``campaigns/<script>`` for each script named (copied from this repository)."""
    work = tmp_path / "repo"
    (work / "campaigns").mkdir(parents=True)
    for script in scripts:
        shutil.copy(REPO / "campaigns" / script, work / "campaigns")
    return work


def stub_host_env(tmp_path: Path, gpus: int | None) -> dict[str, str]:
    """The environment of a stub GPU host: ``python3`` logs its arguments to ``tmp_path/calls.txt`` and runs nothing;
    ``nvidia-smi -L`` lists ``gpus`` H200s (None: no nvidia-smi stub)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\necho "python3 $*" >> {tmp_path}/calls.txt\n')
    if gpus is not None:
        listing = "".join(f'echo "GPU {g}: NVIDIA H200"\n' for g in range(gpus))
        (bin_dir / "nvidia-smi").write_text("#!/bin/sh\n" + listing)
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def wait_until(done, seconds: float) -> bool:
    """Poll ``done()`` until it holds or ``seconds`` pass (lanes run in the background: setsid); whether it held."""
    deadline = time.time() + seconds
    while time.time() < deadline and not done():
        time.sleep(0.2)
    return bool(done())


def test_lanes_run_in_order_log_status_and_collect_packs_only_new_files(tmp_path):
    work = campaign_repo(tmp_path, "lanes.sh", "collect.sh")
    committed = work / "results" / "full" / "accuracy"
    committed.mkdir(parents=True)
    (committed / "old.json").write_text("{}")
    root = tmp_path / "campaign"
    script = ('source campaigns/lanes.sh "$0"; '
              'lane 0 demo "echo first" "false" "echo {} > $ROOT/full/accuracy/new.json" '
              '"echo w > $ROOT/full/accuracy/new.json.weights"')
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60)
    log = root / "logs" / "demo.log"
    # the lane runs in the background (setsid): its log may not exist yet when lanes.sh returns
    wait_until(lambda: text_of(log).count("=== rc=") >= 4, 120)
    text = log.read_text()
    assert text.index("first") < text.index("=== rc=1") < text.rindex("=== rc=0")
    assert (root / "full" / "accuracy" / "old.json").exists()  # committed results copied in, to resume past
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["bash", "campaigns/collect.sh", "0", str(out), str(root)], cwd=work, check=True, timeout=60,
                   capture_output=True)
    with tarfile.open(out / "campaign.tgz") as tar:
        names = sorted(n.removeprefix("./") for n in tar.getnames() if not n.endswith("/") and n != ".")
    # no model weights or checkpoints: they made part 3's pack too large to come back
    assert names == ["full/accuracy/new.json", "logs/card.txt", "logs/commit.txt", "logs/demo.log"]


def test_collect_leaves_out_files_still_being_written(tmp_path):
    """A checkpoint's temporary file (seqrec.atomic: ``.<name>.<random>.tmp``) is neither a result nor whole: part
    14's last pack took one of 48 MB and did not come back."""
    root, out = tmp_path / "campaign", tmp_path / "out"
    acc = root / "full" / "accuracy"
    acc.mkdir(parents=True)
    out.mkdir()
    (root / ".started").touch()
    time.sleep(0.05)
    (acc / "sasrec-ml-100k-h64-s0.json").write_text("{}")
    (acc / ".sasrec-ml-1m-h256-s0.json.ckpt.b13hkmqw.tmp").write_bytes(b"x" * 1000)
    (acc / ".tim4rec-ml-1m-h64-s0.json.k2j3.tmp").write_text("{")
    subprocess.run(["bash", str(REPO / "campaigns" / "collect.sh"), "0", str(out), str(root)], check=True, timeout=60,
                   capture_output=True)
    with tarfile.open(out / "campaign.tgz") as tar:
        names = sorted(n.removeprefix("./") for n in tar.getnames() if not n.endswith("/") and n != ".")
    assert names == ["full/accuracy/sasrec-ml-100k-h64-s0.json"]
    assert not list(out.glob("ckpt-*.tgz"))


def test_queue_lanes_share_a_queue_running_each_command_once(tmp_path):
    work = campaign_repo(tmp_path, "lanes.sh")
    root = tmp_path / "campaign"
    root.mkdir()
    queue = root / "queue.txt"
    done = root / "done.txt"
    queue.write_text("".join(f"sleep 0.$((RANDOM % 3)); echo {i} >> {done}\n" for i in range(12)))
    script = 'source campaigns/lanes.sh "$0"; lane 0 q0 "$(queue_loop "$1")"; lane 1 q1 "$(queue_loop "$1")"'
    subprocess.run(["bash", "-c", script, str(root), str(queue)], cwd=work, check=True, timeout=60)
    wait_until(lambda: len(text_of(done).split()) >= 12, 120)
    time.sleep(1)  # a command run twice would show up by now
    assert sorted(int(x) for x in done.read_text().split()) == list(range(12))
    assert queue.read_text() == ""
    logs = [(root / "logs" / f"q{g}.log").read_text() for g in (0, 1)]
    runs = [[line for line in log.splitlines() if line.startswith("=== ") and "sleep 0." in line] for log in logs]
    assert all(runs) and sum(map(len, runs)) == 12  # both lanes took runs, each logged with its start


def test_collect_packs_checkpoints_to_a_size_budget_a_file_and_drops_stale_packs(tmp_path):
    root, out = tmp_path / "campaign", tmp_path / "out"
    acc = root / "full" / "accuracy"
    acc.mkdir(parents=True)
    out.mkdir()
    (root / ".started").touch()
    names = [f"{m}-ml-1m-h64-s1.json.ckpt" for m in ("mamba4rec", "sasrec", "ssd4rec", "tim4rec")]
    for n in names + ["tim4rec-amazon-sports-h64-s0.json.ckpt"]:  # not ml-1m: not packed by default
        (acc / n).write_bytes(b"x" * 100)
    (acc / "tisasrec-ml-1m-h256-s0.json.ckpt").write_bytes(b"x" * 300)  # over the budget alone
    (out / "ckpt-5.tgz").write_bytes(b"stale")  # from a minute when more runs were unfinished
    done = subprocess.run(["bash", str(REPO / "campaigns" / "collect.sh"), "0", str(out), str(root)], check=True,
                          timeout=60, capture_output=True, text=True, env={**os.environ, "CKPT_PACK_BYTES": "250"})
    packs = sorted(out.glob("ckpt-*.tgz"))
    assert [p.name for p in packs] == ["ckpt-1.tgz", "ckpt-2.tgz"]
    packed = []
    for pack in packs:
        with tarfile.open(pack) as tar:
            packed.append(sorted(Path(n).name for n in tar.getnames()))
    assert packed == [sorted(names)[:2], sorted(names)[2:]]  # two of 100 bytes fit 250, three do not
    assert "tisasrec-ml-1m-h256-s0.json.ckpt (300 bytes) is over the pack budget" in done.stderr


def test_campaign_scripts_parse():
    for script in sorted((REPO / "campaigns").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


def test_lanes_declare_the_commit_only_for_the_code_it_names(tmp_path):
    from seqrec.results import source_digest

    work = tmp_path / "repo"
    shutil.copytree(REPO / "campaigns", work / "campaigns")
    for d in ("seqrec", "models", "kernels", "suites"):
        shutil.copytree(REPO / d, work / d, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", work)
    (work / ".gpu").mkdir()
    show = 'source campaigns/lanes.sh "$0"; echo "commit=${SEQREC_GIT_COMMIT:-none}"'
    for digest, want in ((source_digest(work), "abc123"), ("0" * 64, "none")):
        (work / ".gpu" / "COMMIT").write_text(f"abc123 {digest}\n")
        out = subprocess.run(["bash", "-c", show, str(tmp_path / f"c{want}")], cwd=work, check=True, timeout=120,
                             capture_output=True, text=True).stdout
        assert f"commit={want}" in out


def test_queue_puts_checkpointed_runs_first_then_the_cheap_datasets_and_skips_finished_runs(tmp_path):
    work = campaign_repo(tmp_path, "lanes.sh", "ml1m_queue.sh")
    (work / "campaigns" / "resume").mkdir()
    committed = work / "results" / "full" / "accuracy"
    committed.mkdir(parents=True)
    (committed / "sasrec-amazon-sports-h32-s0.json").write_text('{"status": "ok"}')  # done: no line
    (committed / "ssd4rec-amazon-sports-h32-s0.json").write_text('{"status": "failed"}')  # failed: a line
    ablation = work / "results" / "full" / "ablation"
    ablation.mkdir(parents=True)
    (ablation / "layers_1-ml-1m-h64-s0.json").write_text('{"status": "ok"}')  # done: no line
    (ablation / "official-ml-1m-h64-s0.json").write_text('{"status": "failed"}')  # failed: a line
    eager = work / "results" / "full-seeds-eager" / "accuracy"
    eager.mkdir(parents=True)
    for seed in (0, 1, 2):  # TiSASRec's amazon-beauty eager seeds done: no line (its graphed ones are not)
        (eager / f"tisasrec-amazon-beauty-h64-s{seed}.json").write_text('{"status": "ok"}')
    fast_set = "full-amp-compile-cuda-graph-ml1m-seeds"
    fast = "--amp bf16 --compile --cuda-graph"
    (work / "results" / fast_set / "accuracy").mkdir(parents=True)  # part 25's seed 0 of its reference rows
    (work / "results" / fast_set / "accuracy" / "tim4rec-ml-1m-h64-s0.json").write_text('{"status": "ok"}')
    pack = tmp_path / "pack"
    for ckpt in ("full/accuracy/tisasrec-ml-1m-h128-s2.json.ckpt",  # from an earlier session
                 "full/ablation/matched_tisasrec-ml-1m-h68-s0.json.ckpt",  # eager fp32, as it started
                 f"{fast_set}/ablation/matched_sasrec-ml-1m-h68-s1.json.ckpt"):
        (pack / ckpt).parent.mkdir(parents=True, exist_ok=True)
        (pack / ckpt).write_bytes(b"x")
    with tarfile.open(work / "campaigns" / "resume" / "earlier.tgz", "w:gz") as tar:
        for folder in ("full", fast_set):
            tar.add(pack / folder, arcname=f"./{folder}")
    root = tmp_path / "campaign"
    script = 'source campaigns/lanes.sh "$0"; source campaigns/ml1m_queue.sh; queue_campaign'
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60,
                   env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})  # no nvidia-smi needed
    lines = (root / "queue.txt").read_text().splitlines()
    assert len(lines) == len(set(lines))
    # the checkpointed runs first, each on the line it started with
    assert "SEQREC_ABLATION_VARIANTS=matched_tisasrec " in lines[0] and f"--results-dir {root}/full " in lines[0]
    assert "--seeds 0 -k" in lines[0] and "--amp" not in lines[0]
    assert lines[1].startswith("SEQREC_ABLATION_VARIANTS=matched_sasrec ") and "--seeds 1 -k" in lines[1]
    assert f"--results-dir {root}/{fast_set} " in lines[1] and lines[1].endswith(fast)
    assert "--datasets ml-1m --hidden 128 --seeds 2 --models tisasrec " + fast in lines[2]
    ablations = [line.split("SEQREC_ABLATION_VARIANTS=", 1)[1] for line in lines if "-k 'not full-'" in line]
    fp32 = [a for a in ablations if f"--results-dir {root}/full " in a]
    on_fast = [a for a in ablations if f"--results-dir {root}/{fast_set} " in a]
    # the eager fp32 ablation keeps seed 0 only (what is left of it: all but layers_1, done; official failed)
    assert len(fp32) == 13 - 1 and all("--seeds 0 " in a and "--amp" not in a for a in fp32)
    assert any(a.startswith("official ") for a in fp32) and not any(a.startswith("layers_1 ") for a in fp32)
    # the fast path's ablation: every variant over seeds 0-2, into its own set
    assert len(on_fast) == 13 * 3 == len(ablations) - len(fp32) and all(fast in a for a in on_fast)
    assert sum(a.startswith("matched_sasrec ") and "--seeds 1 " in a for a in on_fast) == 1
    tis = [line for line in lines if "SEQREC_ABLATION_VARIANTS=matched_tisasrec" in line]
    assert len(tis) == 1 + 3 and all("SEQREC_GRAPH_ADAM=foreach SEQREC_ABLATION_VARIANTS=" in line for line in tis)
    # its reference rows: TiM4Rec ml-1m h64 seeds 0-2 on the fast path, one sweep (seed 0, done, skips itself)
    sweeps = [line for line in lines if "--models tim4rec" in line and "seqrec sweep" in line]
    assert sweeps == [f"python3 -m seqrec sweep --epochs 200 --patience 10 --device cuda --gpus 0 --datasets ml-1m "
                      f"--hidden 64 --models tim4rec {fast} --seeds 0,1,2 --out {root}/{fast_set}/accuracy"]
    assert lines.index(sweeps[0]) < min(lines.index(line) for line in lines if f"{root}/{fast_set} " in line
                                        and "--seeds 1 " not in line)
    beauty = [line for line in lines if "--datasets amazon-beauty" in line]
    assert len(beauty) == 1 and "full-seeds-cuda-graph/" in beauty[0]
    runs = [line.split("test_accuracy.py ", 1)[1] for line in lines if "test_accuracy.py" in line]
    assert runs[0].startswith("--datasets ml-1m --hidden 128 --seeds 2 --models tisasrec ")  # resumes first
    assert sum(r.startswith("--datasets ml-1m --hidden 128 --seeds 2 --models tisasrec") for r in runs) == 1
    assert "--datasets amazon-sports --hidden 32 --seeds 0 --models sasrec" not in runs
    assert "--datasets amazon-sports --hidden 32 --seeds 0 --models ssd4rec" in runs
    assert runs[1].startswith("--datasets ml-1m --hidden 64 --seeds 0 --models tisasrec ")  # part 10's order
    next_ml1m = next(i for i, r in enumerate(runs[2:], 2) if "ml-1m" in r)
    assert {r.split()[1] for r in runs[2:next_ml1m]} == {"amazon-sports", "ml-100k"}
    assert next_ml1m - 2 == 2 * 4 * 3 * 5 - 1  # both datasets' grids but the one finished run
    # ml-1m's h256 runs (checkpoints too large to travel between sessions) are queued apart, to start early
    assert not [r for r in runs if r.startswith("--datasets ml-1m --hidden 256 ")]
    session = (root / "queue.txt.session").read_text().splitlines()
    assert len(session) == 15 and all("--datasets ml-1m --hidden 256 " in line for line in session)
    assert [line.split("--models ")[1].split()[0] for line in session[::3]] == [  # quickest model first
        "sasrec", "ssd4rec", "tim4rec", "mamba4rec", "tisasrec"]
    assert [line.split("--seeds ")[1].split()[0] for line in session[:3]] == ["0", "1", "2"]
    # ml-1m's grid at h32, h128 and h256 trains on the fast path; every other grid run as before (eager fp32)
    on_fast_runs = [r for r in runs + session if fast in r]
    assert len(on_fast_runs) == 2 * 3 * 5 + 15
    assert all(re.search(r"--datasets ml-1m --hidden (32|128|256) ", r) for r in on_fast_runs)
    assert not any("--tf32" in line or "SEQREC_SDPA_BACKEND" in line for line in lines + session)
    # the h16 backbones on it too, and the rows taken from the grid at each hidden size's precision
    backbones = [line for line in lines if line.startswith("SEQREC_ABLATION_VARIANTS=full,backbone_ssd,")]
    assert len(backbones) == 3 * 3
    assert all(fast in line for line in backbones if re.search(r"--hidden (16|32,128)\b", line))
    assert sum("--hidden 64" in line and "--amp" not in line for line in backbones) == 3
    # every TiSASRec line keeps the campaign's capturable foreach Adam
    tisasrec = [line for line in lines + session if "tisasrec" in line]
    assert tisasrec and all("SEQREC_GRAPH_ADAM=foreach " in line for line in tisasrec)


def test_a_queue_with_a_window_is_taken_only_while_the_campaign_is_young(tmp_path):
    work = campaign_repo(tmp_path, "lanes.sh")
    root = tmp_path / "campaign"
    root.mkdir()
    for name in ("old", "young"):
        (root / f"{name}.txt").write_text("".join(f"echo {name}{i} >> {root}/ran.txt\n" for i in range(3)))
    script = ('source campaigns/lanes.sh "$0"; touch -d "10 minutes ago" $ROOT/.started; '
              'lane 0 a "$(queue_loop $ROOT/old.txt 300)" "$(queue_loop $ROOT/young.txt 3600)" "echo end >> '
              '$ROOT/ran.txt"')
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60)
    ran = root / "ran.txt"
    wait_until(lambda: "end" in text_of(ran), 60)
    assert ran.read_text().split() == ["young0", "young1", "young2", "end"]
    assert len((root / "old.txt").read_text().splitlines()) == 3  # left for a younger campaign


@pytest.mark.parametrize("lanes, expected", [("1", ["gpu1-queue1"]), ("2", ["gpu0-queue2", "gpu1-queue1",
                                                                              "gpu1-queue2"])])
def test_queue_lanes_start_as_many_lanes_a_gpu_as_asked(tmp_path, lanes, expected):
    """QUEUE_LANES=1 (ml-1m's queue: two of its runs on one H200 took twice as long each) starts no second lane on
    GPU 0 and one on each other GPU; the default, two."""
    work = campaign_repo(tmp_path, "lanes.sh", "ml1m_queue.sh")
    root = tmp_path / "campaign"
    root.mkdir()
    (root / "queue.txt").write_text("")
    (root / "queue.txt.session").write_text("")
    script = ('source campaigns/lanes.sh "$0"; source campaigns/ml1m_queue.sh; ngpu=2; QUEUE=$ROOT/queue.txt; '
              'touch $ROOT/.timing-done; queue_lanes')
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60,
                   env={**os.environ, "QUEUE_LANES": lanes})
    wait_until(lambda: len(list((root / "logs").glob("*.log"))) >= len(expected), 30)
    time.sleep(0.5)
    assert sorted(p.stem for p in (root / "logs").glob("*.log")) == expected


def test_queue_lanes_run_the_gate_first_and_end_where_it_exits(tmp_path):
    """LANE_GATE (part 15: wait for the changed kernels' GPU tests, exit where they failed) runs before any queue
    line; a gate that exits leaves the queue untouched."""
    work = campaign_repo(tmp_path, "lanes.sh", "ml1m_queue.sh")
    root = tmp_path / "campaign"
    root.mkdir()
    (root / "queue.txt").write_text(f"echo ran >> {root}/ran.txt\n")
    (root / "queue.txt.session").write_text("")
    script = ('source campaigns/lanes.sh "$0"; source campaigns/ml1m_queue.sh; ngpu=2; QUEUE=$ROOT/queue.txt; '
              'LANE_GATE="echo gate >> $ROOT/gate.txt; [ -e $ROOT/.ok ] || exit 1"; queue_lanes')
    env = {**os.environ, "QUEUE_LANES": "1"}
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60, env=env)
    wait_until(lambda: "gate" in text_of(root / "gate.txt"), 30)
    time.sleep(1)
    assert not (root / "ran.txt").exists() and (root / "queue.txt").read_text().strip()
    (root / ".ok").touch()
    (root / "logs" / "gpu1-queue1.log").unlink()
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60, env=env)
    wait_until(lambda: "ran" in text_of(root / "ran.txt"), 30)
    assert text_of(root / "gate.txt").split() == ["gate", "gate"] and (root / "queue.txt").read_text() == ""


def test_lanes_read_the_data_from_a_copy_that_outlives_the_checkouts_gpu_folder(tmp_path):
    # the device tool syncs the checkout at every call and removes .gpu/ when a call carries nothing (part 13b)
    work = campaign_repo(tmp_path, "lanes.sh")
    (work / ".gpu" / "data" / "ml-1m").mkdir(parents=True)
    (work / ".gpu" / "data" / "ml-1m" / "ratings.dat").write_text("1::2::5::978300760\n")
    root = tmp_path / "campaign"
    env = {k: v for k, v in os.environ.items() if k != "SEQREC_DATA"}
    script = ('source campaigns/lanes.sh "$0"; '
              'lane 0 data "rm -rf $1/.gpu; cat \\$SEQREC_DATA/ml-1m/ratings.dat > $ROOT/seen.txt"')
    subprocess.run(["bash", "-c", script, str(root), str(work)], cwd=work, check=True, timeout=60, env=env)
    log = root / "logs" / "data.log"
    wait_until(lambda: "=== rc=" in text_of(log), 60)
    assert "=== rc=0" in log.read_text()
    assert (root / "seen.txt").read_text() == "1::2::5::978300760\n"
    assert not (work / ".gpu").exists()
    assert not list(root.rglob("ratings.dat"))  # beside the campaign root, not packed with its results


def test_lanes_run_the_code_the_campaign_started_with_whatever_the_checkout_becomes(tmp_path):
    """The device tool syncs the checkout at each call on a warm machine: a run that started during the sync found
    half a tree (part 20), and one after it would run new code under the old commit's name. Lanes run from a copy
    taken at the campaign's start; a campaign started afresh takes a new copy."""
    work = campaign_repo(tmp_path, "lanes.sh")
    (work / "code.txt").write_text("v1\n")
    root = tmp_path / "campaign"
    go = tmp_path / "go"
    script = ('source campaigns/lanes.sh "$0"; '
              f'lane 0 code "while [ ! -e {go} ]; do sleep 0.1; done; '
              'cat code.txt > $ROOT/seen.txt; pwd > $ROOT/cwd.txt"')
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60)
    (work / "code.txt").write_text("v2\n")  # the next call's sync
    go.touch()
    assert wait_until(lambda: "=== rc=" in text_of(root / "logs" / "code.log"), 60)
    assert (root / "seen.txt").read_text() == "v1\n"
    assert (root / "cwd.txt").read_text().strip() == str(Path(f"{root}.code").resolve())
    assert not (Path(f"{root}.code") / ".gpu").exists()  # data and checkpoints are read from ROOT and ROOT.data
    shutil.rmtree(root)  # a new campaign (a fresh machine) takes the checkout as it is now
    subprocess.run(["bash", "-c", script, str(root)], cwd=work, check=True, timeout=60)
    assert wait_until(lambda: "=== rc=" in text_of(root / "logs" / "code.log"), 60)
    assert (root / "seen.txt").read_text() == "v2\n"


def test_prepare_gpu_dir_carries_the_datasets_named_and_says_what_room_is_left(tmp_path):
    work = campaign_repo(tmp_path, "prepare_gpu_dir.sh", "travels.sh")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "x"], check=True)
    src = tmp_path / "raw"
    for name in ("ml-1m", "amazon-beauty"):
        (src / name).mkdir(parents=True)
        (src / name / "data.txt").write_bytes(b"x" * 1000)
    fake_python = tmp_path / "py"
    fake_python.write_text("#!/bin/sh\necho digest\n")
    fake_python.chmod(0o755)

    def prepare(**env):
        return subprocess.run(["bash", "campaigns/prepare_gpu_dir.sh", str(fake_python)], cwd=work, timeout=60,
                              capture_output=True, text=True, env={**os.environ, "SEQREC_DATA": str(src), **env})

    resume = work / ".gpu" / "resume"
    resume.mkdir(parents=True)
    (resume / ".timing-done").touch()
    (resume / "run.json.ckpt").touch()
    done = prepare()
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (work / ".gpu" / "data").iterdir()) == ["amazon-beauty", "ml-1m"]
    assert [p.name for p in resume.iterdir()] == ["run.json.ckpt"]  # the last commit's markers are gone
    assert (work / ".gpu" / "COMMIT").read_text().split()[1] == "digest"
    assert re.search(r"travels: tracked [\d.]+ MiB \+ \.gpu [\d.]+ MiB of 64 MiB; [\d.]+ MiB left", done.stdout)
    assert "travels with every call too" not in done.stderr
    _pack(work / "campaigns" / "resume" / "part9-ml1m.tgz", {"full/ablation/a.json.ckpt": "old"})
    assert "travels with every call too" not in prepare().stderr  # .gpu/resume/ lacks the pack's checkpoint
    (resume / "full" / "ablation").mkdir(parents=True)
    (resume / "full" / "ablation" / "a.json.ckpt").write_text("newer")
    twice = prepare()
    assert twice.returncode == 0 and "holds every checkpoint of campaigns/resume/part9-ml1m.tgz" in twice.stderr
    assert prepare(GPU_DATASETS="ml-1m").returncode == 0
    assert [p.name for p in (work / ".gpu" / "data").iterdir()] == ["ml-1m"]
    refused = prepare(GPU_DATASETS="ml-1m,nope")
    assert refused.returncode == 1 and "GPU_DATASETS names nope" in refused.stderr
    assert [p.name for p in (work / ".gpu" / "data").iterdir()] == ["ml-1m"]  # refused before anything was removed


def _pack(path: Path, files: dict[str, str]) -> None:
    """A gzipped tar at ``path`` holding ``files`` (name -> text) under ``./``, as campaigns/collect.sh packs."""
    src = path.parent / (path.name + ".src")
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname=".")
    shutil.rmtree(src)


def test_absorb_takes_ok_results_unfinished_checkpoints_and_markers_into_resume(tmp_path):
    """Part 15 lost its machine twice between calls; what the last call brought back must seed the next one."""
    work = campaign_repo(tmp_path, "absorb.sh", "travels.sh")
    files = tmp_path / "call"
    files.mkdir()
    ok, failed = '{"status": "ok"}', '{"status": "failed"}'
    _pack(files / "campaign.tgz", {
        "full/accuracy/sasrec-ml-1m-h64-s2.json": ok, "full/accuracy/ssd4rec-ml-1m-h64-s0.json": failed,
        "full/accuracy/mamba4rec-ml-1m-h64-s2.json": ok,  # its checkpoint came with an earlier call
        "full-amp-compile/accuracy/tim4rec-amazon-beauty-h64-s0.json": ok, ".timing-done": "", ".kernels-ok": "",
        ".gpu1-done": "",  # GPU 1's one-offs of this part: the next part's GPU 1 queue lane must wait for its own
        ".started": "", ".lanes": "1\n", "queue.txt": "x\n", "logs/gpu0-timing.log": "log\n"})
    _pack(files / "ckpt-1.tgz", {"full/accuracy/sasrec-ml-1m-h64-s2.json.ckpt": "stale",
                                 "full/accuracy/tisasrec-ml-1m-h64-s2.json.ckpt": "new",
                                 "full/accuracy/ssd4rec-ml-1m-h64-s0.json.ckpt": "retry"})
    resume = work / ".gpu" / "resume"
    (resume / "full" / "accuracy").mkdir(parents=True)
    (resume / "full" / "accuracy" / "mamba4rec-ml-1m-h64-s2.json.ckpt").write_text("an earlier call's")
    committed = work / "results" / "full-amp-compile" / "accuracy"  # as committed: lanes.sh copies it into the root
    committed.mkdir(parents=True)
    (committed / "tim4rec-amazon-beauty-h64-s0.json").write_text(ok)
    (committed / "tim4rec-amazon-beauty-h64-s1.json").write_text(ok)
    (resume / "full-amp-compile" / "accuracy").mkdir(parents=True)
    (resume / "full-amp-compile" / "accuracy" / "tim4rec-amazon-beauty-h64-s1.json").write_text(ok)  # an earlier call's
    (resume / "full" / "accuracy" / "sasrec-ml-1m-h64-s1.json").write_text('{"status": "ok", "n": 1}')  # another

    done = subprocess.run(["bash", "campaigns/absorb.sh", str(files)], cwd=work, timeout=60, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    got = sorted(str(p.relative_to(resume)) for p in resume.rglob("*") if p.is_file())
    assert got == [".kernels-ok", ".timing-done",  # full-amp-compile's results: committed as they are, dropped
                   "full/accuracy/mamba4rec-ml-1m-h64-s2.json", "full/accuracy/sasrec-ml-1m-h64-s1.json",
                   "full/accuracy/sasrec-ml-1m-h64-s2.json",
                   "full/accuracy/ssd4rec-ml-1m-h64-s0.json.ckpt", "full/accuracy/tisasrec-ml-1m-h64-s2.json.ckpt"]
    assert "3 ok result files; " in done.stdout and "holds 2 checkpoints of unfinished runs" in done.stdout
    missing = subprocess.run(["bash", "campaigns/absorb.sh", str(tmp_path / "nowhere")], cwd=work, timeout=60,
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "no campaign.tgz" in missing.stderr


def test_call_starts_the_part_only_where_no_campaign_runs(tmp_path):
    work = campaign_repo(tmp_path, "call.sh", "collect.sh")
    part = work / "campaigns" / "part.sh"
    part.write_text('mkdir -p "$1"; touch "$1/.started"; echo started >> "$1/starts"\n')
    root, out = tmp_path / "campaign", tmp_path / "out"
    out.mkdir()

    def call():
        return subprocess.run(["bash", "campaigns/call.sh", "campaigns/part.sh", "0", str(out), str(root)], cwd=work,
                              timeout=60, capture_output=True, text=True)

    first, second = call(), call()
    assert first.returncode == 0 and "a fresh machine" in first.stdout, first.stderr
    assert second.returncode == 0 and "goes on" in second.stdout, second.stderr
    assert (root / "starts").read_text() == "started\n"  # started once
    assert (out / "campaign.tgz").exists()
    part.write_text("exit 3\n")
    shutil.rmtree(root)
    assert call().returncode == 3  # a part that fails to start is no campaign to collect


GPU0_ONE_OFFS = {  # part: what GPU 0's one-off log must hold, (text, times)
    "part16.sh": [("tests/test_epoch_profile.py", 1), ("SEQREC_PROFILE_EPOCH=5", 4), ("--graph-batch", 2),
                  ("--ln-grid", 1)],
    "part17.sh": [("test_kernels_interval_attention_chunks.py", 1), ("--naive-max-batch 256", 1),
                  ("tests/test_epoch_profile.py", 1), ("SEQREC_PROFILE_EPOCH=5", 1), ("suites/bench_conv.py", 1),
                  ("--ln-widths 64,128", 1), ("triton,triton_bf16_product", 1)],
    "part18.sh": [("tests/test_item_table.py", 1), ("SEQREC_PROFILE_EPOCH=5", 7), ("SEQREC_GRAPH_ADAM=foreach", 1),
                  ("SEQREC_TIME_MLP_ELEMENTWISE=0", 1), ("SEQREC_LINEAR_PAD=1", 1), ("suites/bench_conv.py", 1),
                  ("step_matches_eager or graph_that_builds", 1),
                  ("SEQREC_SPREAD_PADDING_GRAD=0", 1), ("SEQREC_ITEM_TABLE_PAD=1", 1),
                  ("triton,triton_bf16_product", 1)],
}
GPU0_DONE = {"part17.sh": (".timing-done", ".ssd17-done")}  # the markers that send GPU 0 straight to the queue


@pytest.mark.parametrize("part", sorted(GPU0_ONE_OFFS))
def test_a_part_skips_gpu0_one_off_work_once_a_call_brought_back_its_marker(tmp_path, part):
    """Started again on a fresh machine (campaigns/call.sh), the part goes straight to the queue where an earlier
    call's .timing-done was absorbed into .gpu/resume/ (campaigns/absorb.sh), which lanes.sh copies into ROOT."""
    work = campaign_repo(tmp_path, "lanes.sh", "ml1m_queue.sh", part)
    env = stub_host_env(tmp_path, None)
    for fresh in (True, False):
        root = tmp_path / f"campaign-{fresh}"
        root.mkdir()
        (root / "queue.txt").write_text("")  # kept as it is: no queue line runs
        resume = work / ".gpu" / "resume"
        shutil.rmtree(resume, ignore_errors=True)
        resume.mkdir(parents=True)
        if not fresh:
            for marker in GPU0_DONE.get(part, (".timing-done",)):
                (resume / marker).touch()
        subprocess.run(["bash", f"campaigns/{part}", str(root)], cwd=work, check=True, timeout=60, env=env,
                       capture_output=True)
        logs = root / "logs"
        if fresh:
            assert wait_until(lambda: (root / ".timing-done").exists(), 30)  # noqa: B023
            log = (logs / "gpu0-timing.log").read_text()
            assert [(text, log.count(text)) for text, _ in GPU0_ONE_OFFS[part]] == GPU0_ONE_OFFS[part]
        else:
            assert wait_until(lambda: "rc=" in text_of(logs / "gpu0-queue1.log"), 30)  # noqa: B023
            assert not (logs / "gpu0-timing.log").exists()


def test_travels_counts_tracked_files_and_gpu_dir_and_fails_past_64_mib(tmp_path):
    work = campaign_repo(tmp_path, "travels.sh")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "big.bin").write_bytes(b"x" * 3 * 1048576)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    (work / ".gpu").mkdir()
    with open(work / ".gpu" / "ckpt", "wb") as f:
        f.truncate(62 * 1048576)  # apparent size counts, as on the wire
    over = subprocess.run(["bash", "campaigns/travels.sh"], cwd=work, capture_output=True, text=True, timeout=30)
    assert over.returncode == 1 and "tracked 3.0 MiB + .gpu 62.0 MiB of 64 MiB; -" in over.stdout
    (work / ".gpu" / "ckpt").unlink()
    fits = subprocess.run(["bash", "campaigns/travels.sh"], cwd=work, capture_output=True, text=True, timeout=30)
    assert fits.returncode == 0 and "61.0 MiB left" in fits.stdout


def run_part_twice(tmp_path, part: str, gpus: int, markers: tuple[str, ...]):
    """Run campaigns/PART on a stub host of ``gpus`` GPUs (python3 logs its arguments to calls.txt, no queue line
    runs) twice: a first call, then one whose .gpu/resume holds ``markers`` (an earlier call's one-offs, absorbed).
    Yields (campaign root, its logs folder) after each call's lanes were started."""
    work = campaign_repo(tmp_path, "lanes.sh", "ml1m_queue.sh", part)
    env = stub_host_env(tmp_path, gpus)
    for first in (True, False):
        root = tmp_path / f"campaign-{first}"
        root.mkdir()
        (root / "queue.txt").write_text("")  # no queue line runs
        resume = work / ".gpu" / "resume"
        resume.mkdir(parents=True, exist_ok=True)
        if not first:
            for marker in markers:
                (resume / marker).touch()
        subprocess.run(["bash", f"campaigns/{part}", str(root)], cwd=work, check=True, timeout=60, env=env,
                       capture_output=True)
        yield root, root / "logs"


def lanes_ran(logs, gpus: int, gpu0_log: str, gpu0_lines: int, gpu1_lines: int) -> tuple[str, str]:
    """Wait until GPU 0's lane (``gpu0_log``) has run its ``gpu0_lines`` one-offs and GPU 1's lane (gpu1-seeds.log)
    ``gpu1_lines`` lines: on one GPU those follow GPU 0's own in its log. (GPU 0's log, GPU 1's lines' log)."""
    gpu0 = logs / gpu0_log
    gpu1 = logs / "gpu1-seeds.log" if gpus == 2 else gpu0
    own = gpu0_lines if gpus == 1 else 0
    assert wait_until(lambda: text_of(gpu1).count("=== rc=") >= gpu1_lines + own and
                      text_of(gpu0).count("=== rc=") >= gpu0_lines, 30)
    return text_of(gpu0), text_of(gpu1)


@pytest.mark.parametrize("gpus", [1, 2])
def test_part19_runs_its_profiles_and_seeds_on_one_gpu_or_two_and_its_tests_once(tmp_path, gpus):
    """part19.sh: GPU 0's profiled runs (four) and GPU 1's paired seed sweeps (in turn on GPU 0 where it is alone);
    the fused Adam tests once a session: not again where an earlier call's marker was absorbed."""
    for root, logs in run_part_twice(tmp_path, "part19.sh", gpus, (".tests19-done", ".anatomy19-done")):
        profiles, seeds = lanes_ran(logs, gpus, "gpu0-profiles.log", 8, 2)
        assert profiles.count("SEQREC_PROFILE_EPOCH=5") == 6 and profiles.count("SEQREC_TIME_MLP_KERNEL=1") == 2
        assert profiles.count("SEQREC_SSD_BF16_PRODUCT=1 SEQREC_PROFILE_EPOCH=5") == 2
        assert seeds.count("--seeds 0,1,2,3,4,5,6,7,8,9") == 2 and "bf16-product-seeds" in seeds
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 3 and calls.count("-m seqrec anatomy") == 1  # the first call's only
        assert calls.count("suites/bench_time_mlp.py") == 1
        assert (root / ".tests19-done").exists() and (root / ".anatomy19-done").exists()  # or copied


@pytest.mark.parametrize("gpus", [1, 2])
def test_part20_runs_its_profiles_and_seeds_on_one_gpu_or_two_and_its_tests_once(tmp_path, gpus):
    """part20.sh: GPU 0's GPU tests and anatomy (once a session), three profiled runs; GPU 1's paired seed sweeps
    (in turn on GPU 0 where it is alone), the fp32 scores in one of them."""
    for root, logs in run_part_twice(tmp_path, "part20.sh", gpus, (".tests20-done",)):
        profiles, seeds = lanes_ran(logs, gpus, "gpu0-profiles.log", 4, 21)
        assert profiles.count("SEQREC_PROFILE_EPOCH=5") == 2
        assert profiles.count("SEQREC_FP32_SCORES=1 SEQREC_PROFILE_EPOCH=5") == 1
        runs = [line for line in seeds.splitlines() if line.startswith("=== ") and "-seeds/" in line]
        pairs = [re.search(r"--seeds (\d+) --out \S+-(fp32-scores|part20)-seeds/", r).groups() for r in runs]
        assert pairs == [(str(s), kind) for s in range(10) for kind in ("fp32-scores", "part20")]  # seed by seed
        both = profiles if gpus == 1 else profiles + seeds  # one GPU: one log
        assert both.count("--epochs 3") == 2 and "amp-compile-cuda-graph-ml1m-3-epochs" in seeds
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 3 and calls.count("-m seqrec anatomy") == 1  # the first call's only
        assert (root / ".tests20-done").exists()  # or copied


@pytest.mark.parametrize("gpus", [1, 2])
def test_part21_runs_its_three_fp32_islands_seed_by_seed_and_its_test_once(tmp_path, gpus):
    """part21.sh: GPU 0's islands test (once a session) and part 20's missing seed; GPU 1's seeds 0-9 with the
    mixer, the FFN and the time path in fp32 (in turn on GPU 0 where it is alone), a seed's three together."""
    for root, logs in run_part_twice(tmp_path, "part21.sh", gpus, (".tests21-done",)):
        _, seeds = lanes_ran(logs, gpus, "gpu0-tests.log", 2, 30)
        runs = [line for line in seeds.splitlines() if line.startswith("=== ") and "-seeds/" in line]
        triples = [re.search(r"SEQREC_FP32_MODULES='([^']+)' .*--seeds (\d+) --out \S+-fp32-(\w+)-seeds/", r).groups()
                   for r in runs if "FP32_MODULES" in r]
        patterns = {"mixer": "layers.*.mixer", "ffn": "layers.*.ffn", "time": "time_layers.*,time_norm"}
        assert triples == [(patterns[k], str(s), k) for s in range(10) for k in ("mixer", "ffn", "time")]
        assert "SEQREC_FP32_SCORES=1" in text_of(logs / "gpu0-tests.log") and "--seeds 2 --out" in seeds + text_of(
            logs / "gpu0-tests.log")
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 2 and calls.count("-m seqrec anatomy") == 1  # the first call's only
        assert calls.count("suites/bench_conv.py") == 1
        assert calls.count("SEQREC") == 0  # variables are the environment's, not arguments
        assert (root / ".tests21-done").exists()  # or copied


@pytest.mark.parametrize("gpus", [1, 2])
def test_part22_times_both_changes_only_after_the_conv_tests_pass_and_tests_once(tmp_path, gpus):
    """part22.sh: GPU 0's conv tests, bench and anatomy four ways (once a session), four profiled runs; GPU 1's seeds
    0-9 with both changes (in turn on GPU 0 where it is alone); every line with the sequential conv backward waits
    for the conv tests' marker (the stub's pytest passes, so it is there)."""
    for root, logs in run_part_twice(tmp_path, "part22.sh", gpus, (".tests22-done", ".conv-seq-ok")):
        tests, seeds = lanes_ran(logs, gpus, "gpu0-tests.log", 5, 10)
        runs = [line for line in seeds.splitlines() if line.startswith("=== ") and "-both-seeds/" in line]
        assert [re.search(r"--seeds (\d+) ", r).group(1) for r in runs] == [str(s) for s in range(10)]
        assert all(f"[ -e {root}/.conv-seq-ok ] && SEQREC_CONV_BWD_SEQUENTIAL=1 TORCHINDUCTOR_MIX_ORDER_REDUCTION=0"
                   in r for r in runs)
        assert tests.count("SEQREC_PROFILE_EPOCH=5") == 4
        assert f"[ -e {root}/.conv-seq-ok ] && SEQREC_CONV_BWD_SEQUENTIAL=1 SEQREC_PROFILE_EPOCH=5" in tests
        assert "TORCHINDUCTOR_MIX_ORDER_REDUCTION=0 SEQREC_PROFILE_EPOCH=5" in tests
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 2 and calls.count("-m seqrec anatomy") == 4  # the first call's only
        assert calls.count("suites/bench_conv.py") == 2 and calls.count("--seq-grid") == 1
        assert calls.count("SEQREC") == 0  # variables are the environment's, not arguments
        assert calls.count("suites/bench_ssd.py") == 2 and calls.count("--variants triton,torch --profile 10") == 2
        assert (root / ".tests22-done").exists() and (root / ".conv-seq-ok").exists()  # or copied


@pytest.mark.parametrize("gpus", [1, 2])
def test_part23_runs_fp16_only_after_its_graph_test_passes_and_tests_once(tmp_path, gpus):
    """part23.sh: GPU 0's tests, anatomies (#4's step three ways, ml-1m's four) once a session and two profiled runs;
    GPU 1's fp16 seeds 0-9 (in turn on GPU 0 where it is alone); every fp16 run waits for the fp16 graph test's
    marker (the stub's pytest passes, so it is there)."""
    for root, logs in run_part_twice(tmp_path, "part23.sh", gpus, (".tests23-done", ".fp16-ok")):
        tests, seeds = lanes_ran(logs, gpus, "gpu0-tests.log", 3, 10)
        runs = [line for line in seeds.splitlines() if line.startswith("=== ") and "-fp16-seeds/" in line]
        assert [re.search(r"--seeds (\d+) ", r).group(1) for r in runs] == [str(s) for s in range(10)]
        assert all(f"[ -e {root}/.fp16-ok ] && python3 -m seqrec sweep" in r and "--amp fp16" in r for r in runs)
        assert tests.count("SEQREC_PROFILE_EPOCH=5") == 2 and "--amp bf16" in tests
        assert f"[ -e {root}/.fp16-ok ] && SEQREC_PROFILE_EPOCH=5" in tests
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 2 and calls.count("-m seqrec anatomy") == 7  # the first call's only
        assert calls.count("--model sasrec") == 2 and calls.count("--seq-len 200") == 4
        assert calls.count("--amp fp16 --out") == 1 and "anatomy23-fp16.json" in calls  # the fp16 anatomy
        assert calls.count("SEQREC") == 0  # variables are the environment's, not arguments
        assert (root / ".tests23-done").exists() and (root / ".fp16-ok").exists()  # or copied
        _, seeds = lanes_ran(logs, gpus, "gpu0-tests.log", 3, 22)
        tf32 = [line for line in seeds.splitlines() if line.startswith("=== ") and "--tf32" in line]
        assert len(tf32) == 12 and sum("--datasets ml-1m" in r and "--epochs 3" in r for r in tf32) == 2
        beauty = [re.search(r"--seeds (\d+) ", r).group(1) for r in tf32 if "-tf32-seeds/" in r]
        assert beauty == [str(s) for s in range(10)]


@pytest.mark.parametrize("gpus", [1, 2])
def test_part24_runs_both_mask_swaps_only_after_their_gpu_test_passes_and_tests_once(tmp_path, gpus):
    """part24.sh: GPU 0's dropout-mask test once a session, then #4's fast path with the fp32 run's masks for seeds
    0-9; GPU 1's eager fp32 with the amp run's masks for seeds 0-9 (in turn on GPU 0 where it is alone); every run
    waits for the test's marker (the stub's pytest prints nothing skipped, so it is there). Then, once, the SDPA
    bench in IEEE fp32 and with TF32."""
    for root, logs in run_part_twice(tmp_path, "part24.sh", gpus, (".tests24-done", ".masks-ok", ".sdpa24-done")):
        tests, seeds = lanes_ran(logs, gpus, "gpu0-tests.log", 12, 10)
        fast = [line for line in tests.splitlines() if line.startswith("=== ") and "-fp32-masks-seeds/" in line]
        eager = [line for line in seeds.splitlines() if line.startswith("=== ") and "-amp-masks-seeds/" in line]
        for runs, masks in ((fast, "fp32"), (eager, "amp")):
            assert [re.search(r"--seeds (\d+) ", r).group(1) for r in runs] == [str(s) for s in range(10)]
            assert all(f"[ -e {root}/.masks-ok ] && SEQREC_DROPOUT_MASKS={masks} python3 -m seqrec sweep" in r
                       for r in runs)
        assert all("--amp bf16 --cuda-graph --compile" in r for r in fast)
        assert not any("--amp" in r or "--compile" in r or "--tf32" in r for r in eager)
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 2 and "tests/test_dropout_masks.py" in calls  # the first call's only
        assert calls.count("suites/bench_sdpa.py") == 2 and calls.count("bench_sdpa.py --tf32") == 1
        assert (root / ".tests24-done").exists() and (root / ".masks-ok").exists()  # or copied
        assert (root / ".sdpa24-done").exists()


@pytest.mark.parametrize("gpus", [1, 2])
def test_part25_runs_the_default_fast_path_then_ml1m_on_it_with_no_variable_set(tmp_path, gpus):
    """part25.sh: GPU 0's graphed-step tests once a session; seed 0 of #4's fast path with the defaults (the fp32
    run's masks since part 24: no SEQREC_DROPOUT_MASKS) and empty compile caches; TiM4Rec ml-1m h64 seed 0 on the same
    path; 3 epochs of each model at ml-1m h256 on it, in every call (a finished sweep skips itself); GPU 1 has no
    one-off line."""
    for root, logs in run_part_twice(tmp_path, "part25.sh", gpus, (".tests25-done",)):
        runs, _ = lanes_ran(logs, gpus, "gpu0-fast-path.log", 8, 0)
        lines = [line for line in runs.splitlines() if line.startswith("=== ") and "seqrec sweep" in line]
        assert len(lines) == 7 and not any("SEQREC" in r for r in lines)
        assert all("--amp bf16 --cuda-graph --compile" in r and "--seeds 0 " in r for r in lines)
        assert "--datasets amazon-beauty" in lines[0] and "-amp-compile-cuda-graph-part25/accuracy" in lines[0]
        assert lines[0].count("_CACHE_DIR=$(mktemp -d)") == 2 and "CACHE_DIR" not in lines[1]  # the first cold
        assert "--datasets ml-1m --hidden 64" in lines[1] and "-amp-compile-cuda-graph-ml1m-seeds/accuracy" in lines[1]
        h256 = [r.rsplit("--models ", 1)[1] for r in lines[2:]]
        assert h256 == ["tim4rec", "ssd4rec", "mamba4rec", "sasrec", "tisasrec"]
        assert all("--epochs 3 " in r and "--hidden 256" in r and "-ml1m-h256-3-epochs/accuracy" in r
                   for r in lines[2:])
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 1  # the first call's only
        assert "-k cuda_graph_step_matches_eager and (bf16 or mamba4rec or ssd4rec)" in calls
        assert (root / ".tests25-done").exists()  # or copied
        if gpus == 2:
            done = root / ".gpu1-done"
            assert wait_until(done.exists, 30)


@pytest.mark.parametrize("gpus", [1, 2])
def test_part26_times_the_cold_starts_then_runs_tim4recs_ml1m_seeds_on_the_fast_path_then_the_queue(tmp_path, gpus):
    """part26.sh: GPU 0's compile-scope tests once a session; three cold runs of #4's fast path's seed 0 (caches
    empty): with the prewarm, with the blocks scope (only where its tests passed), with both; then the sweep of
    TiM4Rec ml-1m h64 seeds 0-2 on the fast path into the set that holds the ablation's fast variants (seed 0, part
    25's, skips itself), in every call; GPU 1 has no one-off line; the queue follows."""
    for root, logs in run_part_twice(tmp_path, "part26.sh", gpus, (".tests26-done", ".scope-ok")):
        runs, _ = lanes_ran(logs, gpus, "gpu0-ml1m-seeds.log", 6, 0)  # the one-offs, then the (empty) queue
        lines = [line for line in runs.splitlines() if line.startswith("=== ") and "seqrec sweep" in line]
        assert len(lines) == 4
        cold, ml1m = lines[:3], lines[3]
        assert all(r.count("_CACHE_DIR=$(mktemp -d)") == 2 and "--datasets amazon-beauty --hidden 64" in r
                   and "SEQREC_STEP_TIMES=1 " in r
                   and "--amp bf16 --cuda-graph --compile --seeds 0 " in r for r in cold)
        assert "SEQREC_PREWARM=1 " in cold[0] and "SEQREC_COMPILE_SCOPE" not in cold[0]
        assert cold[0].endswith("-amp-compile-cuda-graph-cold-prewarm/accuracy")
        assert all(f"[ -e {root}/.scope-ok ] && SEQREC_COMPILE_SCOPE=blocks " in r for r in cold[1:])
        assert "SEQREC_PREWARM" not in cold[1] and cold[1].endswith("-amp-compile-cuda-graph-cold-blocks/accuracy")
        assert "SEQREC_PREWARM=1 " in cold[2] and cold[2].endswith("-cold-blocks-prewarm/accuracy")
        assert "SEQREC" not in ml1m and "CACHE_DIR" not in ml1m
        assert "--datasets ml-1m --hidden 64" in ml1m and "--models tim4rec --amp bf16 --compile --cuda-graph" \
            in ml1m and "--seeds 0,1,2 " in ml1m
        assert ml1m.endswith(f"--out {root}/full-amp-compile-cuda-graph-ml1m-seeds/accuracy")
        assert "pop_line" in runs.split(ml1m, 1)[1]  # then the queue
        calls = text_of(tmp_path / "calls.txt")
        assert calls.count("-m pytest") == 1 and "tests/test_compile_scope.py" in calls  # the first call's only
        assert (root / ".scope-ok").exists()  # the stub's tests pass (or the marker was copied)
        if gpus == 2:
            done = root / ".gpu1-done"
            assert wait_until(done.exists, 30)



def start_part(tmp_path, gpus: int, session: list[str], age_s: int = 0, part: str = "part27.sh") -> Path:
    """Start campaigns/``part`` on a stub host of ``gpus`` GPUs (python3 logs its arguments to calls.txt) whose
    queue holds one run ("queued-run") and whose session-bound queue ``session``, in a campaign ``age_s`` old (0: a
    new one). Returns the campaign root."""
    work = campaign_repo(tmp_path, "lanes.sh", "ml1m_queue.sh", part)
    env = stub_host_env(tmp_path, gpus)
    root = tmp_path / "campaign"
    (root / "logs").mkdir(parents=True)
    (root / "queue.txt").write_text("python3 queued-run\n")
    (root / "queue.txt.session").write_text("".join(f"python3 {run}\n" for run in session))
    if age_s:
        (root / ".started").touch()
        os.utime(root / ".started", (time.time() - age_s, time.time() - age_s))
    subprocess.run(["bash", f"campaigns/{part}", str(root)], cwd=work, check=True, timeout=60, capture_output=True,
                   env=env)
    return root


@pytest.mark.parametrize("age_s", [0, 600])
def test_part27_starts_h256_runs_on_gpu0_only_while_the_campaign_is_young_then_the_queue(tmp_path, age_s):
    """part27.sh on one GPU: GPU 0's lane takes ml-1m's session-bound h256 runs (queue.txt.session) only while the
    campaign is younger than 5 minutes (a run that starts at a session's start), then the shared queue; a campaign
    10 minutes old (a warm machine's) takes none."""
    root = start_part(tmp_path, 1, ["h256-a", "h256-b"], age_s)
    log = root / "logs" / "gpu0-h256-then-queue.log"
    assert wait_until(lambda: "queued-run" in text_of(tmp_path / "calls.txt") and text_of(log).count("=== rc=") >= 2,
                      30)
    calls = text_of(tmp_path / "calls.txt").split()
    loops = [line for line in text_of(log).splitlines() if line.startswith("=== ") and "pop_line" in line]
    assert "queue.txt.session" in loops[0] and "-lt 300 ]" in loops[0]  # the window, then the shared queue
    assert "queue.txt.session" not in loops[1] and "-lt " not in loops[1]
    h256 = [c for c in calls if c.startswith("h256-")]
    assert h256 == ([] if age_s else ["h256-a", "h256-b"])  # the stub's runs end at once: both start while young
    assert calls.index("queued-run") > max((calls.index(c) for c in h256), default=-1)
    # on one GPU the two cold runs with the compile breakdown come between the h256 runs and the queue
    cold = [line for line in text_of(log).splitlines() if line.startswith("=== ") and "cold-breakdown" in line]
    assert_cold_breakdown_runs(cold)
    lane = text_of(log)
    assert lane.index(loops[0]) < lane.index(cold[0]) < lane.index(loops[1])


def assert_cold_breakdown_runs(cold: list[str]) -> None:
    """part27.sh's two cold runs of #4's fast path's seed 0 with SEQREC_STEP_TIMES=1: the defaults, then the prewarm."""
    assert len(cold) == 2
    assert all(r.count("_CACHE_DIR=$(mktemp -d)") == 2 and "SEQREC_STEP_TIMES=1 " in r
               and "--datasets amazon-beauty --hidden 64" in r and "--amp bf16 --cuda-graph --compile --seeds 0 " in r
               and "SEQREC_COMPILE_SCOPE" not in r for r in cold)
    assert "SEQREC_PREWARM" not in cold[0] and cold[0].endswith("-amp-compile-cuda-graph-cold-breakdown/accuracy")
    assert cold[1].startswith("=== ") and "SEQREC_PREWARM=1 " in cold[1]
    assert cold[1].endswith("-amp-compile-cuda-graph-cold-breakdown-prewarm/accuracy")


def test_part27_on_two_gpus_times_the_cold_start_on_gpu1_then_starts_an_h256_run_there_too(tmp_path):
    """part27.sh on two GPUs: GPU 0 takes an h256 run at once; GPU 1 first runs the two cold runs, then its queue
    lane takes the next h256 run (the campaign still young), then both take the shared queue."""
    root = start_part(tmp_path, 2, ["h256-a", "h256-b", "h256-c"])
    gpu1, gpu1_queue = root / "logs" / "gpu1-seeds.log", root / "logs" / "gpu1-queue1.log"
    assert wait_until(lambda: "queued-run" in text_of(tmp_path / "calls.txt")
                      and text_of(gpu1_queue).count("=== rc=") >= 3, 30)
    cold = [line for line in text_of(gpu1).splitlines() if line.startswith("=== ") and "cold-breakdown" in line]
    assert_cold_breakdown_runs(cold)
    assert "queue.txt.session" in text_of(root / "logs" / "gpu0-h256-then-queue.log")
    assert "queue.txt.session" in text_of(gpu1_queue) and "-lt 300 ]" in text_of(gpu1_queue)
    h256 = [c for c in text_of(tmp_path / "calls.txt").split() if c.startswith("h256-")]
    assert sorted(h256) == ["h256-a", "h256-b", "h256-c"]  # the stub's runs end at once: all start while young


def gpu1_prewarm_tests_then_cold_runs(tmp_path: Path, part: int, runs: int) -> tuple[Path, list[str]]:
    """Run partN.sh on three GPUs (a stub's runs end at once) until GPU 1's queue lane has run three lines; check
    that GPU 1 ran the prewarm's GPU tests first, once a session (a marker, logs/prewarm-testsN.txt), then ``runs``
    sweeps. The campaign root and those sweeps' lines."""
    root = start_part(tmp_path, 3, ["h256-a", "h256-b", "h256-c"], part=f"part{part}.sh")
    logs = root / "logs"
    assert wait_until(lambda: "queued-run" in text_of(tmp_path / "calls.txt")
                      and text_of(logs / "gpu1-queue1.log").count("=== rc=") >= 3, 30)
    gpu1 = [line for line in text_of(logs / "gpu1-seeds.log").splitlines() if line.startswith("=== ")
            and "seqrec sweep" in line]
    assert len(gpu1) == runs
    tests = text_of(logs / "gpu1-seeds.log").split(gpu1[0])[0]  # first, once a session
    assert "-m pytest -q -p no:cacheprovider tests/test_prewarm.py tests/test_inductor_pool.py" in tests
    assert f"prewarm-tests{part}.txt" in tests and (root / f".tests{part}-done").exists()
    assert "tests/test_prewarm.py" in text_of(tmp_path / "calls.txt")
    return root, gpu1


def test_part28_times_three_cold_starts_on_gpu1_while_gpus_2_on_start_h256_runs_at_once(tmp_path):
    """part28.sh on three GPUs: GPU 1 runs the prewarm's GPU tests once (a marker), then four cold runs of #4's fast
    path's seed 0: the prewarm with the early inductor pool (the default), the defaults, the prewarm with the late
    pool, the prewarm with compile-ahead; only GPU 1's queue lane waits for them, GPU 2's takes an h256 run at once;
    all three h256 runs start while young."""
    root, gpu1 = gpu1_prewarm_tests_then_cold_runs(tmp_path, 28, 4)
    logs = root / "logs"
    assert all(r.count("_CACHE_DIR=$(mktemp -d)") == 2 and "SEQREC_STEP_TIMES=1 " in r
               and "--datasets amazon-beauty --hidden 64" in r and "--amp bf16 --cuda-graph --compile --seeds 0 " in r
               for r in gpu1)
    prewarm, defaults, late, ahead = gpu1
    assert "POOL_EARLY" not in prewarm and prewarm.endswith("-amp-compile-cuda-graph-cold-prewarm-pool/accuracy")
    assert "SEQREC_PREWARM" not in defaults and "POOL_EARLY" not in defaults
    assert defaults.endswith("-amp-compile-cuda-graph-cold-pool/accuracy")
    assert "SEQREC_INDUCTOR_POOL_EARLY=0 " in late and late.endswith("-cold-prewarm-pool-late/accuracy")
    assert "--compile-ahead " in ahead and "POOL_EARLY" not in ahead
    assert ahead.endswith("-amp-compile-cuda-graph-cold-compile-ahead-prewarm/accuracy")
    assert all("SEQREC_PREWARM=1 " in r for r in (prewarm, late, ahead))
    assert "gpu1-done" in text_of(logs / "gpu1-queue1.log") and "gpu1-done" not in text_of(logs / "gpu2-queue1.log")
    assert "queue.txt.session" in text_of(logs / "gpu2-queue1.log")
    h256 = [c for c in text_of(tmp_path / "calls.txt").split() if c.startswith("h256-")]
    assert sorted(h256) == ["h256-a", "h256-b", "h256-c"]


def test_part29_times_five_cold_starts_on_gpu1_while_gpus_2_on_start_h256_runs_at_once(tmp_path):
    """part29.sh on three GPUs: GPU 1 runs the prewarm's GPU tests once (a marker), then five cold runs of #4's fast
    path's seed 0 with the defaults: compiled; with compile-ahead; with compile-ahead and claims; with compile-ahead
    and 16 prewarm processes; with compile-ahead for 60 epochs without early stopping. Only GPU 1's queue lane
    waits for them; all three h256 runs start while young."""
    root, gpu1 = gpu1_prewarm_tests_then_cold_runs(tmp_path, 29, 5)
    logs = root / "logs"
    assert all(r.count("_CACHE_DIR=$(mktemp -d)") == 2 and "SEQREC_STEP_TIMES=1 " in r
               and "--datasets amazon-beauty --hidden 64" in r and "--amp bf16 --cuda-graph --compile --seeds 0 " in r
               and "SEQREC_PREWARM=" not in r and "POOL_EARLY" not in r for r in gpu1)  # the defaults
    compiled, ahead, claims, sixteen, long = gpu1
    assert "SEQREC_PREWARM_CLAIMS=1 " in claims and "--compile-ahead --out " in claims
    assert claims.endswith("-cold-compile-ahead-claims/accuracy") and "CLAIMS" not in ahead + sixteen + long
    assert "--compile-ahead" not in compiled and compiled.endswith("-cold-prewarm-at-claim/accuracy")
    assert "--compile-ahead --out " in ahead and ahead.endswith("-cold-compile-ahead-at-claim/accuracy")
    assert sixteen.startswith("=== ") and "SEQREC_PREWARM_PROCESSES=16 " in sixteen and "--compile-ahead " in sixteen
    assert sixteen.endswith("-cold-compile-ahead-16-processes/accuracy")
    assert "--compile-ahead --epochs 60 --patience 0 --out " in long  # the last --epochs and --patience count
    assert long.endswith("-cold-compile-ahead-60-epochs/accuracy")
    assert "gpu1-done" in text_of(logs / "gpu1-queue1.log") and "gpu1-done" not in text_of(logs / "gpu2-queue1.log")
    h256 = [c for c in text_of(tmp_path / "calls.txt").split() if c.startswith("h256-")]
    assert sorted(h256) == ["h256-a", "h256-b", "h256-c"]


def test_part30_gpu1_takes_an_h256_run_then_tests_compile_ahead_and_times_its_switch_twice(tmp_path):
    """part30.sh on three GPUs: GPU 1's lane first takes the session-bound h256 queue (while young), then runs the
    prewarm's and compile-ahead's GPU tests once (a marker), then two cold 60-epoch compile-ahead runs of #4's fast
    path's seed 0: the defaults, and the prewarm off. Only GPU 1's queue lane waits for them."""
    root, gpu1 = gpu1_prewarm_tests_then_cold_runs(tmp_path, 30, 2)
    logs = root / "logs"
    before_runs = text_of(logs / "gpu1-seeds.log").split(gpu1[0])[0]
    assert before_runs.index("queue.txt.session") < before_runs.index("tests/test_prewarm.py")
    assert "tests/test_compile_ahead.py" in before_runs and "timeout 600 " in before_runs
    assert all(r.count("_CACHE_DIR=$(mktemp -d)") == 2 and "SEQREC_STEP_TIMES=1 " in r
               and "--datasets amazon-beauty --hidden 64" in r and "--amp bf16 --cuda-graph --compile --seeds 0 " in r
               and "--compile-ahead --epochs 60 --patience 0 --out " in r for r in gpu1)
    defaults, no_prewarm = gpu1
    assert "SEQREC_PREWARM" not in defaults and defaults.endswith("-cold-compile-ahead-switch/accuracy")
    assert "SEQREC_PREWARM=0 " in no_prewarm and no_prewarm.endswith("-cold-compile-ahead-switch-no-prewarm/accuracy")
    assert "gpu1-done" in text_of(logs / "gpu1-queue1.log") and "gpu1-done" not in text_of(logs / "gpu2-queue1.log")
    h256 = [c for c in text_of(tmp_path / "calls.txt").split() if c.startswith("h256-")]
    assert sorted(h256) == ["h256-a", "h256-b", "h256-c"]


def test_part31_gpu1_tests_compile_ahead_alone_then_times_its_adapted_switch_twice_then_the_queue(tmp_path):
    """part31.sh on three GPUs: GPU 1 runs compile-ahead's GPU cases alone once (a marker), no h256 run first, then
    two cold 60-epoch compile-ahead runs of #4's fast path's seed 0 (the defaults, the prewarm off) and a cold
    compile-ahead run of TiM4Rec ml-1m h64 seed 0 with the grid's early stopping; GPU 0 and 2 take
    the session-bound h256 runs while young; only GPU 1's queue lane waits for GPU 1's one-offs."""
    root = start_part(tmp_path, 3, ["h256-a", "h256-b", "h256-c"], part="part31.sh")
    logs = root / "logs"
    assert wait_until(lambda: "queued-run" in text_of(tmp_path / "calls.txt")
                      and text_of(logs / "gpu1-queue1.log").count("=== rc=") >= 3, 30)
    seeds = text_of(logs / "gpu1-seeds.log")
    gpu1 = [line for line in seeds.splitlines() if line.startswith("=== ") and "seqrec sweep" in line]
    assert len(gpu1) == 3 and "queue.txt.session" not in seeds
    tests = seeds.split(gpu1[0])[0]
    assert "timeout 600 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_compile_ahead.py > " in tests
    assert "tests/test_prewarm.py" not in tests and "prewarm-tests31.txt" in tests and (root / ".tests31-done").exists()
    assert all(r.count("_CACHE_DIR=$(mktemp -d)") == 2 and "SEQREC_STEP_TIMES=1 " in r
               and "--amp bf16 --cuda-graph --compile --seeds 0 --compile-ahead " in r for r in gpu1)
    defaults, no_prewarm, ml1m = gpu1
    assert all("--datasets amazon-beauty --hidden 64 " in r and "--epochs 60 --patience 0 --out " in r
               for r in (defaults, no_prewarm))
    assert "--datasets ml-1m --hidden 64 " in ml1m and "--models tim4rec " in ml1m and "amazon-beauty" not in ml1m
    assert "--epochs 200 --patience 10 " in ml1m
    assert "--epochs 60" not in ml1m and ml1m.endswith("-amp-compile-cuda-graph-ml1m-cold-compile-ahead/accuracy")
    assert "SEQREC_PREWARM" not in defaults and defaults.endswith("-cold-compile-ahead-switch-adapted/accuracy")
    assert "SEQREC_PREWARM=0 " in no_prewarm
    assert no_prewarm.endswith("-cold-compile-ahead-switch-adapted-no-prewarm/accuracy")
    assert "gpu1-done" in text_of(logs / "gpu1-queue1.log") and "gpu1-done" not in text_of(logs / "gpu2-queue1.log")
    h256 = [c for c in text_of(tmp_path / "calls.txt").split() if c.startswith("h256-")]
    assert sorted(h256) == ["h256-a", "h256-b", "h256-c"]
