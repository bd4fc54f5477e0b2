"""What to reduce: the complete levels of the run directories that the store does not hold.

Stored runs are known from the store's runs table (model, dataset and seed group columns);
a stored config is parsed only for runs stored without a seed group (older writers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from pipeline.config import Config, config_from_dict
from pipeline.data import dataset_spec
from pipeline.identity import run_id
from pipeline.io import load_yaml
from pipeline.models.members import build_plain, prunable_names
from pipeline.paths import RunPaths
from pipeline.store.reader import open_view, store_keys
from pipeline.store.schema import RUNS


@dataclass(frozen=True)
class MaskSource:
    """Where a sibling run's level masks are: its run directory, else the store."""

    run_id: str
    dir: Path | None
    dir_levels: frozenset[int]
    store_levels: frozenset[int]


@dataclass(frozen=True)
class RunTask:
    """One run's levels to reduce, and the runs that differ from it only by seed.

    `refresh` holds stored levels whose across-seed rows are recomputed because a sibling
    adds the same level in this reduce (their means are over every seed the store holds).
    """

    run_id: str
    source: MaskSource  # the run's own masks (its directory holds the `levels`)
    cfg: Config | None  # from the run directory; None for a run known only from the store
    model: str
    dataset: str
    group: str  # seed group: runs that differ from it only by seed share it
    levels: tuple[int, ...]
    new_run: bool
    weights: int  # prunable weights of the model
    siblings: tuple[MaskSource, ...]
    refresh: tuple[int, ...] = ()

    @property
    def units(self) -> int:
        """Levels of work, as counted by the progress bar."""
        return len(self.levels) + len(self.refresh)

    @property
    def cost(self) -> int:
        """Feature work grows with the weights of every level computed or refreshed."""
        return self.weights * self.units


@dataclass(frozen=True)
class Plan:
    found: int  # run directories (with a config.yaml) under the runs directory
    tasks: list[RunTask]
    skipped: dict[str, str]  # run id -> why it was left out (or not used as a sibling)


def seed_group(cfg: Config) -> str:
    """Identity of a run's config with the seed left out: its seed siblings share it."""
    return run_id(dataclasses.replace(cfg, seed=0))


@cache
def prunable_weights(model: str, dataset: str) -> int:
    spec = dataset_spec(dataset)
    net = build_plain(model, spec.input_shape, spec.num_classes)
    names = set(prunable_names(net))
    return sum(p.numel() for n, p in net.named_parameters() if n in names)


@dataclass(frozen=True)
class Known:
    """What planning needs of a run: its architecture, data and seed group."""

    model: str
    dataset: str
    group: str
    cfg: Config | None = None


def _known(cfg: Config) -> Known:
    return Known(cfg.model.name, cfg.data.name, seed_group(cfg), cfg)


def _stored_runs(store: Path, wanted: set[str], skipped: dict[str, str]) -> dict[str, Known]:
    """The stored runs in `wanted`, from the runs table's columns."""
    if not wanted:
        return {}
    view = open_view(store)
    cols, _ = view.read(RUNS, ["run_id", "model", "dataset", "seed_group"])
    rows = [r for r in zip(*cols.values(), strict=True) if r[0] in wanted]
    if any(not group for *_, group in rows):  # stored without a seed group: parse the config
        texts = dict(zip(*view.read(RUNS, ["run_id", "config_yaml"])[0].values(), strict=True))
    known = {}
    for rid, model, dataset, group in rows:
        try:
            known[rid] = (
                Known(model, dataset, group)
                if group
                else _known(config_from_dict(yaml.safe_load(texts[rid])))
            )
        except Exception as err:  # an older schema's config: not usable as a sibling
            skipped[rid] = f"stored config_yaml: {err}"
    return known


def make_plan(runs_dir: Path, store: Path) -> Plan:
    """Tasks for every run directory under `runs_dir` with complete levels not in `store`."""
    stored_runs, stored_levels = store_keys(store)
    by_store: dict[str, set[int]] = {}
    for rid, level in stored_levels:
        by_store.setdefault(rid, set()).add(level)

    runs: dict[str, Known] = {}
    weights: dict[str, int] = {}
    complete: dict[str, list[int]] = {}
    skipped: dict[str, str] = {}
    found = 0
    for child in sorted(runs_dir.iterdir()):
        paths = RunPaths(child)
        if not child.is_dir():
            continue
        if not paths.config.is_file():
            skipped[child.name] = f"no {paths.config.name} in {child}: not a run of `lth sweep`"
            continue
        found += 1
        try:
            runs[child.name] = _known(config_from_dict(load_yaml(paths.config)))
        except Exception as err:  # one unreadable run must not stop the others
            skipped[child.name] = f"{paths.config}: {_first_line(err)}"
            continue
        complete[child.name] = paths.completed_levels()
    runs.update(_stored_runs(store, stored_runs - set(runs), skipped))
    for rid, known in list(runs.items()):
        try:
            weights[rid] = prunable_weights(known.model, known.dataset)
        except Exception as err:
            skipped[rid] = f"model: {err}"
            del runs[rid]
            complete.pop(rid, None)

    sources: dict[str, list[MaskSource]] = {}
    for rid in sorted(runs):
        source = MaskSource(
            rid,
            runs_dir / rid if rid in complete else None,
            frozenset(complete.get(rid, ())),
            frozenset(by_store.get(rid, ())),
        )
        sources.setdefault(runs[rid].group, []).append(source)

    new_levels = {
        rid: tuple(lv for lv in levels if (rid, lv) not in stored_levels)
        for rid, levels in complete.items()
    }
    tasks = []
    for group in sources.values():
        grown = {lv for s in group for lv in new_levels.get(s.run_id, ())}
        for source in group:
            rid, known = source.run_id, runs[source.run_id]
            new = new_levels.get(rid, ())
            refresh = tuple(sorted(grown & source.store_levels))
            if not new and not refresh:
                continue
            siblings = tuple(s for s in group if s.run_id != rid)
            tasks.append(
                RunTask(
                    rid,
                    source,
                    known.cfg,
                    known.model,
                    known.dataset,
                    known.group,
                    new,
                    rid not in stored_runs,
                    weights[rid],
                    siblings,
                    refresh,
                )
            )
    return Plan(found, tasks, skipped)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
