import pytest
import torch

from pipeline.config import PruneConfig
from pipeline.prune.ladder import ladder, level_count
from pipeline.prune.masks import (
    density,
    keep_largest,
    prune_smallest,
    random_with_densities,
    shuffle_within_layers,
)

W = {
    "a.weight": torch.tensor([[0.1, -0.5], [0.3, 0.05]]),
    "b.weight": torch.tensor([[0.4, -0.2, 0.01, 0.6]]),
    "out.weight": torch.tensor([[1.0, -2.0, 0.2, 0.3]]),
}
ALIVE = {n: torch.ones_like(w, dtype=torch.bool) for n, w in W.items()}


def test_global_magnitude_ranks_hidden_layers_together_and_output_alone():
    # Hidden: 8 weights, remove round(0.5 * 8) = 4 smallest: 0.01, 0.05, 0.1, 0.2.
    # Output at half rate: remove round(0.25 * 4) = 1 smallest: 0.2.
    mask = prune_smallest(W, ALIVE, 0.5, 0.25, "out.weight", "global")
    assert mask["a.weight"].tolist() == [[False, True], [True, False]]
    assert mask["b.weight"].tolist() == [[True, False, False, True]]
    assert mask["out.weight"].tolist() == [[True, True, False, True]]


def test_layerwise_magnitude_prunes_each_layer_by_its_own_fraction():
    mask = prune_smallest(W, ALIVE, 0.5, 0.5, "out.weight", "layerwise")
    assert mask["a.weight"].tolist() == [[False, True], [True, False]]
    assert mask["b.weight"].tolist() == [[True, False, False, True]]
    assert mask["out.weight"].tolist() == [[True, True, False, False]]


def test_pruning_only_counts_and_keeps_alive_weights():
    alive = {n: m.clone() for n, m in ALIVE.items()}
    alive["b.weight"][0, 3] = False  # 0.6 is already pruned: it must stay pruned
    mask = prune_smallest(W, alive, 0.5, 0.0, "out.weight", "global")
    # 7 alive hidden weights, remove round(3.5) = 4 (banker's rounding: 4): 0.01 0.05 0.1 0.2
    assert mask["b.weight"].tolist() == [[True, False, False, False]]
    assert int(mask["a.weight"].sum() + mask["b.weight"].sum()) == 3
    assert mask["out.weight"].all()


def test_keep_largest_breaks_ties_by_position():
    scores = {"x": torch.tensor([1.0, 1.0, 1.0, 0.5])}
    kept = keep_largest(scores, {"x": torch.ones(4, dtype=torch.bool)}, 2)
    assert kept["x"].tolist() == [True, True, False, False]


def test_random_and_shuffle_keep_exact_counts():
    gen = torch.Generator().manual_seed(0)
    shapes = {"a": torch.Size([10, 10]), "b": torch.Size([7])}
    masks = random_with_densities(shapes, {"a": 0.3, "b": 0.5}, gen)
    assert int(masks["a"].sum()) == 30 and int(masks["b"].sum()) == 4  # round(3.5) = 4
    shuffled = shuffle_within_layers(masks, gen)
    assert int(shuffled["a"].sum()) == 30 and int(shuffled["b"].sum()) == 4
    assert not torch.equal(shuffled["a"], masks["a"])
    assert density(masks) == pytest.approx(34 / 107)


def test_geometric_ladder_and_half_rate_output():
    rungs = ladder(PruneConfig(fraction=0.2, output_scale=0.5, levels=3))
    assert [r.density for r in rungs] == pytest.approx([0.8, 0.64, 0.512])
    assert [r.output_density for r in rungs] == pytest.approx([0.9, 0.81, 0.729])


def test_explicit_density_ladder():
    prune = PruneConfig(densities=[0.5, 0.2, 0.05])
    assert level_count(prune) == 3
    rungs = ladder(prune)
    assert [r.fraction for r in rungs] == pytest.approx([0.5, 0.6, 0.75])
    assert [r.density for r in rungs] == pytest.approx([0.5, 0.2, 0.05])
    assert level_count(PruneConfig(densities=[0.5, 0.2], levels=1)) == 1


def test_explicit_output_densities_set_the_output_rungs():
    rungs = ladder(PruneConfig(densities=[0.5, 0.2], output_densities=[0.8, 0.6]))
    assert [r.output_density for r in rungs] == pytest.approx([0.8, 0.6])
    assert [r.output_fraction for r in rungs] == pytest.approx([0.2, 0.25])  # 0.6 = 0.8 * 0.75
