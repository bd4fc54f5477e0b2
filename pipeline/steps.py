"""Training points and lengths ("160ep", "500it", "2ep100it"): parsed once into a `Step`,
resolved into iterations once per cohort by a `Schedule`.

A `Step` keeps epochs and iterations apart, because an epoch's length depends on the data
and batch size; two spellings of one point are equal (`0ep == 0it`, `2ep0it == 2ep`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STEP = re.compile(r"^\s*(?:(\d+)\s*ep)?\s*(?:(\d+)\s*it)?\s*$")


@dataclass(frozen=True)
class Step:
    epochs: int = 0
    iterations: int = 0

    @classmethod
    def parse(cls, text: str | int | Step) -> Step:
        """Read "40ep", "500it", "2ep100it" or a bare integer (iterations)."""
        if isinstance(text, Step):
            return text
        if isinstance(text, int):
            if text < 0:
                raise ValueError(f"negative step {text}")
            return cls(0, text)
        stripped = str(text).strip()
        if stripped.isdigit():
            return cls(0, int(stripped))
        match = _STEP.match(stripped)
        if not match or not (match.group(1) or match.group(2)):
            raise ValueError(
                f"cannot read step {text!r}: use forms like '40ep', '500it' or '2ep100it'"
            )
        return cls(int(match.group(1) or 0), int(match.group(2) or 0))

    @property
    def is_zero(self) -> bool:
        return self.epochs == 0 and self.iterations == 0

    def to_iterations(self, iterations_per_epoch: int) -> int:
        return self.epochs * iterations_per_epoch + self.iterations

    def __str__(self) -> str:
        """The one spelling of this step: "0it", "2ep", "500it", "2ep100it"."""
        if self.epochs and self.iterations:
            return f"{self.epochs}ep{self.iterations}it"
        return f"{self.epochs}ep" if self.epochs else f"{self.iterations}it"


def canonical_step(text: str | int) -> str:
    """`text` in its one spelling; unreadable text is returned as it is (validation reports
    it)."""
    try:
        return str(Step.parse(text))
    except ValueError:
        return str(text).strip()


@dataclass(frozen=True)
class Schedule:
    """A cohort's training points in iterations, resolved once from its config."""

    iterations_per_epoch: int
    total: int  # iterations of one level's training
    rewind: int  # where pruned levels restart (and the dense level snapshots the weights)
    warmup: int
    milestones: tuple[int, ...]  # sorted; lr *= gamma at each
    eval_every: int
    checkpoint_every: int

    @classmethod
    def resolve(
        cls, train, iterations_per_epoch: int, rewind: str = "0it", checkpoint_every: str = "1ep"
    ) -> Schedule:
        """The schedule of a recipe (a pipeline.config.TrainConfig) at this many iterations
        per epoch, with pruned levels restarting at `rewind`."""

        def at(text: str) -> int:
            return Step.parse(text).to_iterations(iterations_per_epoch)

        return cls(
            iterations_per_epoch,
            total=at(train.duration),
            rewind=at(rewind),
            warmup=at(train.warmup),
            milestones=tuple(sorted(at(m) for m in train.milestones)),
            eval_every=at(train.eval_every),
            checkpoint_every=at(checkpoint_every),
        )
