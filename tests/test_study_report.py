"""The study report's text: hand-computed cases, and the committed studies' README files
regenerated line for line from their committed levels.csv (the effect sizes, which need
the store, are read back from the README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import Config
from pipeline.io import save_json
from pipeline.paths import RunPaths
from pipeline.report import plots
from pipeline.runs import Run
from pipeline.study.analysis import iterations_to, level_table, summary
from pipeline.study.plan import StudyPlan
from pipeline.study.report import (
    TOP_FEATURES,
    accuracy_by_density,
    convergence_by_density,
    flops_by_density,
    goal_verdict,
    prior_against_baselines,
    study_markdown,
    top_effects,
)

RESULTS = Path(__file__).resolve().parents[1] / "results"
DEFAULT_DENSITIES = (0.5, 0.2, 0.1, 0.05, 0.02)
# name -> (overrides, seeds, --ablate, --densities) of each committed `lth study` report
STUDIES = {
    "mnist1d_mlp": (["model=mnist1d_mlp", "data=mnist1d"], 3, True, DEFAULT_DENSITIES),
    "mnist1d_cnn": (["model=mnist1d_cnn", "data=mnist1d"], 3, True, DEFAULT_DENSITIES),
    "fashion_lenet": (
        [
            "model=lenet_300_100",
            "data=fashion_mnist",
            "train.duration=10ep",
            "prune.gem_epochs=10",
            "prune.early_bird_epochs=10",
        ],
        3,
        False,
        (0.2, 0.05),
    ),
}


def _levels(accuracies: dict[str, list[float]], target: float = 0.5) -> pd.DataFrame:
    """`analysis.level_table`'s columns, one row per (label, seed)."""
    return pd.DataFrame(
        [
            {
                "run_id": f"{label}-{seed}",
                "label": label,
                "seed": seed,
                "level": 3,
                "target": target,
                "density": 0.512,
                "accuracy": accuracy,
                "epochs": 100.0,
                "seconds": 1.0,
                "flops": 1000.0 if label.startswith("imp") else 50.0,
                "iterations_95": 10,
                "iterations_99": 20,
            }
            for label, values in accuracies.items()
            for seed, accuracy in enumerate(values)
        ]
    )


def test_accuracy_and_prior_against_baseliness_hold_the_seed_means_computed_by_hand():
    table = summary(
        _levels(
            {
                "imp": [0.8, 0.9],
                "imp+shuffle": [0.6, 0.6],
                "prior": [0.7, 0.8],
                "snip": [0.65, 0.75],
                "erk": [0.5],
            }
        )
    )
    acc = accuracy_by_density(table, [1.0, 0.5])
    assert acc.columns == ["method", "1", "0.5"]
    # controls sort beside their method; std of 0.8 and 0.9 is 0.1 / sqrt(2); one seed: "-"
    assert acc.rows == [
        ["erk", "-", "0.500 ± -"],
        ["imp", "-", "0.850 ± 0.071"],
        ["imp+shuffle", "-", "0.600 ± 0.000"],
        ["prior", "-", "0.750 ± 0.071"],
        ["snip", "-", "0.700 ± 0.071"],
    ]
    prior = prior_against_baselines(table, (0.5, 0.2))  # nothing at 0.2: no row
    assert prior.rows == [
        ["0.5", "0.750 ± 0.071", "0.850 ± 0.071", "snip 0.700 ± 0.071", "-0.100", "+0.050"]
    ]
    # prior closes (0.75 - 0.6) / (0.85 - 0.6) = 0.6 of the shuffled control's gap
    plan = StudyPlan("t", ["model=mnist1d_mlp"], Path("unused"), densities=(0.5,))
    text = study_markdown(plan, "m/d", table, pd.DataFrame({0.5: [1.0]}, index=["f"]), False)
    assert "| method | 0.5: closed / FLOPs |\n|---|---:|\n| prior | 0.60 / 0.050 |\n" in text
    verdict = (
        "**Goal at density 0.5: met.** `prior` closes 0.60 of the gap with 0.050 of IMP's "
        "FLOPs (accuracy 0.750 ± 0.071 against IMP's 0.850 ± 0.071). Matching the tickets "
        "(accuracy at least IMP's): none."
    )
    assert text.count(verdict) == 2  # in the summary at the top and under the table
    assert "- for reference, imp vs imp+shuffle: 0.5: 0.850 vs 0.600 (+0.250)" in text
    assert "prior_ablations.png" not in text and "oneshot" not in text


def test_top_effects_keeps_the_features_with_the_largest_mean_absolute_d():
    d = {f"f{i}": [float(i), -float(i)] for i in range(TOP_FEATURES + 1)}  # mean |d| = i
    d["gone"] = [np.nan, np.nan]
    effects = pd.DataFrame(d, index=[0.05, 0.5]).T
    table = top_effects(effects)
    assert table.columns == ["feature", "0.05", "0.5"]
    assert [row[0] for row in table.rows] == [f"f{i}" for i in range(TOP_FEATURES, 0, -1)]
    assert table.rows[0] == ["f12", "12.00", "-12.00"]


def _effects(readme: list[str]) -> pd.DataFrame:
    """The README's last table (Cohen's d, features x targets) as a frame."""
    start = max(i for i, line in enumerate(readme) if line.startswith("| feature |"))
    header = [c.strip() for c in readme[start].strip("|").split("|")]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in readme[start + 2 :]
        if line.startswith("|")
    ]
    return pd.DataFrame(
        [[float(c) for c in row[1:]] for row in rows],
        index=[row[0] for row in rows],
        columns=[float(t) for t in header[1:]],
    )


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_committed_study_readme_regenerates_from_its_levels(name):
    folder = RESULTS / name
    readme = (folder / "README.md").read_text()
    lines = readme.splitlines()
    overrides, seeds, ablate, densities = STUDIES[name]
    plan = StudyPlan(
        name,
        overrides,
        Path("unused"),
        densities=densities,
        seeds=seeds,
        prior_seeds=seeds,
        ablate=ablate,
        command=lines[lines.index("```") + 1],
    )
    table = summary(pd.read_csv(folder / "levels.csv"))
    experiment = lines[0].split(": ", 1)[1]
    text = study_markdown(plan, experiment, table, _effects(lines), ablate)
    assert text.splitlines() == lines
    assert text == readme


def test_the_compute_figure_is_drawn_whole_with_nothing_left_beside_it(tmp_path):
    import matplotlib.image

    table = summary(_levels({"imp": [0.8, 0.9], "snip": [0.7, 0.75]}))
    path = plots.accuracy_vs_compute(table, 0.5, tmp_path / "compute.png")
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (4 * plots.DPI, 6 * plots.DPI)  # the 6 x 4 inch panel
    assert pixels.std() > 0.01
    assert [p.name for p in tmp_path.iterdir()] == ["compute.png"]  # no temp file left


def _evaluations(accuracies: list[float], start: int = 0, every: int = 10) -> list[dict]:
    return [
        {"iteration": start + i * every, "test_accuracy": a, "test_loss": 1.0}
        for i, a in enumerate(accuracies)
    ]


def test_convergence_is_the_first_evaluation_within_a_share_of_the_final_accuracy():
    # final 0.80: 95% of it is 0.76 (first met at the third evaluation), 99% is 0.792
    evaluations = _evaluations([0.1, 0.7, 0.77, 0.75, 0.795, 0.80], start=500)
    assert iterations_to(evaluations, 0.95) == 20
    assert iterations_to(evaluations, 0.99) == 40
    assert iterations_to(_evaluations([0.9, 0.5]), 0.99) == 0  # already there, then fell


def _write_levels(run_dir: Path, levels: dict[int, tuple[int, int]], accuracy: list[float]):
    """metrics.json of each level: (train_flops, mask_flops), 100 iterations, evaluations."""
    for level, (train, mask) in levels.items():
        save_json(
            run_dir / f"level_{level}" / "metrics.json",
            {
                "level": level,
                "density": 0.8**level,
                "test_accuracy": accuracy[-1],
                "iterations": 100,
                "seconds": 2.0,
                "cohort_size": 2,
                "train_flops": train,
                "mask_flops": mask,
                "evaluations": _evaluations(accuracy),
            },
        )


def test_imps_flops_to_reach_a_level_include_every_earlier_round(tmp_path):
    runs = {}
    for method in ("imp", "gem_miner"):
        cfg = Config()
        cfg.prune.method = method
        runs[method] = Run(cfg, RunPaths(tmp_path / method))
    _write_levels(tmp_path / "imp", {0: (1000, 0), 1: (800, 0), 2: (640, 0)}, [0.5, 0.96, 1.0])
    _write_levels(tmp_path / "gem_miner", {2: (640, 300)}, [0.96, 0.98, 1.0])
    levels = level_table(runs, lambda prune: {0: 1.0, 2: 0.64}).set_index(["label", "level"])
    assert levels.flops[("imp", 0)] == 1000
    assert levels.flops[("imp", 2)] == 1000 + 800 + 640  # the rounds that produced its mask
    assert levels.flops[("gem_miner", 2)] == 640 + 300  # its own search and training
    # MNIST-1D: 4000 examples in batches of 128, 32 iterations an epoch; 3 levels of 100
    assert levels.epochs[("imp", 2)] == 300 / 32
    assert levels.iterations_95[("imp", 2)] == 10 and levels.iterations_99[("imp", 2)] == 20
    # 95% of 1.0 at once, 99% only at the last evaluation (0.98 falls short)
    assert levels.iterations_95[("gem_miner", 2)] == 0
    assert levels.iterations_99[("gem_miner", 2)] == 20
    table = summary(levels.reset_index())
    flops = flops_by_density(table, [1.0, 0.64])
    assert flops.rows == [
        ["gem_miner", "-", "9.40e+02 (0.385)"],  # 940 / 2440
        ["imp", "1.00e+03 (1)", "2.44e+03 (1)"],
    ]
    assert convergence_by_density(table, [0.64]).rows == [
        ["gem_miner", "0 / 20"],
        ["imp", "10 / 20"],
    ]
    plan = StudyPlan("t", ["model=mnist1d_mlp"], Path("unused"), densities=(0.64,))
    text = study_markdown(plan, "m/d", table, pd.DataFrame({0.64: [1.0]}, index=["f"]), False)
    assert "## FLOPs spent to reach each mask and train it" in text
    assert "| gem_miner | - | 9.40e+02 (0.385) |" in text
    assert "| imp | 10 / 20 | 10 / 20 |" in text
    # a study recorded before FLOPs were counted has neither section
    old = summary(levels.reset_index().drop(columns=["flops", "iterations_95", "iterations_99"]))
    text = study_markdown(plan, "m/d", old, pd.DataFrame({0.64: [1.0]}, index=["f"]), False)
    assert "## FLOPs" not in text and "## Convergence" not in text
    assert "**Goal at density 0.64: not evaluated**" in text


def test_the_goal_is_not_met_when_the_method_that_closes_half_the_gap_costs_too_much():
    def row(label, closed, share, accuracy):
        return dict(
            label=label,
            target=0.05,
            accuracy=accuracy,
            std=0.01,
            imp_accuracy=0.6,
            imp_std=0.02,
            closed=closed,
            flops_share=share,
            matches=accuracy >= 0.6,
        )

    gaps = pd.DataFrame(
        [
            row("rigl", 0.3, 0.05, 0.52),
            row("gem_miner", 0.7, 0.2, 0.58),
            row("prior", 0.1, 0.01, 0.5),
        ]
    )
    assert goal_verdict(gaps, (0.2, 0.05)) == (
        "**Goal at density 0.05: not met.** No method without IMP closes 0.5 of the gap within "
        "0.1 of IMP's FLOPs. Within that budget, `rigl` closes 0.30 of the gap with 0.050 of "
        "IMP's FLOPs (accuracy 0.520 ± 0.010 against IMP's 0.600 ± 0.020); the most at any "
        "cost: `gem_miner` closes 0.70 of the gap with 0.200 of IMP's FLOPs (accuracy 0.580 ± "
        "0.010 against IMP's 0.600 ± 0.020). Matching the tickets (accuracy at least IMP's): none."
    )


def test_a_study_leaves_out_what_its_methods_refuse_and_says_why():
    """The MNIST-1D CNN's output layer is a quarter of its weights: su_ratios' 30% of it does
    not fit the 5% budget, so the study trains every other baseline."""
    plan = StudyPlan("t", ["model=mnist1d_cnn", "data=mnist1d"], Path("unused"))
    assert list(plan.left_out) == ["su_ratios"]
    assert "level 4's budget of 282 weights" in plan.left_out["su_ratios"]
    methods = [
        o for sweep in plan.baseline_sweeps() for o in sweep if o.startswith("prune.method=")
    ]
    assert "prune.method=erk,random" in methods and not any("su_ratios" in m for m in methods)
    assert StudyPlan("t", ["model=mnist1d_mlp"], Path("unused")).left_out == {}
