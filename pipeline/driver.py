"""The IMP driver: a cohort of runs goes level by level (train -> prune -> rewind).

Every level of every run is written to its run directory as it completes, and a
level in progress checkpoints every `checkpoint_every`; running the cohort again
skips finished levels and resumes the partial ones. Members of one cohort share
model, data, recipe and rewind point; each has its own method, mask and seed.
A control trains in the same cohort as its source run, whose level-L mask it
derives from.

One process trains a run at a time: the driver takes each run's lock (locks.py) for
the length of the cohort. A run locked by another process is left to it (its
status.json too), and so is a control whose unfinished source is: the control needs
the source's mask of every level, which only the source's holder writes.
`CohortDriver.run` returns the runs it left; the task runner reports them.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from itertools import groupby

import torch
from omegaconf import OmegaConf

from pipeline.data.batches import epoch_seed, iterations_per_epoch
from pipeline.data.tensors import TensorDataset
from pipeline.io import load_tensors, save_json, save_tensors, save_yaml
from pipeline.locks import Lock
from pipeline.methods import METHODS
from pipeline.models.members import build_plain, initial_state, prunable_names
from pipeline.paths import LevelPaths
from pipeline.prune import flops
from pipeline.prune.context import PruneContext
from pipeline.prune.controls import CONTROLS
from pipeline.prune.dynamic import MaskUpdate
from pipeline.prune.ladder import ladder
from pipeline.prune.masks import Masks, density, full_masks, layer_densities, mask_generator
from pipeline.runs import Run
from pipeline.steps import Schedule
from pipeline.train.schedule import constant, learning_rate
from pipeline.train.trainer import CohortTrainer, Hooks, LevelPlan, Member, MemberResult

StateDict = dict[str, torch.Tensor]


def reinit_seed(seed: int) -> int:
    """The fresh-initialization control's seed: fixed, and distinct from every run seed."""
    return epoch_seed(seed, 0, 0x7265696E) % (2**31) + 2**31


class Reporter:
    """Progress callbacks; the launcher shows them, the default ignores them."""

    def level_started(
        self, level: int, runs: list[Run], start: int, end: int, iterations_per_epoch: int
    ) -> None: ...

    def evaluated(self, iteration: int, accuracy: torch.Tensor) -> None: ...

    def level_finished(self, level: int, runs: list[Run], metrics: list[dict]) -> None: ...


class _LevelHooks(Hooks):
    def __init__(self, driver: CohortDriver, runs: list[Run], level: int, end: int):
        self.driver, self.runs, self.level, self.end = driver, runs, level, end
        self.status_written = 0.0

    def on_evaluation(self, iteration: int, accuracy: torch.Tensor) -> None:
        self.driver.reporter.evaluated(iteration, accuracy)
        now = time.time()
        if now - self.status_written < self.driver.status_every and iteration < self.end:
            return
        self.status_written = now
        for run in self.runs:
            save_json(
                run.paths.status,
                {
                    "state": "running",
                    "level": self.level,
                    "iteration": iteration,
                    "of": self.end,
                    "updated": now,
                },
                durable=False,
            )

    def on_checkpoint(self, iteration: int, members: list[Member]) -> None:
        for run, member in zip(self.runs, members):
            payload = dataclasses.asdict(member)  # the mask too: dynamic training moves it
            save_tensors(run.paths.level(self.level).partial, payload)

    def on_snapshot(self, iteration: int, states: list[StateDict]) -> None:
        for run, state in zip(self.runs, states):
            save_tensors(run.paths.rewind, state)

    def should_stop(self) -> bool:
        return self.driver.should_stop()


class CohortDriver:
    def __init__(
        self,
        runs: list[Run],
        data: TensorDataset,
        device: torch.device,
        reporter: Reporter | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ):
        self.runs, self.data, self.device = runs, data, device
        self.reporter = reporter or Reporter()
        self.should_stop = should_stop
        cfg = runs[0].cfg
        self.model, self.train_cfg = cfg.model.name, cfg.train
        ipe = iterations_per_epoch(len(data.y_train), cfg.train.batch_size, cfg.train.drop_last)
        self.schedule = Schedule.resolve(cfg.train, ipe, cfg.prune.rewind, cfg.checkpoint_every)
        self.retrain = cfg.prune.retrain
        self.status_every = cfg.launcher.status_every
        shapes_model = build_plain(self.model, data.input_shape, data.num_classes)
        self.names = prunable_names(shapes_model)
        self.shapes = {n: p.shape for n, p in shapes_model.named_parameters() if n in self.names}

    # -- what each member starts from -------------------------------------------------
    def _init(self, seed: int) -> StateDict:
        return initial_state(self.model, self.data.input_shape, self.data.num_classes, seed)

    def _trained(self, run: Run, level: int) -> StateDict:
        owner = run.source if run.is_control and level == 0 else run
        return load_tensors(owner.paths.level(level).final)

    def _rewind_state(self, run: Run) -> StateDict:
        if not run.paths.rewind.is_file():
            control = CONTROLS.get(run.cfg.prune.control)
            if control and control.fresh_init:
                state = self._init(reinit_seed(run.cfg.seed))
            elif control:
                state = load_tensors(run.source.paths.rewind)
            else:  # a run that skipped level 0, which it does only when rewinding to 0
                state = self._init(run.cfg.seed)
            save_tensors(run.paths.rewind, state)
        return load_tensors(run.paths.rewind)

    def _mask(self, run: Run, level: int) -> Masks:
        path = run.paths.level(level).mask
        if path.is_file():
            return load_tensors(path)
        if run.is_control:
            source_mask = load_tensors(run.source.paths.level(level).mask)
            control = CONTROLS[run.cfg.prune.control]
            mask = control.derive_mask(source_mask, mask_generator(run.cfg.seed, level, 1))
        else:
            previous = (
                load_tensors(run.paths.level(level - 1).mask)
                if level > 1
                else full_masks(self.shapes)
            )
            ctx = PruneContext(
                level=level,
                rung=ladder(run.cfg.prune)[level - 1],
                names=self.names,
                scope=run.cfg.prune.scope,
                previous_mask=previous,
                trained=lambda lv: self._trained(run, lv),
                shapes=self.shapes,
                generator=mask_generator(run.cfg.seed, level, 0),
                model=self.model,
                data=self.data,
                rewind_state=lambda: self._rewind_state(run),
                seed=run.cfg.seed,
                config=run.cfg.prune,
                dataset=run.cfg.data.name,
                train=run.cfg.train,
            )
            mask = METHODS[run.cfg.prune.method].build(ctx)
            self._save_beside_mask(run.paths.level(level), ctx)
        save_tensors(path, mask)
        return mask

    @staticmethod
    def _save_beside_mask(paths: LevelPaths, ctx: PruneContext) -> None:
        """What building the mask produced besides it; written first, so a level whose mask
        exists has them all (the mask is the commit point)."""
        if ctx.spent_flops:
            flops.save_mask_flops(paths, sum(ctx.spent_flops))
        if ctx.notes:
            save_json(paths.mask_notes, ctx.notes)
        if ctx.grow_weights:
            save_tensors(paths.grow_weights, ctx.grow_weights)

    def _member(self, run: Run, level: int) -> Member:
        paths = run.paths.level(level)
        mask = None if level == 0 else self._mask(run, level)
        if paths.partial.is_file():  # its mask where it stopped, if it saved one
            return Member(**{"mask": mask, **load_tensors(paths.partial)})
        if level == 0:
            state = self._init(run.cfg.seed)
            if self.schedule.rewind == 0:
                save_tensors(run.paths.rewind, state)
        elif self.retrain == "rewind":
            state = self._rewind_state(run)
        else:
            self._rewind_state(run)
            state = self._trained(run, level - 1)
        return Member(seed=run.cfg.seed, state=state, mask=mask)

    def _mask_update(self, run: Run, level: int, iterations: int) -> MaskUpdate | None:
        """The rule that moves a dynamic method's mask in a pruned level; None otherwise."""
        prune = run.cfg.prune
        if level == 0 or not METHODS[prune.method].dynamic:
            return None
        steer = run.paths.level(level).grow_weights
        return MaskUpdate(
            grow=prune.method,
            interval=prune.dst_interval,
            end=max(1, int(prune.dst_end * iterations)),
            alpha=prune.dst_alpha,
            seed=epoch_seed(run.cfg.seed, level, 0x64737400),
            weights=load_tensors(steer) if steer.is_file() else None,
        )

    def _plan(self, level: int, runs: list[Run]) -> LevelPlan:
        schedule = self.schedule
        lr = learning_rate(self.train_cfg, schedule)
        start = 0 if level == 0 else schedule.rewind
        if level > 0 and self.retrain == "finetune":
            lr = constant(lr(schedule.total - 1))
        return LevelPlan(
            self.model,
            self.train_cfg,
            level,
            start,
            schedule.total,
            lr,
            augment=self.runs[0].cfg.data.augment,
            eval_every=schedule.eval_every,
            optimizer_impl=self.runs[0].cfg.launcher.optimizer_impl,
            channels_last=self.runs[0].cfg.launcher.channels_last,
            compile=self.runs[0].cfg.launcher.compile,
            checkpoint_every=schedule.checkpoint_every,
            snapshot_at=schedule.rewind if level == 0 and schedule.rewind > 0 else None,
            mask_updates=tuple(self._mask_update(r, level, schedule.total - start) for r in runs),
        )

    # -- the level loop -----------------------------------------------------------------
    def run(self) -> list[Run]:
        """Train every unfinished level of the runs this process can lock; return the runs
        left to other processes."""
        for run in self.runs:
            if not run.paths.config.is_file():
                save_yaml(run.paths.config, OmegaConf.to_container(OmegaConf.structured(run.cfg)))
        with ExitStack() as held:
            mine, elsewhere = self._claim(held)
            self._levels(mine)
            for run in mine:
                save_json(
                    run.paths.status,
                    {"state": "done", "level": run.levels, "updated": time.time()},
                )
        return elsewhere

    def _claim(self, held: ExitStack) -> tuple[list[Run], list[Run]]:
        """Lock the cohort's runs, sources first (released when `held` closes): a run is
        this process's if it gets the lock and, for a control, its source is this
        process's too or finished."""
        mine: list[Run] = []
        elsewhere: list[Run] = []
        for run in sorted(self.runs, key=lambda r: r.is_control):
            source = run.source
            free = source is None or source.id in {r.id for r in mine}
            if (free or not source.pending_levels()) and held.enter_context(Lock(run.paths.lock)):
                mine.append(run)
            else:
                elsewhere.append(run)
        return mine, elsewhere

    def _levels(self, runs: list[Run]) -> None:
        """Level by level, the pending levels of `runs` (sources before their controls)."""
        top = max((run.levels for run in runs), default=-1)
        for level in range(top + 1):
            pending = [r for r in runs if level in r.pending_levels()]
            if not pending:
                continue
            members = [self._member(r, level) for r in pending]
            resume_points = sorted(zip(pending, members), key=lambda p: p[1].iteration or -1)
            for _, group in groupby(resume_points, key=lambda p: p[1].iteration or -1):
                group = list(group)
                self._train([r for r, _ in group], [m for _, m in group], level)

    def _train(self, runs: list[Run], members: list[Member], level: int) -> None:
        plan = self._plan(level, runs)
        self.reporter.level_started(
            level, runs, plan.start, plan.end, self.schedule.iterations_per_epoch
        )
        trainer = CohortTrainer(plan, members, self.data, self.device)
        results = trainer.run(_LevelHooks(self, runs, level, plan.end))
        metrics = [
            self._finish(run, level, member.mask, result, plan, len(runs))
            for run, member, result in zip(runs, members, results)
        ]
        for run in runs:  # the job log's record of who trained what
            print(f"level {level} of run {run.id} trained", file=sys.stderr, flush=True)
        self.reporter.level_finished(level, runs, metrics)

    def _finish(
        self,
        run: Run,
        level: int,
        mask: Masks | None,
        result: MemberResult,
        plan: LevelPlan,
        cohort: int,
    ) -> dict:
        paths = run.paths.level(level)
        mask = result.mask or mask or full_masks(self.shapes)
        best = min(result.evaluations, key=lambda e: e["test_loss"])
        data = self.data
        positions = flops.output_positions(self.model, data.input_shape, data.num_classes)
        train = plan.train
        seen = flops.examples_seen(
            plan.start, plan.end, len(data.y_train), train.batch_size, train.drop_last
        )
        final = result.evaluations[-1]
        rule = self._mask_update(run, level, plan.end - plan.start)
        # RigL's dense gradient: one batch, sparse forward and activation gradients, dense
        # weight gradients, at every update
        regrow = rule.updates(plan.end - plan.start) if rule and rule.needs_gradient else 0
        metrics = {
            "run_id": run.id,
            "level": level,
            "density": density(mask),
            "layer_density": layer_densities(mask),
            "test_accuracy": final["test_accuracy"],
            "test_loss": final["test_loss"],
            "best_accuracy": max(e["test_accuracy"] for e in result.evaluations),
            "best_iteration": best["iteration"],
            "early_stop_accuracy": best["test_accuracy"],
            "iterations": plan.end - plan.start,
            "seconds": result.seconds,
            "cohort_size": cohort,
            "train_flops": flops.train_step_flops(mask, positions) * seen
            + regrow * train.batch_size * flops.score_step_flops(mask, positions),
            "mask_flops": flops.load_mask_flops(paths),
            "evaluations": result.evaluations,
        }
        if level == 0 or METHODS[run.cfg.prune.method].dynamic:  # dynamic: the mask it ended with
            save_tensors(paths.mask, mask)
        save_tensors(paths.final, result.state)
        save_json(paths.metrics, metrics)
        paths.partial.unlink(missing_ok=True)
        return metrics
