"""`lth status` without a scheduler, and a failure that surfaces: a real `lth task`
whose training raises exits non-zero and leaves a marker that status shows.

The cluster backends have their own tests (test_slurm_*, test_pbs_*).
"""

from __future__ import annotations

from sweep_helpers import dry_run, lth_cluster, run_dir, task

from pipeline.io import load_json
from pipeline.launch.status import FAILED, sweep_state


def test_a_task_whose_training_raises_exits_non_zero_and_status_shows_why(tmp_path, capsys):
    paths, manifest = dry_run(tmp_path)
    assert lth_cluster("status", str(paths.dir)) == 1
    assert capsys.readouterr().out.count("never started") >= 2

    broken = run_dir(manifest, 0) / "level_0" / "partial.pt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a checkpoint")  # what a torn copy of a checkpoint looks like
    log = tmp_path / "task.log"
    assert task(paths, 0, 1, log=log).wait(timeout=120) == 1  # cohort 1 still trained

    marker = load_json(run_dir(manifest, 0) / "status.json")
    assert marker["state"] == "failed" and marker["log"] == str(log)
    assert "Error" in marker["error"].split(":")[0]
    assert load_json(run_dir(manifest, 1) / "status.json")["state"] == "done"

    assert lth_cluster("status", str(paths.dir)) == 1
    out = capsys.readouterr().out
    assert "1 done, 1 failed" in out and log.read_text().splitlines()[-1] in out  # its tail
    (failed,) = [r for r in sweep_state(paths).runs if r.state == FAILED]
    assert failed.cohort == 0 and failed.log == str(log) and failed.note == marker["error"]
