"""Masks found by training (GEM-MINER, early-bird tickets) on hand-made cases whose right
answer is known: one linear layer on data where one input decides the class."""

import pytest
import torch
from contexts import level_one
from torch import nn

from pipeline.config import PruneConfig, TrainConfig
from pipeline.data.tensors import TensorDataset
from pipeline.methods import METHODS
from pipeline.models import initial_state
from pipeline.models.registry import MODELS, ModelSpec
from pipeline.prune import flops
from pipeline.prune.search import early_bird, gem_miner

INPUTS = 8
SGD = TrainConfig(optimizer="sgd", lr=0.1, batch_size=128)


class Linear(nn.Module):
    """logits = W x + b: one layer, which is the output layer."""

    def __init__(self, kit):
        super().__init__()
        self.kit, self.fc = kit, kit.linear(INPUTS, 2)

    def forward(self, x):
        return self.fc(self.kit.vector(x))


@pytest.fixture
def linear_model(monkeypatch):
    monkeypatch.setitem(
        MODELS, "one_linear", ModelSpec("one_linear", lambda k, s, c: Linear(k), "vector")
    )
    flops.output_positions.cache_clear()
    yield "one_linear"
    flops.output_positions.cache_clear()


def _sign_data(examples: int, seed: int) -> TensorDataset:
    """Inputs of +-1; the class is 1 exactly when input 0 is +1."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(2, (examples, 1, INPUTS), generator=gen).float() * 2 - 1
    return TensorDataset(x, (x[:, 0, 0] > 0).long(), x[:64], (x[:64, 0, 0] > 0).long(), 2)


def _ctx(model, data, state, output_density, density=1.0, config=None, train=None, seed=0):
    return level_one(
        model, data, state, density, output_density, seed=seed, config=config, train=train
    )


def _signs_state(seed: int = 3) -> dict:
    """Weights of +-1 at random, except the two that read input 0 with the right sign:
    class 0's logit gets -x0, class 1's +x0. Keeping just those two classifies every
    example; any other pair of weights at most 3 in 4."""
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randint(2, (2, INPUTS), generator=gen).float() * 2 - 1
    weight[0, 0], weight[1, 0] = -1.0, 1.0
    return {"fc.weight": weight, "fc.bias": torch.zeros(2)}


def test_survivors_shrink_geometrically_to_the_count():
    # 100 weights to 10 in 2 rounds: 100 * 0.1 ** 0.5 = 31.6 -> 32, then exactly 10
    assert gem_miner.survivors(100, 10, 2) == [32, 10]
    assert gem_miner.survivors(100, 7, 1) == [7]


def test_ties_break_at_random_not_by_position():
    scores = {"a": torch.ones(50), "b": torch.ones(50)}
    alive = {"a": torch.ones(50, dtype=torch.bool), "b": torch.ones(50, dtype=torch.bool)}
    kept = gem_miner.keep_top_random_ties(scores, alive, 50, torch.Generator().manual_seed(0))
    assert int(kept["a"].sum()) + int(kept["b"].sum()) == 50
    assert 10 < int(kept["a"].sum()) < 40  # by position all 50 would be in "a"
    scores["b"][7] = 2.0
    alive["b"][8] = False
    scores["b"][8] = 5.0  # pruned already: never kept, whatever its score
    kept = gem_miner.keep_top_random_ties(scores, alive, 1, torch.Generator().manual_seed(0))
    assert kept["b"][7] and int(kept["a"].sum()) + int(kept["b"].sum()) == 1


def test_gem_miner_finds_the_only_pair_of_weights_that_classifies_everything(linear_model):
    data = _sign_data(256, seed=1)
    config = PruneConfig(gem_epochs=30, gem_period=3)
    ctx = _ctx(linear_model, data, _signs_state(), output_density=2 / 16, config=config)
    mask = METHODS["gem_miner"].build(ctx)["fc.weight"]
    expected = torch.zeros(2, INPUTS, dtype=torch.bool)
    expected[0, 0] = expected[1, 0] = True
    assert torch.equal(mask, expected)
    # score steps on 30 epochs of 256 examples: the dense forward is 2 * 16 = 32 FLOPs; a
    # step costs one dense forward (score gradients) plus two through the kept weights
    (spent,) = ctx.spent_flops
    assert 30 * 256 * 32 <= spent <= 3 * 30 * 256 * 32
    assert spent > 30 * 256 * 32  # some weights were kept while it trained


@pytest.mark.parametrize(
    "method, config",
    [
        ("gem_miner", PruneConfig(gem_epochs=3, gem_period=1)),
        ("early_bird", PruneConfig(early_bird_epochs=3)),
    ],
)
def test_searches_keep_the_ladders_count_reproducibly_on_a_real_mlp(method, config):
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(64, 1, 40, generator=gen),
        torch.randint(10, (64,), generator=gen),
        torch.randn(8, 1, 40, generator=gen),
        torch.randint(10, (8,), generator=gen),
        10,
    )
    state = initial_state("mnist1d_mlp", (1, 40), 10, 0)

    def build():
        ctx = _ctx("mnist1d_mlp", data, state, 0.5, density=0.1, config=config, train=SGD)
        return METHODS[method].build(ctx), ctx

    mask, ctx = build()
    # hidden 40*100 + 100*100 = 14000 at 0.1, output 1000 at 0.5
    assert sum(int(m.sum()) for m in mask.values()) == 1400 + 500
    assert all(m.dtype == torch.bool and m.device.type == "cpu" for m in mask.values())
    again, _ = build()
    assert all(torch.equal(mask[n], again[n]) for n in mask)
    assert len(ctx.spent_flops) == 1 and ctx.spent_flops[0] > 0


def test_mask_distance_is_the_share_of_kept_positions_that_moved():
    a = {"w": torch.tensor([1, 1, 0, 0], dtype=torch.bool)}
    b = {"w": torch.tensor([0, 1, 1, 0], dtype=torch.bool)}
    assert early_bird.mask_distance(a, b) == 2 / 4
    assert early_bird.mask_distance(a, a) == 0.0
    assert early_bird.mask_distance(a, {"w": ~a["w"]}) == 1.0


def test_early_bird_stops_once_the_mask_has_held_still_for_the_window(linear_model):
    """Training raises |w| of the two weights that read input 0 from the first epoch on and
    never raises the others' (they only add noise to the logits), so the 2-weight magnitude
    mask is the same after every epoch: five zero distances after six epochs."""
    data = _sign_data(256, seed=1)
    ctx = _ctx(linear_model, data, _signs_state(), output_density=2 / 16, train=SGD)
    mask = METHODS["early_bird"].build(ctx)["fc.weight"]
    expected = torch.zeros(2, INPUTS, dtype=torch.bool)
    expected[0, 0] = expected[1, 0] = True
    assert torch.equal(mask, expected)
    # 6 epochs of 256 examples at 3 dense forwards of 2 * 16 FLOPs each
    assert ctx.spent_flops == [6 * 256 * 3 * 32]


def test_early_bird_trains_its_most_epochs_when_the_mask_never_settles(linear_model):
    data = _sign_data(256, seed=1)
    config = PruneConfig(early_bird_epochs=4, early_bird_window=5)  # a window never filled
    ctx = _ctx(linear_model, data, _signs_state(), 2 / 16, config=config, train=SGD)
    METHODS["early_bird"].build(ctx)
    assert ctx.spent_flops == [4 * 256 * 3 * 32]


@pytest.mark.parametrize(
    "options",
    [
        ["prune.method=gem_miner", "prune.gem_epochs=2", "prune.gem_period=1"],
        ["prune.method=early_bird", "prune.early_bird_epochs=2"],
    ],
)
def test_a_searched_level_records_its_search_beside_its_training(options, tmp_path):
    from pipeline.cli import main
    from pipeline.io import load_json, load_tensors

    args = ["sweep=none", "train.duration=1ep", "prune.levels=1", "launcher.threads=1"]
    assert main(["sweep", *args, *options, f"out={tmp_path}", "sweep.name=s"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert not (run / "level_0").exists()  # never looks at the trained dense network
    level = run / "level_1"
    kept = sum(int(m.sum()) for m in load_tensors(level / "mask.pt").values())
    metrics = load_json(level / "metrics.json")
    assert metrics["train_flops"] == 3 * 2 * kept * 4000  # one epoch of MNIST-1D
    # two search epochs cost more than the sparse training, at most 3 dense forwards each
    dense = 2 * (40 * 100 + 100 * 100 + 100 * 10)
    assert metrics["train_flops"] < metrics["mask_flops"] <= 2 * 4000 * 3 * dense
    assert metrics["mask_flops"] == load_json(level / "mask_flops.json")["mask_flops"]
