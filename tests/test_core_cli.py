"""`lth sweep` end to end: bad configs fail at composition; kill -9 mid-level then resume."""

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pipeline.cli import main
from pipeline.io import load_json, load_tensors

TINY = ["sweep=none", "train.duration=3ep", "prune.levels=1", "launcher.threads=1"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("model=no_such_net", "model"),
        ("model.name=no_such_net", "model.name"),
        ("prune.densities=[0.5,1.5]", "prune.densities[1]"),
        ("prune.densities=[0.5,0]", "prune.densities[1]"),
        ("prune.densities=[0.5,0.2] prune.output_densities=[0.6]", "prune.output_densities"),
        ("prune.densities=[0.5,0.2] prune.output_densities=[0.6,0.7]", "prune.output_densities[1]"),
        ("prune.rewind=200ep", "prune.rewind"),
        ("prune.train_levels=[1]", "prune.train_levels"),
        ("prune.control=shuffle prune.train_levels=[2]", "prune.train_levels[0]"),
        ("prune.levels=-1", "prune.levels"),
        ("data=mnist data.root=/no/such/dir", "data.root"),
        ("data=cifar10", "data.root"),
        ("prune.fraction=1.0", "prune.fraction"),
        ("train.optimizer=adagrad", "train.optimizer"),
        ("prune.control=reinit prune.retrain=finetune", "prune.control"),
        ("prune.levels=abc", "prune.levels"),
        ("launcher.status_every=-1", "launcher.status_every"),
        ("launcher.gpu_memory_gb=-4", "launcher.gpu_memory_gb"),
        ("launcher.workers=-1", "launcher.workers"),
        ("train.precision=fp8", "train.precision"),
        ("launcher.optimizer_impl=magic", "launcher.optimizer_impl"),
        ("prune.method=snip prune.scope=layerwise", "prune.scope"),
        ("train.momentum=-0.9", "train.momentum"),
        ("model=conv2", "model.name"),
        ("seed=range(0,0)", "overrides"),
    ],
)
def test_bad_configs_fail_before_training_with_one_line_naming_the_key(
    tmp_path, capsys, override, key
):
    code = main(["sweep", *TINY, f"out={tmp_path}", *override.split()])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"lth sweep: error: {key}:"), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sweeps").exists()


def test_sweep_writes_a_manifest_and_cohorts(tmp_path):
    code = main(
        [
            "sweep",
            *TINY,
            f"out={tmp_path}",
            "seed=0,1,2",
            "prune.control=none,reinit",
            "sweep.name=s",
            "launcher.cohort_size=4",
            "--dry-run",
        ]
    )
    assert code == 0
    manifest = load_json(tmp_path / "sweeps" / "s" / "manifest.json")
    assert len(manifest["runs"]) == 6
    # families (a ticket and its control) are never split: cohorts of 4 hold 2 families
    assert [len(c) for c in manifest["cohorts"]] == [4, 2]
    for cohort in manifest["cohorts"]:
        seeds = [manifest["runs"][r]["seed"] for r in cohort]
        assert all(seeds.count(s) == 2 for s in seeds)


def _lth(*args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _results(root: Path) -> dict:
    out = {}
    for metrics in sorted(root.glob("runs/*/level_*/metrics.json")):
        m = load_json(metrics)
        mask = load_tensors(metrics.parent / "mask.pt")
        out[(m["run_id"], m["level"])] = (
            m["density"],
            m["test_accuracy"],
            m["best_iteration"],
            {n: t.tolist() for n, t in mask.items()},
        )
    return out


@pytest.mark.slow
def test_kill_minus_9_mid_level_then_resume_matches_an_uninterrupted_sweep(tmp_path):
    args = [
        "sweep",
        "sweep=none",
        "seed=0,1",
        "prune.control=none,shuffle",
        "train.duration=12ep",
        "prune.levels=2",
        "prune.fraction=0.5",
        "launcher.threads=1",
    ]
    reference = _lth(*args, f"out={tmp_path / 'a'}", cwd=tmp_path)
    victim = _lth(*args, f"out={tmp_path / 'b'}", cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline:
        if list((tmp_path / "b").glob("runs/*/level_1/partial.pt")):
            break
        assert victim.poll() is None, victim.stdout.read().decode()
        time.sleep(0.01)
    else:
        pytest.fail("the sweep never reached the middle of level 1")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done_before = _results(tmp_path / "b")
    assert (0 in {lv for _, lv in done_before}) and not any(lv == 1 for _, lv in done_before)
    resumed = _lth(*args, f"out={tmp_path / 'b'}", cwd=tmp_path)
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read().decode()
    assert reference.wait(timeout=300) == 0, reference.stdout.read().decode()
    expected, got = _results(tmp_path / "a"), _results(tmp_path / "b")
    assert len(expected) == 2 * 3 + 2 * 2
    assert got == expected
    assert not list((tmp_path / "b").glob("runs/*/level_*/partial.pt"))
    assert torch.tensor([v[1] for v in got.values()]).min() > 0.2


def test_local_workers_run_cohorts_in_parallel_processes_with_the_same_results(tmp_path):
    args = [
        "sweep",
        "sweep=none",
        "seed=0,1",
        "train.duration=2ep",
        "prune.levels=1",
        "launcher.cohort_size=1",
        "launcher.threads=1",
    ]
    assert main([*args, f"out={tmp_path / 'one'}"]) == 0
    assert main([*args, f"out={tmp_path / 'two'}", "launcher.workers=2"]) == 0
    logs = sorted((tmp_path / "two" / "sweeps" / "default" / "logs").glob("local-*.log"))
    assert [p.name for p in logs] == ["local-0.log", "local-1.log"]
    expected, got = _results(tmp_path / "one"), _results(tmp_path / "two")
    assert len(expected) == 4 and got == expected
    # the sweep's results table: mean ± std over the two seeds, and each seed at level 1
    accuracies, densities = {}, {}
    for (_, level), (density, accuracy, _, _) in expected.items():
        accuracies.setdefault(level, []).append(accuracy)
        densities.setdefault(level, []).append(density)
    mean, std = statistics.mean(accuracies[1]), statistics.stdev(accuracies[1])
    table = (tmp_path / "one" / "sweeps" / "default" / "results.md").read_text()
    assert f"| 1 | {sum(densities[1]) / 2:.4f} | {mean:.3f} ± {std:.3f} (n=2) |" in table
    assert "Per seed at level 1" in table
    for seed_accuracy in sorted(accuracies[1]):
        assert f"{seed_accuracy:.3f}" in table.split("Per seed at level 1")[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_local_sweep_on_a_gpu_this_machine_lacks_fails_before_training(tmp_path, capsys):
    assert main(["sweep", *TINY, f"out={tmp_path}", "launcher.device=cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lth sweep: error: launcher.device: cuda: no CUDA GPU is visible")
    assert not tmp_path.joinpath("sweeps").exists()
    # a cluster's tasks run on GPU nodes this login node cannot see: sized from the nodes'
    # GPU memory, which a login node without a GPU must be told
    slurm = ["sweep", *TINY, f"out={tmp_path}", "launcher=slurm", "launcher.device=cuda"]
    assert main([*slurm, "--dry-run"]) == 2
    assert "launcher.gpu_memory_gb" in capsys.readouterr().err
    assert main([*slurm, "launcher.gpu_memory_gb=80", "--dry-run"]) == 0
