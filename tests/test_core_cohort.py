"""A cohort of K runs trained as one network behaves as K separate runs."""

import pytest
import torch
import torch.nn.functional as F

from pipeline.config import TrainConfig
from pipeline.data import load_dataset
from pipeline.data.batches import EpochPlan
from pipeline.models import MODELS, build_cohort, build_plain, initial_state, stack_states
from pipeline.models.members import member_state, prunable_names
from pipeline.steps import Schedule
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member

CPU = torch.device("cpu")
SHAPES = {"vector": (1, 40), "image": (3, 32, 32)}


@pytest.fixture(scope="module")
def mnist1d():
    return load_dataset("mnist1d")


def _plan(train: TrainConfig, end: int, ipe: int = 40) -> LevelPlan:
    return LevelPlan(
        "mnist1d_mlp",
        train,
        0,
        0,
        end,
        learning_rate(train, Schedule.resolve(train, ipe)),
        eval_every=100,
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_member_outputs_equal_the_plain_model(name):
    shape = (1, 40) if name.startswith("mnist1d") else SHAPES[MODELS[name].input_kind]
    states = [initial_state(name, shape, 10, seed) for seed in range(3)]
    cohort = build_cohort(name, shape, 10, 3)
    cohort.load_state_dict(stack_states(states))
    plain = build_plain(name, shape, 10)
    plain.load_state_dict(states[1])
    x = torch.randn(3, 4, *shape, generator=torch.Generator().manual_seed(0))
    cohort.eval()
    plain.eval()
    with torch.no_grad():
        expected = plain(x[1])
        # Fresh BatchNorm statistics in eval mode let activations grow with depth (ResNet-56
        # outputs reach 1e5), so float32 rounding is compared against the output's own scale.
        scale = expected.abs().max().item()
        torch.testing.assert_close(cohort(x)[1], expected, rtol=1e-4, atol=1e-5 * scale)
    # Export gives the plain model's names and shapes.
    exported = member_state(cohort.state_dict(), 3, 1)
    assert {k: v.shape for k, v in exported.items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    assert prunable_names(cohort) == prunable_names(plain)


def test_cohort_member_follows_the_same_trajectory_as_alone(mnist1d):
    """Member 2 of a 4-run cohort vs the same run alone: 300 Adam steps, masked, on CPU."""
    train = TrainConfig(optimizer="adam", lr=1e-3, batch_size=100)
    names = prunable_names(build_plain("mnist1d_mlp", (1, 40), 10))
    gen = torch.Generator().manual_seed(5)

    def mask(seed):
        state = initial_state("mnist1d_mlp", (1, 40), 10, seed)
        return {n: torch.rand(state[n].shape, generator=gen) < 0.5 for n in names}

    masks = [mask(s) for s in range(4)]
    members = [Member(s, initial_state("mnist1d_mlp", (1, 40), 10, s), masks[s]) for s in range(4)]
    together = CohortTrainer(_plan(train, 300), members, mnist1d, CPU).run()
    alone = CohortTrainer(
        _plan(train, 300),
        [Member(2, initial_state("mnist1d_mlp", (1, 40), 10, 2), masks[2])],
        mnist1d,
        CPU,
    ).run()
    for key, value in alone[0].state.items():
        assert torch.allclose(together[2].state[key], value, rtol=1e-5, atol=1e-6), key
    assert [e["test_accuracy"] for e in together[2].evaluations] == pytest.approx(
        [e["test_accuracy"] for e in alone[0].evaluations], abs=2e-3
    )
    # and the weights really moved
    start = initial_state("mnist1d_mlp", (1, 40), 10, 2)
    assert (alone[0].state["fc1.weight"] - start["fc1.weight"]).abs().max() > 0.05


def test_k1_cohort_matches_a_plain_module_trained_by_hand(mnist1d):
    """The cohort loop with K=1 equals an ordinary nn.Module + SGD loop on the same batches."""
    train = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4, batch_size=100)
    start = initial_state("mnist1d_mlp", (1, 40), 10, 11)
    result = CohortTrainer(_plan(train, 200), [Member(11, start)], mnist1d, CPU).run()[0]

    plain = build_plain("mnist1d_mlp", (1, 40), 10)
    plain.load_state_dict(start)
    opt = torch.optim.SGD(plain.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    for iteration in range(200):
        plan = EpochPlan([11], 0, iteration // 40, 4000, False, CPU)
        x, y = plan.batch(mnist1d, iteration % 40, 100)
        loss = F.cross_entropy(plain(x[0]), y[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for key, value in plain.state_dict().items():
        assert torch.allclose(result.state[key], value, rtol=1e-4, atol=1e-5), key


def test_masking_one_member_changes_nothing_in_the_others(mnist1d):
    train = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, batch_size=100)
    names = prunable_names(build_plain("mnist1d_mlp", (1, 40), 10))

    def run(mask_member_one: bool):
        members = []
        for seed in range(3):
            state = initial_state("mnist1d_mlp", (1, 40), 10, seed)
            mask = None
            if seed == 1 and mask_member_one:
                mask = {n: torch.zeros_like(state[n], dtype=torch.bool) for n in names}
                mask["fc1.weight"][:5] = True
            members.append(Member(seed, state, mask))
        return CohortTrainer(_plan(train, 120), members, mnist1d, CPU).run()

    dense, masked = run(False), run(True)
    for index in (0, 2):
        for key in dense[index].state:
            assert torch.equal(dense[index].state[key], masked[index].state[key]), key
    # the masked member itself is exactly zero where pruned, after every step
    pruned = masked[1].state["fc2.weight"]
    assert torch.count_nonzero(pruned) == 0
    assert torch.count_nonzero(masked[1].state["fc1.weight"][5:]) == 0
    assert torch.count_nonzero(masked[1].state["fc1.weight"][:5]) > 0


def test_exported_member_loads_into_the_plain_class(mnist1d):
    train = TrainConfig(optimizer="adam", lr=1e-3, batch_size=100)
    members = [Member(s, initial_state("mnist1d_mlp", (1, 40), 10, s)) for s in range(2)]
    trainer = CohortTrainer(_plan(train, 40), members, mnist1d, CPU)
    results = trainer.run()
    plain = build_plain("mnist1d_mlp", (1, 40), 10)
    plain.load_state_dict(results[1].state)  # strict: same keys and shapes
    plain.eval()
    with torch.no_grad():
        accuracy = (plain(mnist1d.x_test).argmax(1) == mnist1d.y_test).float().mean()
    assert float(accuracy) == pytest.approx(results[1].evaluations[-1]["test_accuracy"], abs=1e-6)
