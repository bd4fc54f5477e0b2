"""The manifest: every run of a sweep and the cohorts they train in, with stable indices.

Cohort index i is what array task i trains, on every backend. A run's family
(a source run and its controls) always shares a cohort, since the controls
derive their masks from the source's at every level.

manifest.json holds the output root relative to the sweep directory ("../.."), so a
sweep moved or copied together with its runs reads its own runs wherever it lands.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.config import Config, LauncherConfig, config_from_dict
from pipeline.errors import ManifestError
from pipeline.identity import identity_stamp, run_id
from pipeline.io import atomic_write, load_json, save_json
from pipeline.paths import Layout, SweepPaths
from pipeline.runs import Run, link_runs
from pipeline.steps import canonical_step


@dataclass
class Manifest:
    name: str
    root: str  # the output root holding runs/, absolute (stored relative to the sweep dir)
    runs: dict[str, dict]  # run_id -> resolved config
    cohorts: list[list[str]]  # cohort index -> run ids
    created: float = field(default_factory=time.time)

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.root))

    def config(self, run_id: str) -> Config:
        return config_from_dict(self.runs[run_id])

    @property
    def launcher(self) -> LauncherConfig:
        """The sweep's launcher settings (bookkeeping shared by every run of a sweep)."""
        return self.config(next(iter(self.runs))).launcher

    def cohort_runs(self, index: int) -> list[Run]:
        ids = self.cohorts[index]
        return link_runs([self.config(r) for r in ids], self.layout, ids)

    def save(self, paths: SweepPaths) -> None:
        save_json(
            paths.manifest,
            {
                "name": self.name,
                "root": os.path.relpath(Path(self.root).resolve(), paths.dir.resolve()),
                "created": self.created,
                "runs": self.runs,
                "cohorts": self.cohorts,
            },
        )

    @classmethod
    def load(cls, paths: SweepPaths) -> Manifest:
        if not paths.manifest.is_file():
            raise FileNotFoundError(f"{paths.dir} holds no manifest.json: not a sweep directory")
        try:
            raw = load_json(paths.manifest)
            name, stored, runs, cohorts = raw["name"], raw["root"], raw["runs"], raw["cohorts"]
            created = raw["created"]
        except (ValueError, KeyError, TypeError) as error:  # not JSON, or not a manifest's
            what = error.msg if isinstance(error, json.JSONDecodeError) else repr(error)
            raise ManifestError(
                f"{paths.manifest} is damaged ({what}): copy it again from the original "
                "sweep, or write it again with the sweep's overrides and `lth sweep ... "
                "--dry-run` (finished runs are kept: their ids do not change)"
            ) from None
        root = str(output_root(paths, name, stored))
        manifest = cls(name, root, runs, cohorts, created)
        manifest.check_identity(paths)
        return manifest

    def check_identity(self, paths: SweepPaths) -> None:
        """Each run id must still be its config's hash: a version of lth that hashes the
        stored configs differently would train them under other directories. Checked once
        per (manifest, identity code): the stamp of a passed check is kept beside it, so
        `lth status` of a 10,000-run sweep does not rehash every config each time."""
        stamp = hashlib.sha256(paths.manifest.read_bytes() + identity_stamp().encode()).hexdigest()
        marker = paths.identity_checked
        if marker.is_file() and marker.read_text() == stamp:
            return
        for key in self.runs:
            now = run_id(self.config(key))
            if now != key:
                raise ManifestError(
                    f"sweep {self.name}: run {key} of its manifest hashes to {now} with this "
                    "version of lth (its run identity changed since the sweep was written); "
                    "finish the sweep with the version that wrote it, or start it again"
                )
        with contextlib.suppress(OSError):  # a read-only sweep is checked every time
            atomic_write(marker, lambda handle: handle.write(stamp), binary=False)


_TOLD: set[Path] = set()  # sweeps whose pinned root was already said to be ignored


def output_root(paths: SweepPaths, name: str, stored: str) -> Path:
    """The absolute output root of the sweep in `paths`, from the root its manifest stores.

    A relative root is relative to the sweep directory. An absolute root (manifests
    written before roots were relative) is used only while the sweep still lives under
    it; a moved or copied sweep reads the runs beside it instead, and says so once.
    """
    here = paths.dir.resolve()
    if not os.path.isabs(stored):
        return Path(os.path.normpath(here / stored))
    pinned = Layout(Path(stored)).sweep(name).dir
    if pinned.is_dir() and os.path.samefile(pinned, here):
        return Path(stored)
    root = Path(os.path.normpath(here / os.path.relpath(stored, pinned)))
    if here not in _TOLD:
        _TOLD.add(here)
        print(
            f"note: sweep {name} was written under {stored} and is now in {here}: "
            f"its runs are read from {Layout(root).runs}",
            file=sys.stderr,
        )
    return root


def cohort_key(cfg: Config) -> str:
    """What members of one cohort must share: architecture, data, recipe, rewind point
    (steps in their one spelling, so `0ep` and `0it` share a cohort)."""
    train = asdict(cfg.train)
    for key in ("duration", "warmup", "eval_every"):
        train[key] = canonical_step(train[key])
    train["milestones"] = [canonical_step(m) for m in train["milestones"]]
    shared = {
        "model": asdict(cfg.model),
        "data": asdict(cfg.data),
        "train": train,
        "rewind": canonical_step(cfg.prune.rewind),
        "retrain": cfg.prune.retrain,
        "checkpoint_every": canonical_step(cfg.checkpoint_every),
    }
    return json.dumps(shared, sort_keys=True)


def _families(runs: list[Run]) -> list[list[Run]]:
    families: dict[str, list[Run]] = {}
    for run in runs:
        families.setdefault((run.source or run).id, []).append(run)
    return list(families.values())


def build_manifest(
    name: str, root: Path, configs: list[Config], cohort_size: Callable[[Config], int]
) -> Manifest:
    """Group runs into cohorts of at most `cohort_size(cfg)` runs (families kept whole)."""
    runs = link_runs(configs, Layout(root))
    by_key: dict[str, list[list[Run]]] = {}
    for family in _families(runs):
        by_key.setdefault(cohort_key(family[0].cfg), []).append(family)
    cohorts: list[list[str]] = []
    for families in by_key.values():
        limit = cohort_size(families[0][0].cfg)
        current: list[str] = []
        for family in families:
            if current and len(current) + len(family) > limit:
                cohorts.append(current)
                current = []
            current.extend(run.id for run in family)
        cohorts.append(current)
    resolved = {run.id: asdict(run.cfg) for run in runs}
    return Manifest(name, str(Path(root).resolve()), resolved, cohorts)
