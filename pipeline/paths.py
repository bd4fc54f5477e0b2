"""Every on-disk path of the pipeline, defined once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LevelPaths:
    dir: Path

    @property
    def mask(self) -> Path:
        return self.dir / "mask.pt"

    @property
    def mask_flops(self) -> Path:
        """What building the mask spent (a method's search), beside the mask."""
        return self.dir / "mask_flops.json"

    @property
    def mask_notes(self) -> Path:
        """What the method recorded about the mask it built (e.g. components that did not act)."""
        return self.dir / "mask_notes.json"

    @property
    def grow_weights(self) -> Path:
        """Steered dynamic sparse training: per-position regrowth weights, beside the mask."""
        return self.dir / "grow_weights.pt"

    @property
    def final(self) -> Path:
        return self.dir / "final.pt"

    @property
    def metrics(self) -> Path:
        """Written last: its presence marks the level complete."""
        return self.dir / "metrics.json"

    @property
    def partial(self) -> Path:
        """Mid-level checkpoint, removed when the level completes."""
        return self.dir / "partial.pt"

    def complete(self) -> bool:
        return self.metrics.is_file()


@dataclass(frozen=True)
class RunPaths:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def status(self) -> Path:
        return self.dir / "status.json"

    @property
    def lock(self) -> Path:
        """The advisory lock of whoever trains this run (pipeline/locks.py); never written."""
        return self.dir / "train.lock"

    @property
    def rewind(self) -> Path:
        """Weights at the rewind point, the start of every retraining level."""
        return self.dir / "rewind.pt"

    def level(self, level: int) -> LevelPaths:
        return LevelPaths(self.dir / f"level_{level}")

    def completed_levels(self) -> list[int]:
        found = []
        for child in self.dir.glob("level_*"):
            suffix = child.name.removeprefix("level_")
            if suffix.isdigit() and LevelPaths(child).complete():
                found.append(int(suffix))
        return sorted(found)


@dataclass(frozen=True)
class Layout:
    """The output root: runs shared by every sweep, and one folder per sweep."""

    root: Path

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def store(self) -> Path:
        """A feature store of every run under this root (what `lth study` reduces into)."""
        return self.root / "store.h5"

    def run(self, run_id: str) -> RunPaths:
        return RunPaths(self.runs / run_id)

    def sweep(self, name: str) -> SweepPaths:
        return SweepPaths(self.root / "sweeps" / name)


@dataclass(frozen=True)
class SweepPaths:
    dir: Path

    def resolved(self) -> SweepPaths:
        """The same sweep by its absolute path: what job payloads carry, so that a job on a
        compute node (another working directory) finds it whatever path the caller typed."""
        return SweepPaths(self.dir.resolve())

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def table(self) -> Path:
        return self.dir / "results.md"

    @property
    def submissions(self) -> Path:
        """Every cluster submission of this sweep: job ids, cohorts, time."""
        return self.dir / "submissions.json"

    @property
    def scripts(self) -> Path:
        """Rendered job scripts, kept so a submission can be read and resubmitted by hand."""
        return self.dir / "jobs"

    @property
    def identity_checked(self) -> Path:
        """The stamp of the last run-id check of the manifest (skipped while it holds)."""
        return self.dir / ".identity-checked"

    @property
    def inductor_cache(self) -> Path:
        """Compiled kernels of `launcher.compile` (unless the job sets TORCHINDUCTOR_CACHE_DIR)."""
        return self.dir / "inductor_cache"

    @property
    def store(self) -> Path:
        """The reducer's HDF5 feature store for this sweep."""
        return self.dir / "store.h5"

    def scheduler_logs(self, backend: str) -> Path:
        return self.logs / backend
