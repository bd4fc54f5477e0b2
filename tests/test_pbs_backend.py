"""The PBS Pro backend, tested without a PBS server (none can run on the CI machine).

These tests stand in for one. The job scripts `lth sweep launcher=pbs` renders are
read directive by directive and their bodies are run with bash, with PBS_ARRAY_INDEX,
PBS_JOBID and PBS_O_WORKDIR set as PBS sets them, training real cohorts. Only where
a submission or a queue query happens is a stand-in put on PATH: a `qsub` that
records its command line and script and answers with a job id, and a `qstat` that
replays recorded PBS Pro output (tests/fixtures/pbs/).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_helpers import assert_same_results, lth_cluster, results, wait_for

from pipeline.cli import main
from pipeline.compose import expand
from pipeline.config import LauncherConfig
from pipeline.io import load_json, load_tensors
from pipeline.launch.manifest import Manifest, build_manifest
from pipeline.launch.pbs import PbsLauncher, array_script
from pipeline.launch.runner import STOPPED
from pipeline.launch.status import FAILED, sweep_state
from pipeline.launch.submissions import load_submissions
from pipeline.paths import Layout, SweepPaths
from pipeline.store import runs_frame

FIXTURES = Path(__file__).parent / "fixtures" / "pbs"
TINY = [
    "sweep=none",
    "launcher.status_every=0",
    "prune.levels=2",
    "train.duration=4ep",
    "train.batch_size=16",
    "launcher.cohort_size=1",
    "launcher.threads=1",
    "checkpoint_every=1ep",
]
HOSTILE = 'we\'ird "dir" $(touch CANARY) `touch CANARY` ;x'

FAKE_QSUB = """\
import json, os, sys
record = os.environ["FAKE_PBS_RECORD"]
calls = [json.loads(line) for line in open(record)] if os.path.exists(record) else []
text = open(sys.argv[-1]).read()
number = 1234 + sum(1 for call in calls if call["command"] == "qsub")
with open(record, "a") as out:
    out.write(json.dumps({"command": "qsub", "argv": sys.argv[1:], "script": text}) + "\\n")
print(f"{number}[].pbs01" if "#PBS -J" in text else f"{number}.pbs01")
"""
FAKE_QSTAT = """\
import json, os, sys
with open(os.environ["FAKE_PBS_RECORD"], "a") as out:
    out.write(json.dumps({"command": "qstat", "argv": sys.argv[1:]}) + "\\n")
name = os.environ["FAKE_QSTAT_JSON" if "json" in sys.argv else "FAKE_QSTAT_TEXT"]
sys.stdout.write(open(os.path.join(os.environ["FAKE_QSTAT_DIR"], name)).read())
"""


class FakePbs:
    """A recording qsub and a replaying qstat, first on PATH."""

    def __init__(self, root: Path, monkeypatch):
        bin_dir = root / "fake-pbs-bin"
        bin_dir.mkdir()
        for name, body in (("qsub", FAKE_QSUB), ("qstat", FAKE_QSTAT)):
            path = bin_dir / name
            path.write_text(f"#!{sys.executable}\n{body}")
            path.chmod(0o755)
        self.record = root / "fake-pbs-calls.jsonl"
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_PBS_RECORD", str(self.record))
        monkeypatch.setenv("FAKE_QSTAT_DIR", str(FIXTURES))
        self.monkeypatch = monkeypatch
        self.replay("qstat_running.json")

    def replay(self, json_fixture: str, text_fixture: str = "qstat_running.txt") -> None:
        self.monkeypatch.setenv("FAKE_QSTAT_JSON", json_fixture)
        self.monkeypatch.setenv("FAKE_QSTAT_TEXT", text_fixture)

    def calls(self, command: str) -> list[dict]:
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        return [c for c in map(json.loads, lines) if c["command"] == command]


@pytest.fixture
def pbs(tmp_path, monkeypatch) -> FakePbs:
    return FakePbs(tmp_path, monkeypatch)


def make_sweep(root: Path, name: str, *overrides: str) -> tuple[SweepPaths, Manifest]:
    """What `lth sweep --dry-run` writes, with the output root given as a path (so that a
    hostile one needs no escaping for Hydra's override grammar)."""
    configs = expand([*TINY, f"sweep.name={name}", *overrides])
    layout = Layout(root)
    manifest = build_manifest(name, root, configs, lambda cfg: cfg.launcher.cohort_size)
    manifest.save(layout.sweep(name))
    return SweepPaths(layout.sweep(name).dir), manifest


def directive(script: str, flag: str) -> list[str]:
    """The shell words of every `#PBS <flag> ...` line."""
    return [
        shlex.split(line)[2] for line in script.splitlines() if line.startswith(f"#PBS {flag} ")
    ]


def run_subjob(script: str, path: Path, index: int | None, job: str, workdir: Path):
    """Run a job script with bash as PBS would: in its own session, PBS variables set."""
    path.write_text(script)
    env = {
        **os.environ,
        "PBS_JOBID": job,
        "PBS_O_WORKDIR": str(workdir),
        "PBS_ENVIRONMENT": "PBS_BATCH",
        "PBS_JOBNAME": "lth-test",
    }
    if index is not None:
        env["PBS_ARRAY_INDEX"] = str(index)
        env["PBS_ARRAY_ID"] = job.split("[")[0] + "[]" + job.split("]", 1)[1]
    return subprocess.Popen(["bash", str(path)], env=env, cwd=workdir, start_new_session=True)


def test_carpenter_preset_submits_an_array_and_a_reducer_after_it(
    tmp_path, pbs, monkeypatch, capsys
):
    monkeypatch.setenv("LTH_ACCOUNT", "ERDCV01234567")
    monkeypatch.setenv("WORKDIR", str(tmp_path))
    assert (
        main(
            [
                "sweep",
                *TINY,
                "seed=0,1,2",
                "launcher=carpenter",
                "launcher.cohort_size=1",
                f"out={tmp_path}/out",
                "sweep.name=demo",
            ]
        )
        == 0
    )
    sweep = tmp_path / "out" / "sweeps" / "demo"
    err = capsys.readouterr().err
    assert "job 1234[].pbs01 (3 array tasks" in err and f"lth status {sweep}" in err

    array, reducer = pbs.calls("qsub")
    assert array["argv"] == [str(sweep / "jobs" / "array-0.pbs")]
    script = array["script"]
    assert directive(script, "-N") == ["lth-demo"]
    assert directive(script, "-A") == ["ERDCV01234567"]
    assert directive(script, "-q") == ["standard"]
    assert directive(script, "-l") == ["select=1:ncpus=192:mpiprocs=1", "walltime=08:00:00"]
    assert directive(script, "-J") == ["0-2"]
    assert directive(script, "-r") == ["y"] and directive(script, "-j") == ["oe"]
    assert directive(script, "-o") == [f"{sweep}/logs/pbs/"]
    assert "module load cray-python" in script and f"cd {tmp_path}" in script
    assert "COHORTS=(0 1 2)" in script

    assert reducer["argv"] == [
        "-W",
        "depend=afterany:1234[].pbs01",
        str(sweep / "jobs" / "reduce-0.pbs"),
    ]
    assert directive(reducer["script"], "-l")[0] == "select=1:ncpus=192:mpiprocs=192"
    command = shlex.split(reducer["script"].strip().splitlines()[-1])
    assert command[1:5] == ["-n", "192", "--ppn", "192"]
    assert command[-3:] == ["reduce", str(tmp_path / "out" / "runs"), str(sweep / "store.h5")]
    for call in (array, reducer):
        assert subprocess.run(["bash", "-n"], input=call["script"], text=True).returncode == 0

    (submission,) = load_submissions(SweepPaths(sweep))
    assert (submission.job_id, submission.cohorts, submission.reducer) == (
        "1234[].pbs01",
        [0, 1, 2],
        "1235.pbs01",
    )
    assert submission.tasks == ["1234[0].pbs01", "1234[1].pbs01", "1234[2].pbs01"]


def test_a_site_preset_without_an_account_fails_before_anything_is_submitted(
    tmp_path, pbs, monkeypatch, capsys
):
    monkeypatch.delenv("LTH_ACCOUNT", raising=False)
    assert main(["sweep", *TINY, "launcher=narwhal", f"out={tmp_path}"]) == 2
    assert capsys.readouterr().err.startswith("lth sweep: error: launcher.account:")
    assert pbs.calls("qsub") == [] and not (tmp_path / "sweeps").exists()


def test_hostile_values_stay_words_and_the_body_trains_its_cohort(tmp_path):
    root = tmp_path / HOSTILE
    workdir = tmp_path / f"work {HOSTILE}"
    workdir.mkdir(parents=True)
    paths, manifest = make_sweep(
        root, "hostile", "seed=0,1", "prune.levels=1", "train.duration=2ep"
    )
    cfg = LauncherConfig(
        name="pbs",
        account=f"acct {HOSTILE}",
        queue=f"q {HOSTILE}",
        workdir=str(workdir),
        modules=[f"mod {HOSTILE}"],
    )
    script = array_script(manifest, paths, [1, 0], cfg)
    assert directive(script, "-A") == [cfg.account] and directive(script, "-q") == [cfg.queue]
    assert directive(script, "-o") == [f"{paths.logs}/pbs/"]
    assert (
        shlex.split(next(ln for ln in script.splitlines() if ln.startswith("module load")))[2]
        == f"mod {HOSTILE}"
    )
    assert shlex.split(next(ln for ln in script.splitlines() if ln.startswith("cd ")))[1] == str(
        workdir
    )

    # The body, run as subjob 0 of array 77: COHORTS=(1 0), so it trains cohort 1.
    (paths.logs / "pbs").mkdir(parents=True)
    body = script.replace(next(ln for ln in script.splitlines() if ln.startswith("module")), "")
    process = run_subjob(body, tmp_path / "job.pbs", 0, "77[0].pbs01", tmp_path)
    assert process.wait(timeout=120) == 0
    run_id = manifest.cohorts[1][0]
    assert (root / "runs" / run_id / "level_1" / "metrics.json").is_file()
    assert not (root / "runs" / manifest.cohorts[0][0]).exists()
    log = (paths.logs / "pbs" / "77[0].pbs01.log").read_text()
    assert "77[0].pbs01 on" in log and "cohort 1: exit code 0" in log
    assert not list(tmp_path.rglob("CANARY")) and not Path("CANARY").exists()


def test_sigterm_checkpoints_then_status_shows_it_and_resume_finishes_it(tmp_path, pbs):
    """Subjob 1 gets SIGTERM (qdel, preemption) mid-level: it writes its checkpoint and
    exits 75; `lth status` reports it from the run directory and the recorded qstat
    output; `lth resume` submits exactly that cohort, whose run then equals an
    uninterrupted one."""
    paths, manifest = make_sweep(
        tmp_path / "out", "flow", "seed=0,1", "launcher=pbs", "prune.levels=1", "train.duration=3ep"
    )
    PbsLauncher().launch(manifest, paths, [0, 1], manifest.config(manifest.cohorts[0][0]).launcher)
    script = pbs.calls("qsub")[0]["script"]

    assert run_subjob(script, tmp_path / "a.pbs", 0, "1234[0].pbs01", tmp_path).wait(120) == 0
    victim = manifest.cohorts[1][0]
    status = tmp_path / "out" / "runs" / victim / "status.json"
    job = run_subjob(script, tmp_path / "b.pbs", 1, "1234[1].pbs01", tmp_path)

    def mid_level_1() -> bool:
        s = load_json(status) if status.is_file() else {}
        return s.get("level") == 1 and 0 < s.get("iteration", 0) < s["of"]

    wait_for(mid_level_1, 120, "subjob 1 to be in the middle of level 1")
    os.kill(job.pid, signal.SIGTERM)  # to the job shell, which forwards it to the task
    assert job.wait(timeout=60) == STOPPED
    marker = load_json(status)
    assert marker["state"] == "stopped" and "by SIGTERM" in marker["reason"]
    assert marker["job"] == "1234[1].pbs01"
    assert (tmp_path / "out" / "runs" / victim / "level_1" / "partial.pt").is_file()

    pbs.replay("qstat_finished.json")  # the array has ended: subjob 1 expired with status 75
    assert lth_cluster("status", str(paths.dir)) == 1
    qstat = pbs.calls("qstat")[-1]["argv"]
    assert qstat == ["-x", "-t", "-f", "-F", "json", "1234[].pbs01"]

    assert lth_cluster("resume", str(paths.dir)) == 0
    resubmitted = pbs.calls("qsub")[2]
    assert "COHORTS=(1)" in resubmitted["script"] and "#PBS -J" not in resubmitted["script"]
    assert pbs.calls("qsub")[3]["argv"][:2] == ["-W", "depend=afterany:1236.pbs01"]
    assert [s.cohorts for s in load_submissions(paths)] == [[0, 1], [1]]

    # The new task first fails before training (here it cannot see the manifest, as with
    # a path that does not exist on the node): the run still holds the older marker, and
    # status says the latest task ended without a word and shows that task's log.
    hidden = paths.manifest.rename(paths.dir / "hidden.json")
    lost = run_subjob(resubmitted["script"], tmp_path / "x.pbs", None, "1236.pbs01", tmp_path)
    assert lost.wait(timeout=120) != 0
    hidden.rename(paths.manifest)
    (failed,) = [r for r in sweep_state(paths).runs if r.state == FAILED]
    assert failed.note.startswith(
        "its latest task 1236.pbs01 ended without training it; before, 1234[1].pbs01: stopped"
    )
    assert failed.log == str(paths.logs / "pbs" / "1236.pbs01.log")

    again = run_subjob(resubmitted["script"], tmp_path / "c.pbs", None, "1236.pbs01", tmp_path)
    assert again.wait(timeout=120) == 0
    assert (
        "level 1 from its mid-level checkpoint"
        in (paths.logs / "pbs" / "1236.pbs01.log").read_text()
    )
    assert lth_cluster("status", str(paths.dir)) == 0
    assert lth_cluster("resume", str(paths.dir)) == 0 and len(pbs.calls("qsub")) == 4

    reference = tmp_path / "reference"
    assert (
        main(
            [
                "sweep",
                *TINY,
                "seed=1",
                "prune.levels=1",
                "train.duration=3ep",
                f"out={reference}",
                "sweep.name=ref",
            ]
        )
        == 0
    )
    assert_same_results(results(tmp_path / "out", victim), results(reference, victim))


def test_the_walltime_timer_stops_the_task_at_a_checkpoint(tmp_path, pbs):
    """No signal from PBS is needed: `timeout` sends SIGTERM signal_margin seconds before
    the walltime (here after 13 - 3 = 10 s), and the task checkpoints and exits 75. The
    training is far too long to finish first, so only the timer can end it; what the
    test checks is the script's timer and the task's checkpoint, not the clock."""
    paths, manifest = make_sweep(
        tmp_path / "out",
        "timer",
        "seed=0",
        "launcher=pbs",
        "prune.levels=1",
        "train.duration=10000ep",
        "launcher.walltime=00:00:13",
        "launcher.signal_margin=3",
        "launcher.reduce=false",
    )
    PbsLauncher().launch(manifest, paths, [0], manifest.config(manifest.cohorts[0][0]).launcher)
    script = pbs.calls("qsub")[0]["script"]
    assert "timeout --preserve-status --signal=TERM 10 " in script
    job = run_subjob(script, tmp_path / "t.pbs", None, "1234.pbs01", tmp_path)
    assert job.wait(timeout=300) == STOPPED  # the task's own code, kept by --preserve-status
    run = tmp_path / "out" / "runs" / manifest.cohorts[0][0]
    status = load_json(run / "status.json")
    assert status["state"] == "stopped"
    stop = re.fullmatch(
        r"stopped at iteration (\d+) by SIGTERM \(checkpoint written\)", status["reason"]
    )
    assert stop, status["reason"]
    assert 0 < int(stop[1]) < status["of"]  # mid-level: the timer ended it, not the training
    (partial,) = run.glob(f"level_{status['level']}/partial.pt")
    assert load_tensors(partial)["iteration"] == int(stop[1])  # the checkpoint of that stop


RUNNING = {
    "1234[0].pbs01": ("X", False, False),
    "1234[1].pbs01": ("R", True, True),
    "1234[2].pbs01": ("Q", True, False),
}  # (state, live, on a node)
FINISHED = {f"1234[{i}].pbs01": ("X", False, False) for i in range(3)}


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("qstat_running.json", RUNNING),
        ("qstat_finished.json", FINISHED),
        ("qstat_invalid.json", RUNNING),  # not JSON: read from `qstat_running.txt` instead
    ],
)
def test_qstat_answers_are_read_from_json_or_else_text(pbs, fixture, expected):
    pbs.replay(fixture)
    tasks = ["1234[0].pbs01", "1234[1].pbs01", "1234[2].pbs01", "99[0].pbs01"]
    states = PbsLauncher().queue(tasks)
    assert {t: (s.state, s.live, s.on_node) for t, s in states.items()} == expected
    commands = [call["argv"] for call in pbs.calls("qstat")]
    assert commands[0] == ["-x", "-t", "-f", "-F", "json", "1234[].pbs01", "99[].pbs01"]
    if fixture == "qstat_invalid.json":  # that JSON does not parse: the text listing is asked
        assert commands[1] == ["-a", "-x", "-t", "-w", "1234[].pbs01", "99[].pbs01"]


def test_no_qstat_means_no_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert PbsLauncher().queue(["1234[0].pbs01"]) is None


def test_a_moved_sweep_resumed_by_a_relative_path_runs_from_any_directory(
    tmp_path, pbs, monkeypatch
):
    """`lth resume moved/sweeps/rel` typed in the directory above a moved sweep: the jobs
    start in another directory (launcher.workdir, as site presets set it), so the task,
    its logs and the reducer's arguments must be the absolute paths of where the sweep is
    now. The scripts' bodies are run there: both cohorts train and the reducer stores
    both runs in the moved sweep's store."""
    make_sweep(
        tmp_path / "out",
        "rel",
        "seed=0,1",
        "launcher=pbs",
        "prune.levels=1",
        "train.duration=1ep",
        "train.batch_size=64",
    )
    os.rename(tmp_path / "out", tmp_path / "moved")
    node = tmp_path / "node"
    node.mkdir()
    monkeypatch.chdir(tmp_path)
    assert lth_cluster("resume", "moved/sweeps/rel", f"launcher.workdir={node}") == 0

    sweep = tmp_path / "moved" / "sweeps" / "rel"
    array, reducer = pbs.calls("qsub")
    assert array["argv"] == [str(sweep / "jobs" / "array-0.pbs")]
    script = array["script"]
    words = shlex.split(next(ln for ln in script.splitlines() if ln.startswith("timeout ")))
    assert words[words.index("task") + 1] == str(sweep)
    assert directive(script, "-o") == [f"{sweep}/logs/pbs/"]
    assert f"export LTH_LOG={sweep}/logs/pbs/" in script
    command = shlex.split(reducer["script"].strip().splitlines()[-1])
    assert command[-3:] == ["reduce", str(tmp_path / "moved" / "runs"), str(sweep / "store.h5")]

    monkeypatch.chdir(node)
    for index in (0, 1):
        job = run_subjob(script, node / f"{index}.pbs", index, f"1234[{index}].pbs01", node)
        assert job.wait(timeout=120) == 0
    assert run_subjob(reducer["script"], node / "r.pbs", None, "1235.pbs01", node).wait(120) == 0
    assert lth_cluster("status", str(sweep)) == 0
    manifest = Manifest.load(SweepPaths(sweep))
    assert sorted(runs_frame(sweep / "store.h5")["run_id"]) == sorted(manifest.runs)
    assert not (tmp_path / "out").exists()
