"""The package as a user installs it: a wheel (not an editable checkout) in a fresh
environment finds its configs and job templates and runs `lth sweep --dry-run` from an
unrelated directory. The fresh environment borrows this one's dependencies through a path
file (no network), but not its editable link to the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the fresh environment must see only what it installed and borrowed, never a source tree
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_runs_a_dry_sweep(tmp_path):
    # built from a copy: an in-tree build/ would carry modules the source no longer has
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".whl", "build", "*.egg-info", "lth_out", "__pycache__"
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(source),
            "-w",
            str(wheels),
        ],
        check=True,
        capture_output=True,
    )
    env_dir = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
    ).stdout.strip()
    # this environment's packages, read as a plain path entry: its editable finder stays off
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("*.whl")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        env=ENV,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = subprocess.run(
        [str(env_dir / "bin" / "lth"), "sweep", "--dry-run", "sweep.name=wheel", "out=out"],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((work / "out/sweeps/wheel/manifest.json").read_text())
    assert len(manifest["runs"]) == 6  # the demo preset: 2 seeds x (imp, reinit, shuffle)
    where = subprocess.run(
        [str(python), "-c", "import pipeline.resources as r; print(r.CONF_DIR)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    ).stdout.strip()
    assert where.startswith(site) and Path(where, "launcher", "pbs.yaml").is_file()
    template = Path(where).parent / "pbs" / "array.pbs.in"
    assert "@{" in template.read_text()
