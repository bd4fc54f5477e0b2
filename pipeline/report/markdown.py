"""The one Markdown table writer: the sweep's results table, `lth report`'s summary.md and
the study report all render through `markdown`, and the sweep's terminal table is built
from the same `Table` rows, so what is printed and what is written cannot drift apart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RULE = {"l": "---", "r": "---:"}  # text left, numbers right


@dataclass
class Table:
    """Formatted cells, one row per line. `align` has one letter per column, "l" or "r"
    (default: a text column, then numbers). `title`, when given, becomes a heading."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    align: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        self.align = self.align or "l" + "r" * (len(self.columns) - 1)
        if len(self.align) != len(self.columns) or set(self.align) - set(RULE):
            raise ValueError(f"align {self.align!r} for {len(self.columns)} columns")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {list(row)}: {len(row)} cells for {len(self.columns)} columns"
                )


def markdown(table: Table, heading: int = 3) -> str:
    """A GitHub-flavoured Markdown table, under a level-`heading` heading if titled."""
    lines = [f"{'#' * heading} {table.title}", ""] if table.title else []
    lines += [_line(table.columns), "|" + "".join(RULE[a] + "|" for a in table.align)]
    lines += [_line(row) for row in table.rows]
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(cell).replace("|", r"\|") for cell in cells) + " |"


def number(value: float | None, digits: int = 3) -> str:
    """`value` with `digits` decimals, "-" when missing (None or NaN: e.g. one seed's std)."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"
