"""Live progress of cohorts on the terminal (rich), from the driver's callbacks."""

from __future__ import annotations

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.driver import Reporter
from pipeline.labels import method_label
from pipeline.runs import Run


class RichReporter(Reporter):
    """One bar per cohort: level, epoch, iterations done, mean test accuracy; and one log
    line per finished level with every run's accuracy."""

    def __init__(self, label: str, levels: int, console: Console | None = None):
        self.label, self.levels = label, levels
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[epoch]}"),
            TextColumn("{task.fields[accuracy]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = None
        self.start = 0
        self.ipe = 1
        self.epochs = 0

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def level_started(
        self, level: int, runs: list[Run], start: int, end: int, iterations_per_epoch: int
    ) -> None:
        description = f"{self.label} level {level}/{self.levels} ({len(runs)} runs)"
        self.start, self.ipe = start, iterations_per_epoch
        self.epochs = -(-end // iterations_per_epoch)
        epoch = f"epoch {start // self.ipe}/{self.epochs}"
        if self.task is None:
            self.task = self.progress.add_task(
                description, total=end - start, accuracy="", epoch=epoch
            )
        else:
            self.progress.reset(
                self.task, total=end - start, description=description, epoch=epoch, accuracy=""
            )

    def evaluated(self, iteration: int, accuracy: torch.Tensor) -> None:
        self.progress.update(
            self.task,
            completed=iteration - self.start,
            epoch=f"epoch {iteration // self.ipe}/{self.epochs}",
            accuracy=f"mean acc {float(accuracy.mean()):.3f}",
        )

    def level_finished(self, level: int, runs: list[Run], metrics: list[dict]) -> None:
        accuracies = "  ".join(
            f"{method_label(r.cfg.prune.method, r.cfg.prune.control)}/s{r.cfg.seed} "
            f"{m['test_accuracy']:.3f}"
            for r, m in zip(runs, metrics)
        )
        self.progress.console.log(
            f"{self.label} level {level} (density {metrics[0]['density']:.3f}): {accuracies}",
            highlight=False,
        )
