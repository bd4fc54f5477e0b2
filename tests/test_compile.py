"""The compiled training step (launcher.compile) on the CPU: the same training as eager.

Compiled kernels round differently (fused operations, other reduction orders), so weights
agree to a tolerance, not bitwise. Each tensor's difference is measured against how far
training moved it from the start ("drift" below):
- after one step the drift is at most 1e-3 for every model and optimizer: the same math
  (a wrong gradient, update or mask gives about 1; Conv-2's zero convolution gradients under
  torch 2.13's peak-memory reordering gave exactly 1);
- after 200 steps it is at most 1e-3 with SGD and 3e-2 with Adam (Adam divides each gradient
  by its own running size, so rounding noise in near-zero gradients becomes full-size
  updates), or, for nets whose training on these small random sets is chaotic (Conv-2,
  ResNet-20 with BatchNorm), at most 3x the drift of eager training started from weights
  nudged by 1e-6 of themselves: compiled stays as close to eager as eager stays to itself.
Compiling takes tens of seconds per graph here, so cases share compiled cohorts (same shape)
and Inductor's on-disk cache.
"""

from __future__ import annotations

import logging

import pytest
import torch
from torch._inductor import config as inductor_config
from torch._inductor.runtime import cache_dir_utils
from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

from pipeline.config import TrainConfig
from pipeline.data import load_dataset
from pipeline.data.batches import iterations_per_epoch
from pipeline.data.tensors import TensorDataset
from pipeline.models import MODELS, build_plain, initial_state, prunable_names
from pipeline.models.registry import ModelSpec
from pipeline.models.resnet import ResNet
from pipeline.paths import SweepPaths
from pipeline.steps import Schedule
from pipeline.train import compiled
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, Hooks, LevelPlan, Member, Stopped

CPU = torch.device("cpu")
STEPS = 200
ONE_STEP_DRIFT = 1e-3
NUDGE = 1e-6  # the relative perturbation of the eager baseline's start
# train.optimizer -> (recipe, drift allowed after STEPS steps)
RECIPES = {
    "sgd": (dict(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4), 1e-3),
    "adam": (dict(optimizer="adam", lr=1e-3), 3e-2),
}


def _images(shape: tuple[int, ...], train: int = 512, test: int = 256) -> TensorDataset:
    """Random inputs labelled by a fixed random linear teacher: learnable, and small."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(train + test, *shape, generator=gen)
    y = (x.flatten(1) @ torch.randn(x[0].numel(), 10, generator=gen)).argmax(1)
    return TensorDataset(x[:train], y[:train], x[train:], y[train:], 10)


@pytest.fixture(scope="module")
def datasets():
    """Each case's data, and a ResNet-20 of width 4 registered for this module only."""
    MODELS["resnet20_w4"] = ModelSpec(
        "resnet20_w4", lambda kit, shape, classes: ResNet(kit, shape, classes, 3, width=4), "image"
    )
    yield {
        "mnist1d_mlp": (load_dataset("mnist1d"), 100),
        "lenet_300_100": (_images((1, 28, 28)), 32),
        "conv2": (_images((3, 8, 8)), 32),
        "resnet20_w4": (_images((3, 8, 8)), 32),
    }
    del MODELS["resnet20_w4"]


def _members(model: str, data: TensorDataset, seeds=(0, 1)) -> list[Member]:
    """Member 0 dense, the others with a random mask keeping about half of every layer."""
    members = []
    for seed in seeds:
        state = initial_state(model, data.input_shape, data.num_classes, seed)
        gen = torch.Generator().manual_seed(100 + seed)
        names = _prunable(model, data)
        mask = {n: torch.rand(state[n].shape, generator=gen) < 0.5 for n in names}
        members.append(Member(seed, state, mask if seed else None))
    return members


def _prunable(model: str, data: TensorDataset) -> list[str]:
    return prunable_names(build_plain(model, data.input_shape, data.num_classes))


def _plan(model, data, batch, recipe, end, compile, start=0, checkpoint_every=0) -> LevelPlan:
    train = TrainConfig(batch_size=batch, **recipe)
    ipe = iterations_per_epoch(len(data.y_train), batch)
    return LevelPlan(
        model,
        train,
        1,
        start,
        end,
        learning_rate(train, Schedule.resolve(train, ipe)),
        eval_every=100,
        checkpoint_every=checkpoint_every,
        compile=compile,
    )


def _train(model, data, batch, recipe, compile, end=STEPS, members=None):
    plan = _plan(model, data, batch, recipe, end, compile)
    return CohortTrainer(plan, members or _members(model, data), data, CPU).run()


def _drift(reference, other, start: list[Member]) -> float:
    """The largest |other - reference| / |reference - start| over the float tensors."""
    worst = 0.0
    for a, b, s in zip(reference, other, start):
        for key, value in a.state.items():
            if not value.is_floating_point():
                assert torch.equal(value, b.state[key]), key  # BatchNorm's batch counters
                continue
            moved = (value - s.state[key]).norm()
            if moved > 0:
                worst = max(worst, float((b.state[key] - value).norm() / moved))
    return worst


def _nudged(members: list[Member]) -> list[Member]:
    gen = torch.Generator().manual_seed(1)
    for member in members:
        member.state = {
            k: v * (1 + NUDGE * torch.randn(v.shape, generator=gen)) if v.is_floating_point() else v
            for k, v in member.state.items()
        }
    return members


CHAOTIC = {"conv2", "resnet20_w4"}


def _check_against_eager(datasets, model: str, optimizer: str) -> None:
    data, batch = datasets[model]
    recipe, allowed = RECIPES[optimizer]
    start = _members(model, data)
    one = _train(model, data, batch, recipe, compile=True, end=1)
    assert _drift(_train(model, data, batch, recipe, False, end=1), one, start) < ONE_STEP_DRIFT
    eager = _train(model, data, batch, recipe, compile=False)
    fast = _train(model, data, batch, recipe, compile=True)
    if model in CHAOTIC:
        nudged = _train(model, data, batch, recipe, False, members=_nudged(_members(model, data)))
        allowed = 3 * _drift(eager, nudged, start)
    assert _drift(eager, fast, start) < allowed
    # compiled kernels really ran: they round differently from eager's
    assert any(
        not torch.equal(a.state[k], b.state[k]) for a, b in zip(eager, fast) for k in a.state
    )
    for a, b in zip(eager, fast):
        assert b.evaluations[-1]["test_accuracy"] == pytest.approx(
            a.evaluations[-1]["test_accuracy"], abs=0.05
        )
    # pruned weights stay exactly zero, and training really moved the weights
    for name, keep in start[1].mask.items():
        assert torch.count_nonzero(fast[1].state[name][~keep]) == 0, name
    first = _prunable(model, data)[0]
    assert (fast[0].state[first] - start[0].state[first]).abs().max() > 1e-3


def test_later_levels_reuse_the_compiled_cohort(datasets):
    """A second level of the same shape (other seeds, other masks) compiles nothing new and
    still trains exactly like eager; BatchNorm statistics load in place too."""
    data, batch = datasets["mnist1d_mlp"]
    recipe, allowed = RECIPES["sgd"]
    _train("mnist1d_mlp", data, batch, recipe, compile=True, end=20)
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    members = lambda: _members("mnist1d_mlp", data, seeds=(5, 7))  # noqa: E731
    plan = _plan("mnist1d_mlp", data, batch, recipe, STEPS, compile=True)
    trainer = CohortTrainer(plan, members(), data, CPU)
    again = trainer.run()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames
    assert trainer.cohort.fallback is None
    eager = _train("mnist1d_mlp", data, batch, recipe, False, members=members())
    assert _drift(eager, again, members()) < allowed


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_mlp_training_matches_eager(datasets, optimizer):
    _check_against_eager(datasets, "mnist1d_mlp", optimizer)


class _StopAt(Hooks):
    """Asks the loop to stop after `iteration` steps and keeps the members it exports."""

    def __init__(self, iteration: int):
        self.left, self.saved = iteration, None

    def on_checkpoint(self, iteration, members):
        self.saved = members

    def should_stop(self) -> bool:
        self.left -= 1
        return self.left <= 0


def test_a_stopped_compiled_level_resumes_to_the_uninterrupted_result(datasets):
    """Stop at a checkpoint, resume from the exported members (their optimizer state loads
    into the kept cohort in place): bitwise the run that never stopped."""
    data, batch = datasets["mnist1d_mlp"]
    recipe, _ = RECIPES["adam"]
    whole = _train("mnist1d_mlp", data, batch, recipe, compile=True, end=120)
    plan = _plan("mnist1d_mlp", data, batch, recipe, 120, compile=True, checkpoint_every=40)
    hooks = _StopAt(70)  # between the checkpoints at 40 and 80: stopping writes its own
    with pytest.raises(Stopped):
        CohortTrainer(plan, _members("mnist1d_mlp", data), data, CPU).run(hooks)
    assert [m.iteration for m in hooks.saved] == [70, 70]
    resumed = CohortTrainer(plan, hooks.saved, data, CPU).run()
    for a, b in zip(whole, resumed):
        assert [e["test_accuracy"] for e in a.evaluations] == [
            e["test_accuracy"] for e in b.evaluations
        ]
        for key in a.state:
            assert torch.equal(a.state[key], b.state[key]), key


# Together with the MLP above, every family and both optimizers; each case compiles a new
# graph (tens of seconds here, ResNet-20 about two minutes on a cold cache), hence slow.
@pytest.mark.slow
@pytest.mark.parametrize(
    "model, optimizer", [("lenet_300_100", "adam"), ("conv2", "sgd"), ("resnet20_w4", "sgd")]
)
def test_compiled_training_matches_eager_for_every_family(datasets, model, optimizer):
    _check_against_eager(datasets, model, optimizer)


def test_a_failed_compile_trains_eagerly_after_one_warning(datasets, tmp_path, caplog):
    """No working C++ compiler (as on many compute nodes): Inductor fails, the step restores
    what the failed call touched and trains eagerly: bitwise the eager result."""
    data, batch = datasets["mnist1d_mlp"]
    recipe, _ = RECIPES["sgd"]
    members = lambda: _members("mnist1d_mlp", data, seeds=(0, 1, 2))  # noqa: E731 (a new shape)
    eager = _train("mnist1d_mlp", data, batch, recipe, False, end=60, members=members())
    broken = {"cpp.cxx": ("/nonexistent/c++",)}
    plan = _plan("mnist1d_mlp", data, batch, recipe, 60, compile=True)
    with (
        temporary_cache_dir(str(tmp_path)),
        inductor_config.patch(broken),
        caplog.at_level(logging.WARNING, logger=compiled.__name__),
    ):
        trainer = CohortTrainer(plan, members(), data, CPU)
        fallen = trainer.run()
    (record,) = [r for r in caplog.records if r.name == compiled.__name__]
    assert "InvalidCxxCompiler" in record.getMessage() and "\n" not in record.getMessage()
    assert "InvalidCxxCompiler" in trainer.cohort.fallback
    for a, b in zip(eager, fallen):
        for key in a.state:
            assert torch.equal(a.state[key], b.state[key]), key


def test_inductor_cache_dir_defaults_under_the_sweep_unless_the_job_sets_it(tmp_path, monkeypatch):
    monkeypatch.delenv(compiled.CACHE_ENV, raising=False)
    default = SweepPaths(tmp_path / "sweep").inductor_cache
    assert compiled.use_cache_dir(default) == default
    assert compiled.os.environ[compiled.CACHE_ENV] == str(default)
    # importing Inductor's config fills in torch's own default: that is no job's choice
    monkeypatch.setenv(compiled.CACHE_ENV, cache_dir_utils.default_cache_dir())
    assert compiled.use_cache_dir(default) == default
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "node_local"))
    assert compiled.use_cache_dir(default) == tmp_path / "node_local"


def test_compile_mode_is_cuda_graphs_on_cuda_and_inductor_elsewhere():
    assert compiled.compile_mode(torch.device("cuda", 0)) == "reduce-overhead"
    assert compiled.compile_mode(CPU) == "default"
