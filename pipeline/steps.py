"""Training-length strings ("160ep", "500it", "2ep100it") parsed in one place."""

from __future__ import annotations

import re

_STEP = re.compile(r"^\s*(?:(\d+)\s*ep)?\s*(?:(\d+)\s*it)?\s*$")


def parse_step(text: str | int, iterations_per_epoch: int) -> int:
    """Return the iteration count that `text` names.

    Accepts "40ep", "500it", "2ep100it" or a bare integer (iterations).
    """
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"negative step {text}")
        return text
    stripped = str(text).strip()
    if stripped.isdigit():
        return int(stripped)
    match = _STEP.match(stripped)
    if not match or not (match.group(1) or match.group(2)):
        raise ValueError(f"cannot read step {text!r}: use forms like '40ep', '500it' or '2ep100it'")
    epochs = int(match.group(1) or 0)
    iterations = int(match.group(2) or 0)
    return epochs * iterations_per_epoch + iterations


def canonical_step(text: str | int) -> str:
    """One spelling per step: "0", "0ep" and "0it" -> "0it"; "2ep0it" -> "2ep"."""
    stripped = str(text).strip()
    if stripped.isdigit():
        return f"{int(stripped)}it"
    match = _STEP.match(stripped)
    if not match or not (match.group(1) or match.group(2)):
        return stripped  # validation reports it
    epochs, iterations = int(match.group(1) or 0), int(match.group(2) or 0)
    if epochs and iterations:
        return f"{epochs}ep{iterations}it"
    return f"{epochs}ep" if epochs else f"{iterations}it"
