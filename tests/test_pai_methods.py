"""Pruning-at-initialization methods on the real architectures with small synthetic data:
exact budgets, reproducible masks, the scores they rank by, and SynFlow's layer collapse."""

import pytest
import torch
from contexts import level_one, random_data

from pipeline.methods import METHODS
from pipeline.models import initial_state
from pipeline.prune.pai import grasp, snip, synflow
from pipeline.prune.pai.scoring import plain_model, target_count, training_batches

PAI = ["snip", "grasp", "synflow", "erk", "uniform", "su_ratios"]
MODELS = {"mnist1d_mlp": (1, 40), "lenet_300_100": (1, 28, 28), "resnet20": (3, 32, 32)}


def _ctx(model, density, output_density, examples=16, seed=0):
    """Level 1 of a run of `model` on random data of its input shape, at the given densities."""
    shape = MODELS[model]
    data = random_data(shape, examples, seed=seed)
    state = initial_state(model, shape, 10, seed)
    return level_one(model, data, state, density, output_density, seed=seed)


def _expected_count(ctx):
    sizes = [ctx.shapes[n].numel() for n in ctx.names]
    return round(ctx.rung.density * sum(sizes[:-1])) + round(ctx.rung.output_density * sizes[-1])


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name", PAI)
def test_every_method_keeps_exactly_the_ladders_budget(model, name, monkeypatch):
    monkeypatch.setattr(synflow, "ROUNDS", 4)  # the schedule's length does not change the count
    ctx = _ctx(model, 0.2, 0.6)
    mask = METHODS[name].build(ctx)
    assert list(mask) == ctx.names
    assert all(
        m.dtype == torch.bool and m.shape == ctx.shapes[n] and m.device.type == "cpu"
        for n, m in mask.items()
    )
    kept = sum(int(m.sum()) for m in mask.values())
    assert kept == _expected_count(ctx)
    assert not METHODS[name].uses_dense


def test_budget_on_mnist1d_mlp_by_hand():
    # hidden 40*100 + 100*100 = 14000 weights at 0.2, output 1000 at 0.6: 2800 + 600
    assert target_count(_ctx("mnist1d_mlp", 0.2, 0.6)) == 3400


@pytest.mark.parametrize("name", PAI)
def test_masks_are_reproducible_for_a_fixed_seed(name):
    first = METHODS[name].build(_ctx("mnist1d_mlp", 0.1, 0.5))
    again = METHODS[name].build(_ctx("mnist1d_mlp", 0.1, 0.5))
    assert all(torch.equal(first[n], again[n]) for n in first)


def test_random_profiles_change_with_the_seed_and_keep_their_densities():
    first = METHODS["erk"].build(_ctx("mnist1d_mlp", 0.1, 0.5, seed=0))
    other = METHODS["erk"].build(_ctx("mnist1d_mlp", 0.1, 0.5, seed=1))
    assert all(int(first[n].sum()) == int(other[n].sum()) for n in first)
    assert not torch.equal(first["fc1.weight"], other["fc1.weight"])


def _top(scores, count):
    flat = torch.cat([s.flatten() for s in scores.values()])
    return torch.sort(flat, descending=True, stable=True).indices[:count]


def _kept(mask):
    return torch.cat([m.flatten() for m in mask.values()]).nonzero().flatten()


def test_snip_keeps_the_highest_sensitivities_and_grasp_the_lowest_scores():
    ctx = _ctx("mnist1d_mlp", 0.1, 0.5)
    count = _expected_count(ctx)
    for name, score, sign in (("snip", snip.snip_scores, 1), ("grasp", grasp.grasp_scores, -1)):
        batches = training_batches(_ctx("mnist1d_mlp", 0.1, 0.5), 1)  # the batch it draws
        scores = score(plain_model(ctx).train(), ctx.names, batches)
        expected = _top({n: sign * s for n, s in scores.items()}, count)
        mask = METHODS[name].build(_ctx("mnist1d_mlp", 0.1, 0.5))
        assert torch.equal(torch.sort(expected).values, _kept(mask))


def test_scoring_batches_are_random_draws_of_the_training_set():
    ctx = _ctx("mnist1d_mlp", 0.1, 0.5, examples=600)
    (x, y), (x2, _), (x3, _) = training_batches(ctx, 3)
    assert x.shape == (256, 1, 40) and x2.shape == (256, 1, 40) and x3.shape == (88, 1, 40)
    rows = {tuple(r.tolist()) for r in torch.cat([x, x2, x3]).flatten(1)}
    assert len(rows) == 600  # disjoint, and together the whole set


def _connected(mask):
    """Whether an input-output path survives in an MLP mask (boolean reachability)."""
    reach = torch.ones(mask["fc1.weight"].shape[1])
    for name in ("fc1.weight", "fc2.weight", "fc3.weight"):
        reach = (mask[name].float() @ reach).clamp(max=1)
    return bool(reach.sum() > 0)


def test_synflow_avoids_the_layer_collapse_that_snip_suffers():
    # at 0.1% density (15 of 15000 weights) SNIP spends the whole budget on the output layer;
    # SynFlow keeps 5 weights in each layer: 5 complete input-output paths
    snip_mask = METHODS["snip"].build(_ctx("mnist1d_mlp", 0.001, 0.001, examples=256))
    flow_mask = METHODS["synflow"].build(_ctx("mnist1d_mlp", 0.001, 0.001, examples=256))
    assert [int(m.sum()) for m in snip_mask.values()] == [0, 0, 15]
    assert [int(m.sum()) for m in flow_mask.values()] == [5, 5, 5]
    assert _connected(flow_mask) and not _connected(snip_mask)
    at_one_percent = METHODS["synflow"].build(_ctx("mnist1d_mlp", 0.01, 0.01))
    assert all(m.any() for m in at_one_percent.values()) and _connected(at_one_percent)
