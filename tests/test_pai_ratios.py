"""Layer-density profiles (ERK, uniform, Su et al.'s smart ratios) computed by hand, and the
random masks drawn with a profile."""

import pytest
import torch

from pipeline.config import PruneConfig
from pipeline.methods import METHODS
from pipeline.prune.context import PruneContext
from pipeline.prune.ladder import Rung
from pipeline.prune.pai.profile import proportional_densities, random_with_profile
from pipeline.prune.pai.ratios import erk, su_ratios, uniform

# a conv layer (2 filters, 1 channel, 3x3) and two linear layers, the last the output
SMALL = {"conv.weight": (2, 1, 3, 3), "fc.weight": (4, 2), "out.weight": (2, 4)}
# three 10x10 linear layers and a 10-weight output layer
DEEP = {"a.weight": (10, 10), "b.weight": (10, 10), "c.weight": (10, 10), "out.weight": (1, 10)}


def _ctx(shapes, density, output_density, seed=0):
    """A context for profiles, which read only the shapes, the ladder's rung and the generator."""
    shapes = {n: torch.Size(s) for n, s in shapes.items()}
    return PruneContext(
        level=1,
        rung=Rung(1 - density, 1 - output_density, density, output_density),
        names=list(shapes),
        scope="global",
        previous_mask={},
        trained=None,
        shapes=shapes,
        generator=torch.Generator().manual_seed(seed),
        model="",
        data=None,
        rewind_state=None,
        seed=seed,
        config=PruneConfig(),
        dataset="",
    )


def _counts(densities, shapes):
    return {n: round(d * torch.Size(shapes[n]).numel()) for n, d in densities.items()}


def test_erk_densities_by_hand():
    # raw = sum(shape) / prod(shape): conv (2+1+3+3)/18 = 0.5, fc (4+2)/8 = 0.75, out 0.75.
    # budget round(0.5 * 26) + round(0.25 * 8) = 15; eps = 15 / (0.5*18 + 0.75*8 + 0.75*8)
    # = 15/21: shares 6.43, 4.29, 4.29 -> floors 6, 4, 4 and the one left to conv (0.43).
    densities = erk(_ctx(SMALL, 0.5, 0.25))
    assert _counts(densities, SMALL) == {"conv.weight": 7, "fc.weight": 4, "out.weight": 4}
    assert densities["conv.weight"] == pytest.approx(7 / 18)


def test_erk_caps_layers_at_one_and_gives_the_rest_to_the_others():
    # budget round(0.9 * 26) + 8 = 31; eps = 31/21 makes fc and out 0.75 * 1.48 > 1, so they
    # stay dense (16 weights) and conv takes the other 15 of its 18.
    densities = erk(_ctx(SMALL, 0.9, 1.0))
    assert densities == {"conv.weight": pytest.approx(15 / 18), "fc.weight": 1.0, "out.weight": 1.0}


def test_proportional_densities_are_exact_and_capped():
    sizes = {"x": 10, "y": 10, "z": 100}
    densities = proportional_densities({"x": 8.0, "y": 1.0, "z": 1.0}, sizes, 30)
    # eps = 30 / 190 puts x at 1.26: it is capped; y and z share 20 as 10:100 -> 1.82, 18.2
    assert densities == {"x": 1.0, "y": pytest.approx(0.2), "z": pytest.approx(0.18)}
    assert proportional_densities({"x": 1.0, "y": 1.0, "z": 1.0}, sizes, 120) == {
        "x": 1.0,
        "y": 1.0,
        "z": 1.0,
    }
    with pytest.raises(ValueError, match="cannot keep 121"):
        proportional_densities({"x": 1.0, "y": 1.0, "z": 1.0}, sizes, 121)


def test_uniform_gives_every_layer_the_same_density():
    # budget 15 of 34: shares 7.94, 3.53, 3.53 -> 7, 3, 3 plus two by largest remainder
    # (conv, then fc before out on the tie)
    densities = uniform(_ctx(SMALL, 0.5, 0.25))
    assert _counts(densities, SMALL) == {"conv.weight": 8, "fc.weight": 4, "out.weight": 3}


def test_su_smart_ratios_by_hand():
    # L = 4 layers: keep ratios proportional to k^2 + k with k = L - l + 1 = 4, 3, 2, i.e. 20,
    # 12, 6; the output layer keeps round(0.3 * 10) = 3. Budget round(0.2 * 300) + 3 = 63, so
    # the hidden layers share 60: eps = 60 / 3800, shares 31.58, 18.95, 9.47 -> 31, 18, 9
    # and the two left to b (0.95) and a (0.58).
    densities = su_ratios(_ctx(DEEP, 0.2, 0.3))
    assert _counts(densities, DEEP) == {
        "a.weight": 32,
        "b.weight": 19,
        "c.weight": 9,
        "out.weight": 3,
    }
    # the output stays at 30% whatever the ladder's output density
    assert su_ratios(_ctx(DEEP, 0.2, 0.9))["out.weight"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="does not fit"):
        su_ratios(_ctx(DEEP, 0.005, 0.0))


def test_random_with_profile_draws_exact_counts_reproducibly():
    densities = {"conv.weight": 0.5, "fc.weight": 0.25, "out.weight": 1.0}
    mask = random_with_profile(_ctx(SMALL, 0.5, 0.5), densities)
    assert {n: int(m.sum()) for n, m in mask.items()} == {
        "conv.weight": 9,
        "fc.weight": 2,
        "out.weight": 8,
    }
    assert all(mask[n].shape == torch.Size(s) for n, s in SMALL.items())
    again = random_with_profile(_ctx(SMALL, 0.5, 0.5), densities)
    other = random_with_profile(_ctx(SMALL, 0.5, 0.5, seed=1), densities)
    assert all(torch.equal(mask[n], again[n]) for n in SMALL)
    assert not all(torch.equal(mask[n], other[n]) for n in SMALL)
    with pytest.raises(ValueError, match="exactly the prunable layers"):
        random_with_profile(_ctx(SMALL, 0.5, 0.5), {"conv.weight": 0.5})
    with pytest.raises(ValueError, match="outside"):
        random_with_profile(_ctx(SMALL, 0.5, 0.5), {**densities, "out.weight": 1.5})


def test_profiles_are_methods_drawing_their_densities():
    ctx = _ctx(DEEP, 0.2, 0.3)
    mask = METHODS["su_ratios"].build(ctx)
    assert not METHODS["su_ratios"].uses_dense
    assert {n: int(m.sum()) for n, m in mask.items()} == {
        "a.weight": 32,
        "b.weight": 19,
        "c.weight": 9,
        "out.weight": 3,
    }
