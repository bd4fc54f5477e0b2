"""Fast-path switches: the same math through other kernels, or documented numerics."""

import pytest
import torch

from pipeline.config import TrainConfig
from pipeline.data import load_dataset
from pipeline.data.batches import iterations_per_epoch
from pipeline.data.tensors import TensorDataset
from pipeline.models import initial_state
from pipeline.steps import Schedule
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mnist1d():
    return load_dataset("mnist1d")


def _train(data, model, train, end, members=2, **plan):
    ipe = iterations_per_epoch(len(data.y_train), train.batch_size, train.drop_last)
    level = LevelPlan(
        model,
        train,
        0,
        0,
        end,
        learning_rate(train, Schedule.resolve(train, ipe)),
        eval_every=0,
        **plan,
    )
    start = [
        Member(s, initial_state(model, data.input_shape, data.num_classes, s))
        for s in range(members)
    ]
    return CohortTrainer(level, start, data, CPU).run()


@pytest.mark.parametrize("impl", ["loop", "foreach", "fused"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_implementations_compute_the_same_update(mnist1d, optimizer, impl):
    train = TrainConfig(
        optimizer=optimizer, lr=0.01, momentum=0.9 if optimizer == "sgd" else 0, batch_size=100
    )
    reference = _train(mnist1d, "mnist1d_mlp", train, 60)
    other = _train(mnist1d, "mnist1d_mlp", train, 60, optimizer_impl=impl)
    for a, b in zip(reference, other):
        for key in a.state:
            assert torch.allclose(a.state[key], b.state[key], rtol=1e-5, atol=1e-6), key


def test_channels_last_gives_the_same_trajectory():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (64,), generator=gen)
    data = TensorDataset(x, y, x[:16], y[:16], 10)
    train = TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9, batch_size=16)
    plain = _train(data, "conv2", train, 8)
    nhwc = _train(data, "conv2", train, 8, channels_last=True)
    for a, b in zip(plain, nhwc):
        for key in a.state:
            assert torch.allclose(a.state[key], b.state[key], rtol=1e-4, atol=1e-5), key


def test_bf16_autocast_keeps_fp32_weights_and_reaches_fp32_accuracy(mnist1d):
    fp32 = TrainConfig(optimizer="adam", lr=2e-3, batch_size=100)
    bf16 = TrainConfig(optimizer="adam", lr=2e-3, batch_size=100, precision="bf16")
    a = _train(mnist1d, "mnist1d_mlp", fp32, 400)
    b = _train(mnist1d, "mnist1d_mlp", bf16, 400)
    assert all(v.dtype == torch.float32 for v in b[0].state.values())
    assert not torch.equal(a[0].state["fc1.weight"], b[0].state["fc1.weight"])  # really bf16
    for x, y in zip(a, b):
        assert y.evaluations[-1]["test_accuracy"] == pytest.approx(
            x.evaluations[-1]["test_accuracy"], abs=0.05
        )


def test_drop_last_never_draws_the_partial_batch(mnist1d):
    assert iterations_per_epoch(4000, 128) == 32
    assert iterations_per_epoch(4000, 128, drop_last=True) == 31
    train = TrainConfig(optimizer="sgd", lr=0.01, batch_size=128, drop_last=True)
    (result,) = _train(mnist1d, "mnist1d_mlp", train, 62, members=1)
    assert result.evaluations[-1]["iteration"] == 62  # two full epochs of 31 batches
