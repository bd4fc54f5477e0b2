"""The run model: a run's config, its directory and (for a control) its source run.

Used by the launchers, `lth status`, the study and the results table, so it imports
neither torch nor the training code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.identity import run_id, source_config
from pipeline.io import load_json
from pipeline.methods import METHODS
from pipeline.paths import Layout, RunPaths
from pipeline.prune.ladder import level_count
from pipeline.steps import Step


@dataclass
class Run:
    cfg: Config
    paths: RunPaths
    source: Run | None = None

    @property
    def id(self) -> str:
        return self.paths.dir.name

    @property
    def is_control(self) -> bool:
        return self.cfg.prune.control != "none"

    @property
    def levels(self) -> int:
        return level_count(self.cfg.prune)

    @property
    def first_level(self) -> int:
        """Controls start at level 1: their level 0 is their source's dense network. So do
        methods that never look at the trained dense net, when every level restarts from
        the initialization (retrain=rewind to iteration 0)."""
        if self.is_control:
            return 1
        prune = self.cfg.prune
        skips = (
            not METHODS[prune.method].uses_dense
            and prune.retrain == "rewind"
            and Step.parse(prune.rewind).is_zero
        )
        return 1 if skips else 0

    @property
    def planned_levels(self) -> list[int]:
        """The levels this run trains: all from `first_level` on, or `prune.train_levels`."""
        chosen = self.cfg.prune.train_levels
        return [
            lv for lv in range(self.first_level, self.levels + 1) if chosen is None or lv in chosen
        ]

    def pending_levels(self) -> list[int]:
        done = set(self.paths.completed_levels())
        return [lv for lv in self.planned_levels if lv not in done]


def link_runs(configs: list[Config], layout: Layout, ids: list[str] | None = None) -> list[Run]:
    """Runs for `configs` (whose run ids are `ids` when the caller knows them), each
    control linked to its source (added if missing)."""
    runs: dict[str, Run] = {}
    for cfg, rid in zip(configs, ids or [run_id(cfg) for cfg in configs], strict=True):
        known = runs.setdefault(rid, Run(cfg, layout.run(rid)))
        if known.cfg != cfg:
            raise ConfigError(
                "sweep",
                f"run {known.id} appears twice with different "
                "bookkeeping (levels, paths or launcher): sweep only one value",
            )
    # a control's source is usually in the same list: found by its config, not rehashed
    by_config = {repr(run.cfg): run for run in runs.values() if not run.is_control}
    for run in list(runs.values()):
        if run.is_control:
            src = source_config(run.cfg)
            run.source = by_config.get(repr(src))
            if run.source is None:
                rid = run_id(src)
                run.source = runs.setdefault(rid, Run(src, layout.run(rid)))
    return list(runs.values())


def level_metrics(run_paths: RunPaths) -> list[dict]:
    return [load_json(run_paths.level(lv).metrics) for lv in run_paths.completed_levels()]
