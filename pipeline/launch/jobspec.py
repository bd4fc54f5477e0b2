"""What every cluster job is made of, whatever the scheduler: times, names, commands.

Values from the config reach a shell only through `shlex.quote` here or in the
backends; `launcher.setup` lines are the one exception: they are shell code by
design (e.g. `source $WORKDIR/venv/bin/activate`), written by whoever writes the preset.
"""

from __future__ import annotations

import re
import shlex
import shutil
import string
import sys
from pathlib import Path

from pipeline.config import LauncherConfig
from pipeline.resources import resource


def walltime_seconds(text: str) -> int:
    """Seconds in "[D-][HH:]MM:SS" (or plain seconds), the form both schedulers accept."""
    days, dash, clock = str(text).strip().rpartition("-")
    parts = clock.split(":")
    if len(parts) > 3 or not all(p.isdigit() for p in [*parts, days if dash else "0"]):
        raise ValueError(f"cannot read walltime {text!r}: use HH:MM:SS or D-HH:MM:SS")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return int(days or 0) * 86400 + seconds


def hms(seconds: int) -> str:
    """Seconds as HH:MM:SS (hours may exceed 24), PBS's walltime form."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def job_name(sweep_name: str, suffix: str = "") -> str:
    """A scheduler-safe job name: PBS wants a leading alphanumeric and no white space."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", sweep_name)
    return f"lth-{safe}{suffix}"[:200]


def beside_python(program: str) -> str | None:
    """`program` from this interpreter's environment (its bin/), if it has one there."""
    return shutil.which(program, path=str(Path(sys.executable).parent))


def lth_command() -> list[str]:
    """How a job calls `lth`: the console script beside this interpreter, so jobs use the
    same installation as the submitting login node (and not a stray `pipeline/` in $PWD)."""
    script = beside_python("lth")
    return [script] if script else [sys.executable, "-m", "pipeline.cli"]


def shell(words: list[str]) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def setup_lines(cfg: LauncherConfig) -> list[str]:
    """`module load` for each module (quoted), then the preset's setup lines (verbatim)."""
    return [f"module load {shlex.quote(m)}" for m in cfg.modules] + list(cfg.setup)


class ScriptTemplate(string.Template):
    """`@{name}` placeholders, so that the shell's own `$VAR`s need no escaping."""

    delimiter = "@"


def render(template: str, **values: str) -> str:
    """Fill the packaged `template` ("pbs/array.pbs.in"); every placeholder must be given
    (values already quoted)."""
    return ScriptTemplate(resource(template).read_text()).substitute(values)
