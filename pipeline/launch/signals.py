"""Turning a scheduler's signal into a checkpoint instead of a lost level.

Schedulers warn a job before they kill it: Slurm sends SIGUSR2 ahead of the time
limit (and SIGTERM on scancel or preemption), PBS sends SIGTERM. A handler may
run at any bytecode, so it only raises a flag; the trainer polls the flag after
every iteration, writes its mid-level checkpoint and raises `Stopped`.
"""

from __future__ import annotations

import signal
from types import FrameType


class StopOnSignal:
    """A `should_stop` callable set by the first of `signals` to arrive.

    Used as a context manager: installs the handlers on entry and puts the previous
    ones back on exit, so a caller can still hand the signal on (submitit's requeue).
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM,)):
        self.signals = signals
        self.received: signal.Signals | None = None
        self.previous: dict[signal.Signals, object] = {}

    def __call__(self) -> bool:
        return self.received is not None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)

    def __enter__(self) -> StopOnSignal:
        for sig in self.signals:
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
