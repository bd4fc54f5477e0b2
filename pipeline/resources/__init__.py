"""Files that ship inside the package: the Hydra config groups (`conf/`) and the job
templates (`slurm/`, `pbs/`). In the source tree they are links to the top-level folders
of the same names; in an installed wheel they are copies."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource(*parts: str) -> Path:
    """The path of a packaged file or folder, e.g. resource("pbs", "array.pbs.in")."""
    return Path(str(files(__name__).joinpath(*parts)))


CONF_DIR = resource("conf")
