"""The `prior` method: learning from a real store, sampling, and the study around it."""

import numpy as np
import pandas as pd
import pytest
import torch
from contexts import layer_prior

from pipeline.cli import main
from pipeline.launch.manifest import Manifest
from pipeline.paths import Layout
from pipeline.prior.learn import TicketPrior, learn_prior
from pipeline.prior.sample import gumbel_top_k, layer_counts, layer_scores
from pipeline.store import levels_frame, runs_frame


def test_layer_counts_follow_the_profile_and_hit_the_total_exactly():
    prior = TicketPrior(
        "m",
        0.3,
        {
            "a": layer_prior(density=0.6),
            "b": layer_prior(density=0.2),
            "c": layer_prior(density=1.0),
        },
        [],
    )
    sizes = {"a": 100, "b": 300, "c": 10}
    counts = layer_counts(prior, sizes, 100, True, {})
    assert sum(counts.values()) == 100
    # one common scale s: 60 s + 60 s + 10 s = 100 -> s = 0.77: a 46, b 46, c 8
    assert counts == {"a": 46, "b": 46, "c": 8}
    capped = layer_counts(prior, sizes, 200, True, {})  # s = 1.54 would put c above 10
    assert capped["c"] == 10 and sum(capped.values()) == 200
    assert capped["a"] / 100 == pytest.approx(3 * capped["b"] / 300, rel=0.02)
    flat = layer_counts(prior, sizes, 82, False, {"a": 0.2, "b": 0.2, "c": 0.2})
    assert flat == {"a": 20, "b": 60, "c": 2}


def test_layer_counts_round_each_layer_and_give_the_gap_to_the_roomiest():
    prior = TicketPrior("m", 0.2, {n: layer_prior() for n in "abc"}, [])
    # shares 1.6, 1.6, 1.8 round to 2, 2, 2: one too many, taken from c (most room, 9 - 2).
    # (Largest remainder would give 2, 1, 2; this rounding keeps existing prior masks.)
    flat = {"a": 0.2, "b": 0.2, "c": 0.2}
    assert layer_counts(prior, {"a": 8, "b": 8, "c": 9}, 5, False, flat) == {
        "a": 2,
        "b": 2,
        "c": 1,
    }


def test_gumbel_top_k_takes_exactly_k_and_follows_the_scores():
    gen = torch.Generator().manual_seed(0)
    scores = np.zeros((50, 40))
    scores[:, :10] = 6.0  # e^6 ~ 400x more likely
    picks = sum(gumbel_top_k(scores, 100, gen).numpy() for _ in range(20))
    assert picks.sum() == 2000
    assert picks[:, :10].sum() / 2000 > 0.95


def test_magnitude_and_sign_components_prefer_what_the_tickets_kept():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(30, 40, generator=gen).numpy()
    layer = layer_prior(
        fan_in=np.full(30, 1 / 30),
        fan_out=np.full(40, 1 / 40),
        decile_rel=np.array([0.1] * 5 + [1.9] * 5),
        positive_rel=1.5,
    )
    scores = layer_scores(layer, (30, 40), w, {"magnitude", "sign"}, False, (), gen)
    assert scores.applied == {"magnitude", "sign"} and not scores.structure.any()
    kept = gumbel_top_k(scores.total, 240, gen).numpy()
    large = np.abs(w) > np.median(np.abs(w))
    assert kept[large].mean() > 3 * kept[~large].mean()
    assert kept[w > 0].mean() > kept[w < 0].mean()


def test_locality_windows_give_the_tickets_spread():
    gen = torch.Generator().manual_seed(2)
    layer = layer_prior(
        fan_in=np.full(100, 0.01),
        fan_out=np.full(40, 1 / 40),
        position=np.full(40, 0.2),
        spread=0.3,
    )
    scores = layer_scores(layer, (100, 40), np.ones((100, 40)), {"locality"}, True, (40,), gen)
    assert scores.applied == {"locality"}
    kept = gumbel_top_k(scores.total, 800, gen).numpy()
    position = np.arange(40)
    spreads = []
    for row in kept:
        where = position[row]
        spreads.append(np.sqrt(where.var() / ((40**2 - 1) / 12)))
    # Gumbel top-k over a Gaussian window keeps close to the requested normalized spread
    assert np.mean(spreads) == pytest.approx(0.3, abs=0.08)


@pytest.mark.slow
def test_study_end_to_end_learns_a_prior_and_writes_the_report(tmp_path):
    out, results = tmp_path / "study", tmp_path / "report"
    argv = ["study", "train.duration=2ep", "--densities", "0.5", "0.2", "--seeds", "1"]
    argv += ["--prior-seeds", "2", "--name", "t", "--out", str(out), "--results", str(results)]
    code = main(argv)
    assert code == 0
    store = out / "store.h5"
    runs = runs_frame(store)
    assert set(runs.method) == {
        "imp",
        "snip",
        "grasp",
        "synflow",
        "erk",
        "su_ratios",
        "random",
        "oneshot",
        "gem_miner",
        "early_bird",
        "rigl",
        "set",
        "prior",
        "transfer",
    }
    assert sorted(runs[runs.method == "prior"].seed) == [100, 101]
    controls = runs[(runs.method == "imp") & (runs.control != "none")].run_id
    stored = levels_frame(store)
    assert set(stored[stored.run_id.isin(controls)].level) == {3, 7}  # only the levels read
    prior = learn_prior(store, "mnist1d_mlp", 0.2, "mnist1d")
    assert prior.density == pytest.approx(0.2, abs=0.03)
    assert prior.layers["fc1.weight"].spread is not None
    text = (results / "README.md").read_text()
    assert "## Which method closes the gap without IMP?" in text and "snip vs snip+shuffle" in text
    assert text.count("**Goal at density 0.2: ") == 2
    for label in ("rigl+prior+steer", "rigl+steer", "gem_miner+prior", "transfer+weights"):
        assert f"| {label} | " in text
    assert "- imp vs oneshot: 0.2: " in text
    assert (results / "accuracy_vs_density.png").stat().st_size > 1000
    # IMP at 20% per level is read at levels 3 and 7; every method has its exact density there
    levels = pd.read_csv(results / "levels.csv")
    imp = levels[levels.label == "imp"].set_index("target")
    assert imp.level.to_dict() == {1.0: 0, 0.5: 3, 0.2: 7}
    for target in (0.5, 0.2):  # IMP rounds its count per level, the others once: +-1 weight
        assert levels[levels.target == target].density.to_numpy() == pytest.approx(
            imp.density[target], abs=2 / 15_000
        )
    assert "0.2 at level 7 (hidden density 0.2097)" in text
    # running it again trains nothing and rewrites the same report; with the local
    # launcher a new cohort size takes effect (nothing is outstanding to keep indices for)
    assert main([*argv, "launcher.cohort_size=1"]) == 0
    manifest = Manifest.load(Layout(out).sweep("t-prior"))
    assert len(manifest.cohorts) == len(manifest.runs)


@pytest.mark.parametrize(
    "args, key",
    [
        (["--densities", "0.5", "0.49"], "--densities"),  # both nearest to IMP level 3
        (["--densities", "0.5", "0"], "--densities"),
        (["--densities", "1.0", "0.5"], "--densities"),
        (["--imp-fraction", "1.5"], "--imp-fraction"),
    ],
)
def test_study_targets_off_the_imp_ladder_fail_before_anything_runs(tmp_path, capsys, args, key):
    out = tmp_path / "study"
    assert main(["study", "--name", "t", "--out", str(out), *args]) == 2
    assert capsys.readouterr().err.startswith(f"lth study: error: {key}:")
    assert not out.exists()


def test_prior_uses_every_component_by_default():
    from pipeline.config import PruneConfig
    from pipeline.prior.components import COMPONENTS

    assert tuple(PruneConfig().prior_components) == COMPONENTS
