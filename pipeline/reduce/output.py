"""One rank's part of a reduce: its runs' masks stream into its own shard as each run ends.

A rank holds one run's masks at a time; what it keeps until the end is small (the records,
curve points and feature rows of its runs), because across-seed rows of a seed group in
which some run failed (on any rank) are dropped only once every rank has reported.

A full disk does not raise here: the rank drops its shard, stops adding, and says so in its
report (`full`), so that every rank still meets the others at the collectives and all of
them end with the same one-line error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.io import disk_full
from pipeline.store.index import shard_dir
from pipeline.store.reader import StoreView
from pipeline.store.records import LevelPayload, RunRecord
from pipeline.store.schema import CURVES, FEATURES, LEVELS, RUNS, shard_name
from pipeline.store.shard import ShardWriter
from pipeline.store.writer import (
    NOTHING,
    Added,
    feature_change,
    feature_frame,
    records_frame,
    shard_stats,
)

from .plan import RunTask
from .run import RunResult
from .stability import ACROSS_SEED_FEATURES


@dataclasses.dataclass(frozen=True)
class RankReport:
    """What a rank sends to rank 0: small metadata only."""

    entry: dict | None  # the shard's manifest entry; None when it adds nothing
    added: Added
    runs: int  # runs reduced without error
    failed: dict[str, str]  # run id -> why (a damaged file's path, or a traceback)
    warnings: list[str]
    full: bool = False  # the disk filled up: this rank wrote nothing


class RankOutput:
    """Collects one rank's results; masks go to its shard file as each run is added."""

    def __init__(self, store: Path, write: int, rank: int):
        self.shard: ShardWriter | None = None
        self.full = False  # the disk filled up: the shard is dropped, nothing more is added
        self.runs: list[RunRecord] = []
        self.levels: list = []
        self.curves: list = []
        self.features: list[tuple[str, LevelPayload]] = []  # (seed group, payload sans masks)
        self.stored: set[tuple[str, int]] = set()  # refreshed (run, level)s: already stored
        self.failed: dict[str, str] = {}
        self.failed_groups: set[str] = set()
        self.warnings: list[str] = []
        self.good = 0
        try:
            self.shard = ShardWriter(shard_dir(store) / shard_name(write, f"r{rank}"), write)
        except OSError as err:
            self._stop(err)

    def _stop(self, error: OSError) -> None:
        """Drop the shard; on a full disk add nothing more, any other error is raised."""
        self.discard()
        if not disk_full(error):
            raise error
        self.full = True

    @property
    def mask_rows(self) -> dict[str, int]:
        return self.shard.mask_rows if self.shard is not None else {}

    def add(self, task: RunTask, result: RunResult) -> None:
        self.warnings.extend(result.warnings)
        if result.sibling_missing:  # its across-seed rows would miss a seed of the group
            self.failed_groups.add(task.group)
        if result.error is not None:
            self.failed[result.run_id] = result.error
            self.failed_groups.add(task.group)
            return
        if self.full:
            return
        self.good += 1
        self.stored.update((task.run_id, level) for level in task.refresh)
        if result.run is not None:
            self.runs.append(result.run)
        self.levels.extend(result.levels)
        self.curves.extend(result.curves)
        try:
            for p in result.payloads:
                for layer, mask in p.masks.items():
                    self.shard.add_mask(p.run_id, p.level, layer, mask)
                self.features.append((task.group, dataclasses.replace(p, masks={})))
        except OSError as err:
            self._stop(err)

    def finish(self, view: StoreView | None, broken: set[str], base: dict[str, int]) -> RankReport:
        """Write the shard (`base`: its first store row per mask shape) unless it adds
        nothing. In `broken` seed groups, across-seed rows would count a seed the store
        lacks: they wait for a later reduce (the failed run's levels, once stored, refresh
        them)."""
        if self.full:
            return self._report(None, NOTHING)
        payloads = [
            dataclasses.replace(
                p,
                feature_rows=[r for r in p.feature_rows if r[1] not in ACROSS_SEED_FEATURES],
            )
            if group in broken
            else p
            for group, p in self.features
        ]
        features = feature_frame(payloads)
        change = feature_change(view, features, self.stored, ACROSS_SEED_FEATURES)
        tables = {
            RUNS: records_frame(RUNS, self.runs),
            LEVELS: records_frame(LEVELS, self.levels),
            CURVES: records_frame(CURVES, self.curves),
            FEATURES: features,
        }
        masks = sum(self.shard.mask_rows.values())
        added = Added(
            runs=len(tables[RUNS]),
            levels=len(tables[LEVELS]),
            curves=len(tables[CURVES]),
            masks=masks,
            feature_rows=change.rows,
            feature_cells=change.cells,
            replaced_cells=change.replaced,
        )
        if added == NOTHING:
            self.shard.discard()
            return self._report(None, added)
        try:
            entry = self.shard.finish(
                tables,
                base,
                {
                    "replace": sorted(ACROSS_SEED_FEATURES & set(features.columns)),
                    "overrides": change.overrides,
                },
                lambda frames: shard_stats(frames, change),
            )
        except OSError as err:
            self._stop(err)
            return self._report(None, NOTHING)
        except BaseException:
            self.shard.discard()
            raise
        return self._report(entry, added)

    def _report(self, entry: dict | None, added: Added) -> RankReport:
        return RankReport(entry, added, self.good, self.failed, self.warnings, self.full)

    def discard(self) -> None:
        """Drop the shard, written or not (nothing of it was committed)."""
        if self.shard is not None:
            self.shard.discard()
