"""`lth report` on the store that test_reduce.py builds from a real sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from test_reduce import built_store

from pipeline.cli import main
from pipeline.store import levels_frame, runs_frame

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_store(tmp_path_factory)[0]


def summary_rows(text: str) -> dict[tuple[str, int], list[float]]:
    """(method, level) -> [density, accuracy, std, min, max, seeds] from summary.md."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[1].isdigit():
            rows[cells[0], int(cells[1])] = [np.nan if c == "-" else float(c) for c in cells[2:]]
    return rows


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300 and pixels.std() > 0.01


def test_report_figures_and_table_match_the_store(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "report"
    assert main(["report", str(store), "-o", str(out)]) == 0
    names = ["accuracy_vs_density.png", "layer_density.png", "features.png", "summary.md"]
    assert capsys.readouterr().out.split() == [str(out / n) for n in names]
    for name in names[:3]:
        assert_png(out / name)

    runs = runs_frame(store)
    runs["method"] = runs["method"].where(
        runs["control"] == "none", runs["method"] + "+" + runs["control"]
    )
    levels = levels_frame(store).merge(runs[["run_id", "method", "seed"]], on="run_id")
    text = (out / "summary.md").read_text()
    table = summary_rows(text)
    # one table per experiment, methods then levels in order (controls start at level 1)
    assert list(table) == [
        ("imp", 0),
        ("imp", 1),
        ("imp", 2),
        ("imp+reinit", 1),
        ("imp+reinit", 2),
        ("imp+shuffle", 1),
        ("imp+shuffle", 2),
    ]
    assert (
        "## mnist1d_mlp/mnist1d\n\n"
        "| method | level | density | accuracy | std | min | max | seeds |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n| imp | 0 | 1.0000 | "
    ) in text
    for (method, level), got in table.items():
        at = levels[(levels["method"] == method) & (levels["level"] == level)]
        acc = at["test_accuracy"]
        want = [at["density"].mean(), acc.mean(), acc.std(), acc.min(), acc.max(), len(at)]
        assert got == pytest.approx(want, abs=5e-5)
        assert len(at) == 2


def test_report_chosen_features_and_levels(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "report"
    argv = [str(store), "-o", str(out), "--features", "mask_iou_across_seeds"]
    argv += ["mask_hamming_prev_level", "--levels", "2"]
    # in a fresh process: no figure is left in pyplot's global registry (matplotlib itself
    # may import pyplot, e.g. boxplot reading rcParams, but our figures never enter it)
    code = (
        "import sys; from pipeline.cli import main; code = main(['report', *sys.argv[1:]]); "
        "plt = sys.modules.get('matplotlib.pyplot'); "
        "assert plt is None or plt.get_fignums() == [], plt.get_fignums(); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert_png(out / "features.png")
    text = (out / "summary.md").read_text()
    assert "layer densities at levels 2" in text
    assert "mask_iou_across_seeds, mask_hamming_prev_level per method" in text

    assert main(["report", str(store), "-o", str(out), "--features", "nope", "density"]) == 2
    assert "unknown feature(s) nope" in capsys.readouterr().err
