"""The one Markdown table writer, and the report modules importing matplotlib only to draw."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.report.markdown import Table, markdown, number


def test_a_table_renders_header_alignment_and_rows():
    table = Table(["method", "density", "note"], [["imp", "0.5000", "a"]], align="lrl")
    assert markdown(table) == (
        "| method | density | note |\n|---|---:|---|\n| imp | 0.5000 | a |\n"
    )


def test_the_default_is_one_text_column_then_numbers_and_a_title_becomes_a_heading():
    table = Table(["method", "0.5", "0.2"], [["imp", "1", "2"], ["snip", "3", "-"]], title="m/d")
    assert markdown(table, heading=2).splitlines() == [
        "## m/d",
        "",
        "| method | 0.5 | 0.2 |",
        "|---|---:|---:|",
        "| imp | 1 | 2 |",
        "| snip | 3 | - |",
    ]


def test_a_pipe_in_a_cell_is_escaped_so_the_row_keeps_its_columns():
    line = markdown(Table(["label", "n"], [["lr=0.1|wd=0", "2"]])).splitlines()[-1]
    assert line == r"| lr=0.1\|wd=0 | 2 |"


def test_rows_and_alignment_must_match_the_columns():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        Table(["a", "b", "c"], [["1", "2"]])
    with pytest.raises(ValueError, match="align 'lc'"):
        Table(["a", "b"], [], align="lc")


def test_numbers_round_and_missing_values_print_as_a_dash():
    assert number(0.12345) == "0.123"
    assert number(0.12346, 4) == "0.1235"
    assert number(-1.5, 2) == "-1.50"
    assert number(float("nan")) == "-" and number(None) == "-"


def test_importing_the_report_modules_loads_no_matplotlib():
    modules = ["pipeline.report", "pipeline.report.report", "pipeline.report.plots"]
    modules += ["pipeline.report.markdown", "pipeline.results", "pipeline.study.report"]
    code = (
        f"import sys\nfor m in {modules}: __import__(m)\n"
        "print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
