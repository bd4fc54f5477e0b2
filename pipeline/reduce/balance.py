"""Split runs over ranks so that each rank gets about the same amount of feature work."""

from __future__ import annotations

from collections.abc import Sequence


def partition(costs: Sequence[float], parts: int) -> list[list[int]]:
    """Indices of `costs` in `parts` groups of near-equal total cost.

    Longest-processing-time greedy: the costliest remaining item goes to the least loaded
    group, which is within 4/3 of the best split; ties break by index, so the split is
    deterministic.
    """
    loads = [0.0] * parts
    groups: list[list[int]] = [[] for _ in range(parts)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        target = min(range(parts), key=lambda g: (loads[g], g))
        groups[target].append(i)
        loads[target] += costs[i]
    return groups
