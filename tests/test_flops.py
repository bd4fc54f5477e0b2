"""Training FLOPs counted from masks, against hand counts on a 2-layer MLP and a 1-conv net."""

import pytest
import torch
from torch import nn

from pipeline.models.registry import MODELS, ModelSpec
from pipeline.paths import LevelPaths
from pipeline.prune import flops


class TwoLayer(nn.Module):
    def __init__(self, kit):
        super().__init__()
        self.kit, self.fc1, self.fc2 = kit, kit.linear(3, 4), kit.linear(4, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.kit.vector(x))))


class OneConv(nn.Module):
    """3x3 convolution, 1 -> 2 channels, no padding: 5x5 input, 3x3 output; then linear."""

    def __init__(self, kit):
        super().__init__()
        self.kit, self.conv = kit, kit.conv(1, 2, (3, 3))
        self.fc = kit.linear(2 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(self.kit.flatten(torch.relu(self.conv(self.kit.image(x)))))


@pytest.fixture
def tiny_models(monkeypatch):
    monkeypatch.setitem(
        MODELS, "flops_mlp", ModelSpec("flops_mlp", lambda k, s, c: TwoLayer(k), "vector")
    )
    monkeypatch.setitem(
        MODELS, "flops_conv", ModelSpec("flops_conv", lambda k, s, c: OneConv(k), "image")
    )
    flops.output_positions.cache_clear()
    yield
    flops.output_positions.cache_clear()


def _keep(shape, count):
    mask = torch.zeros(shape, dtype=torch.bool).flatten()
    mask[:count] = True
    return mask.view(shape)


def test_a_two_layer_mlp_costs_two_flops_per_kept_weight_and_three_forwards_per_step(
    tiny_models,
):
    positions = flops.output_positions("flops_mlp", (3,), 2)
    assert positions == {"fc1.weight": 1, "fc2.weight": 1}
    masks = {"fc1.weight": _keep((4, 3), 5), "fc2.weight": _keep((2, 4), 3)}
    assert flops.forward_flops(masks, positions) == 2 * (5 + 3)  # 16
    assert flops.train_step_flops(masks, positions) == 48
    # score steps: forward and activation gradients sparse (2 x 16), score gradients dense
    # (2 * (12 + 8) = 40)
    assert flops.score_step_flops(masks, positions) == 32 + 40


def test_a_convolution_costs_its_kept_weights_at_every_output_position(tiny_models):
    positions = flops.output_positions("flops_conv", (1, 5, 5), 3)
    assert positions == {"conv.weight": 9, "fc.weight": 1}
    masks = {"conv.weight": _keep((2, 1, 3, 3), 7), "fc.weight": _keep((3, 18), 10)}
    assert flops.forward_flops(masks, positions) == 2 * 7 * 9 + 2 * 10  # 146
    assert flops.train_step_flops(masks, positions) == 438
    dense = {n: torch.ones_like(m) for n, m in masks.items()}
    assert flops.forward_flops(dense, positions) == 2 * 18 * 9 + 2 * 54  # 432


def test_examples_seen_counts_each_epochs_short_last_batch():
    # 10 examples in batches of 4: 4, 4, 2 per epoch; iterations 2..6 are 2, 4, 4, 2, 4
    assert flops.examples_seen(2, 7, 10, 4) == 16
    assert flops.examples_seen(0, 6, 10, 4) == 20  # two whole epochs
    assert flops.examples_seen(2, 7, 10, 4, drop_last=True) == 20  # batches 4, 4 per epoch
    assert flops.examples_seen(3, 3, 10, 4) == 0


def test_a_level_without_a_reported_search_spent_nothing_on_its_mask(tmp_path):
    level = LevelPaths(tmp_path)
    assert flops.load_mask_flops(level) == 0
    flops.save_mask_flops(level, 12345)
    assert flops.load_mask_flops(level) == 12345
