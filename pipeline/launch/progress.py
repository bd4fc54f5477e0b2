"""Live progress of cohorts on the terminal (rich), from the driver's callbacks."""

from __future__ import annotations

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.lottery import Reporter, Run


class RichReporter(Reporter):
    """One bar per cohort: level, iteration within the level, mean test accuracy."""

    def __init__(self, label: str, levels: int, console: Console | None = None):
        self.label, self.levels = label, levels
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[accuracy]}"), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self.task = None
        self.start = 0

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def level_started(self, level: int, runs: list[Run], start: int, end: int) -> None:
        description = f"{self.label} level {level}/{self.levels} ({len(runs)} runs)"
        self.start = start
        if self.task is None:
            self.task = self.progress.add_task(description, total=end - start, accuracy="")
        else:
            self.progress.reset(self.task, total=end - start, description=description)

    def evaluated(self, iteration: int, accuracy: torch.Tensor) -> None:
        self.progress.update(self.task, completed=iteration - self.start,
                             accuracy=f"acc {float(accuracy.mean()):.3f}")

    def level_finished(self, level: int, runs: list[Run], metrics: list[dict]) -> None:
        accuracies = ", ".join(f"{m['test_accuracy']:.3f}" for m in metrics)
        self.progress.console.log(
            f"{self.label} level {level}: density {metrics[0]['density']:.3f}, "
            f"accuracy [{accuracies}]"
        )
