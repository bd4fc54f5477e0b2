"""`prior` during training: rigl, set and gem_miner started from a prior mask
(`prune.start=prior`), regrowth steered by a prior (`prune.dst_steer`), and the prior's
components on convolutional layers."""

import dataclasses

import numpy as np
import pytest
import torch
from contexts import layer_prior, level_one
from sweep_helpers import TICKETS

from pipeline.cli import main
from pipeline.config import Config, PruneConfig
from pipeline.data import load_dataset
from pipeline.errors import ConfigError
from pipeline.io import load_json, load_tensors
from pipeline.methods import METHODS
from pipeline.models import initial_state
from pipeline.prior.sample import gumbel_top_k, layer_scores
from pipeline.prune.dynamic import MaskUpdate, update_masks
from pipeline.prune.search.gem_miner import initial_scores


# -- the pieces, by hand ----------------------------------------------------------------------
def test_steered_regrowth_grows_where_the_weights_point():
    """Equal gradients everywhere: unsteered RigL grows by position, steered into column 3."""
    weight = torch.zeros(4, 6)
    weight[:, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[:, 0] = True
    steer = torch.full((4, 6), 1e-3)
    steer[:, 3] = 1.0
    gradient = torch.ones(4, 6)
    rule = MaskUpdate(grow="rigl", interval=1, end=100, alpha=0.5, seed=0)
    steered = dataclasses.replace(rule, weights={"w": steer})
    # alpha_1 = 0.5 * (1 + cos(pi / 100)) / 2: floor(0.4994 * 4) = 1 weight moves
    plain, _ = update_masks(rule, 1, {"w": weight}, {"w": mask}, {"w": gradient})
    new, grown = update_masks(steered, 1, {"w": weight}, {"w": mask}, {"w": gradient})
    assert int(new["w"].sum()) == int(plain["w"].sum()) == 4
    # the smallest |w| leaves; by gradient ties alone it regrows first (the lowest position)
    assert torch.equal(plain["w"], mask)
    assert not new["w"][0, 0]
    assert grown["w"].nonzero().tolist() == [[0, 3]]  # the steer's first position


def test_a_prior_scores_kernel_positions_of_a_convolution():
    """Tickets that keep kernel centres 2.8 times as often as the layer: so does the draw
    (about; sampling without replacement flattens it a little)."""
    gen = torch.Generator().manual_seed(0)
    layer = layer_prior(
        fan_in=np.full(8, 1 / 8), fan_out=np.full(6, 1 / 6), kernel=np.array([0.1, 2.8, 0.1])
    )
    w = torch.randn(8, 6, 3, generator=gen).numpy()
    scores = layer_scores(layer, (8, 6, 3), w, {"degrees", "locality"}, False, (), gen)
    assert scores.applied == {"degrees", "locality"}
    kept = np.mean([gumbel_top_k(scores.total, 48, gen).numpy() for _ in range(50)], axis=0)
    relative = kept.mean(axis=(0, 1)) / kept.mean()  # keep rate by position / density
    assert relative == pytest.approx([0.1, 2.8, 0.1], abs=0.4)
    # a hidden linear layer has neither kernels nor a gridded input: locality does not act
    hidden = layer_scores(
        layer_prior(), (4, 6), np.ones((4, 6)), {"degrees", "locality"}, False, (), gen
    )
    assert hidden.applied == {"degrees"}
    assert np.array_equal(hidden.structure, hidden.total)


def test_gem_miner_scores_start_on_the_prior_draw(ticket_store):
    data = load_dataset("mnist1d")
    state = initial_state("mnist1d_mlp", data.input_shape, data.num_classes, 5)
    config = PruneConfig(method="gem_miner", start="prior", prior_store=str(ticket_store))
    ctx = level_one("mnist1d_mlp", data, state, 0.3, 0.6, seed=5, config=config)
    scores = initial_scores(ctx)
    drawn = METHODS["prior"].build(
        level_one("mnist1d_mlp", data, state, 0.3, 0.6, seed=5, config=config)
    )
    for name, score in scores.items():
        assert torch.equal(score >= 0.5, drawn[name]), name
        assert float(score.min()) >= 0 and float(score.max()) < 1
    # hidden 14000 at 0.3 and output 1000 at 0.6: the draw keeps the ladder's count
    assert sum(int((s >= 0.5).sum()) for s in scores.values()) == 4200 + 600


@pytest.mark.parametrize(
    "method, prune, key",
    [
        ("rigl", {"start": "prior"}, "prune.prior_store"),
        ("set", {"dst_steer": 1.0}, "prune.prior_store"),
        ("rigl", {"dst_steer": -1.0}, "prune.dst_steer"),
        ("rigl", {"start": "random"}, "prune.start"),
        ("gem_miner", {"start": "erk"}, "prune.start"),
        ("gem_miner", {"start": "prior", "prior_store": "/no/store.h5"}, "prune.prior_store"),
    ],
)
def test_a_prior_start_or_steer_without_a_store_is_named(method, prune, key):
    cfg = Config(prune=PruneConfig(method=method, **prune))
    with pytest.raises(ConfigError, match=key):
        METHODS[method].check(cfg)


# -- through the driver, on real MNIST-1D -----------------------------------------------------
def _sweep(out, name, *overrides) -> dict:
    args = [*TICKETS, "seed=3", f"out={out}", f"sweep.name={name}", *overrides]
    assert main(["sweep", *args]) == 0
    manifest = load_json(out / "sweeps" / name / "manifest.json")
    (run_id,) = manifest["runs"]
    return out / "runs" / run_id


def test_rigl_from_a_prior_start_and_steered_by_it(ticket_store, tmp_path):
    store = f"prune.prior_store={ticket_store}"
    still = ["prune.dst_alpha=0"]  # a mask that never moves: the start mask at the end
    prior = _sweep(tmp_path, "prior", "prune.method=prior", store)
    start = _sweep(tmp_path, "start", "prune.method=rigl", "prune.start=prior", store, *still)
    erk = _sweep(tmp_path, "erk", "prune.method=rigl", *still)
    steered_erk = _sweep(tmp_path, "steer", "prune.method=rigl", "prune.dst_steer=1", store, *still)
    moving = _sweep(
        tmp_path,
        "moving",
        "prune.method=rigl",
        "prune.start=prior",
        "prune.dst_steer=1",
        store,
        "prune.dst_interval=10",
    )
    for level in (1, 2):

        def mask(run, level=level):
            return load_tensors(run / f"level_{level}" / "mask.pt")

        same = mask(prior), mask(start)
        assert all(torch.equal(same[0][n], same[1][n]) for n in same[0])  # the prior's draw
        plain, steered = mask(erk), mask(steered_erk)
        assert all(torch.equal(plain[n], steered[n]) for n in plain)  # the steer draws apart
        weights = load_tensors(steered_erk / f"level_{level}" / "grow_weights.pt")
        assert set(weights) == set(plain)
        assert all(float(w.min()) > 0 and float(w.max()) == 1.0 for w in weights.values())
        assert not (erk / f"level_{level}" / "grow_weights.pt").exists()
        moved = mask(moving)
        assert any(not torch.equal(moved[n], same[0][n]) for n in moved)
        assert [int(m.sum()) for m in moved.values()] == [int(m.sum()) for m in same[0].values()]
    notes = load_json(prior / "level_1" / "mask_notes.json")
    # MNIST-1D's hidden and output layers read no gridded input: no locality there
    assert notes == {"prior_not_applied": {"fc2.weight": ["locality"], "fc3.weight": ["locality"]}}


@pytest.mark.slow
def test_prior_on_a_convolutional_network_learns_and_applies_kernel_positions(tmp_path):
    tickets = tmp_path / "cnn"
    cnn = [*TICKETS, "model=mnist1d_cnn", f"out={tickets}"]
    assert main(["sweep", *cnn, "seed=0,1", "sweep.name=t"]) == 0
    assert main(["reduce", str(tickets / "runs"), str(tickets / "store.h5")]) == 0
    from pipeline.prior.learn import learn_prior

    prior = learn_prior(tickets / "store.h5", "mnist1d_cnn", 0.5, "mnist1d")
    convs = [name for name, layer in prior.layers.items() if layer.kernel is not None]
    assert convs and all(prior.layers[n].kernel.mean() == pytest.approx(1) for n in convs)
    run = _sweep(
        tmp_path,
        "p",
        "model=mnist1d_cnn",
        "prune.method=prior",
        f"prune.prior_store={tickets / 'store.h5'}",
    )
    notes = load_json(run / "level_1" / "mask_notes.json")["prior_not_applied"]
    assert not set(notes) & set(convs)  # every component acts on every convolution
    assert all(missing == ["locality"] for missing in notes.values())
