"""Dynamic sparse training (`rigl`, `set`): the drop/grow rule on hand-made layers, its
schedule, the trainer moving masks inside a mixed cohort, and sweeps on real MNIST-1D."""

import dataclasses

import pytest
import torch
from sweep_helpers import StopAfter

from pipeline.config import Config, PruneConfig, TrainConfig
from pipeline.data import load_dataset
from pipeline.driver import CohortDriver
from pipeline.errors import ConfigError
from pipeline.io import load_tensors
from pipeline.methods import METHODS
from pipeline.models import initial_state
from pipeline.paths import Layout
from pipeline.prune.dynamic import MaskUpdate, update_masks
from pipeline.runs import level_metrics, link_runs
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member, Stopped

CPU = torch.device("cpu")
# 4000 examples at batch 100: 40 iterations an epoch, 80 a level; with dst_interval=10 and
# dst_end=0.75, updates at 10, 20, ..., 50
TRAIN = TrainConfig(optimizer="adam", lr=2e-3, batch_size=100, duration="2ep")


def _rule(grow="rigl", alpha=0.3, end=1000, interval=100, seed=0):
    return MaskUpdate(grow=grow, interval=interval, end=end, alpha=alpha, seed=seed)


# -- the rule on hand-made layers -----------------------------------------------------------
def test_one_update_drops_the_smallest_active_and_grows_the_largest_gradients():
    # a 2 x 4 layer, 5 active weights; half of them (floor(2.5) = 2) move
    weight = torch.tensor([[0.5, -0.1, 0.0, 0.9], [0.2, 0.0, -0.3, 0.0]])
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.bool)
    gradient = torch.tensor([[9.0, 0.1, -0.7, 9.0], [9.0, 0.4, 0.6, -0.8]])
    rule = _rule(alpha=1.0, end=100)  # at t = 50, alpha_t = 0.5
    new, grown = (
        m["w"] for m in update_masks(rule, 50, {"w": weight}, {"w": mask}, {"w": gradient})
    )
    # dropped: -0.1 at (0, 1) and 0.2 at (1, 0), the two smallest active |w|; grown: the two
    # largest |gradient| among the positions inactive after the drop, which include the
    # just-dropped (1, 0) with 9.0, then -0.8 at (1, 3); the other 9.0s sit on kept weights
    expected = torch.tensor([[1, 0, 0, 1], [1, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(new, expected)
    assert torch.equal(grown, torch.tensor([[0, 0, 0, 0], [1, 0, 0, 1]], dtype=torch.bool))
    assert int(new.sum()) == int(mask.sum())


def test_a_dropped_weight_with_a_small_gradient_does_not_regrow():
    weight = torch.tensor([[0.5, -0.1, 0.0, 0.9], [0.2, 0.0, -0.3, 0.0]])
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.bool)
    gradient = torch.tensor([[9.0, 0.1, -0.7, 9.0], [0.05, 0.4, 0.6, -0.8]])
    rule = _rule(alpha=1.0, end=100)  # at t = 50, alpha_t = 0.5
    new, grown = (
        m["w"] for m in update_masks(rule, 50, {"w": weight}, {"w": mask}, {"w": gradient})
    )
    # dropped (0, 1) and (1, 0); grown (1, 3) with 0.8 and (0, 2) with 0.7
    assert torch.equal(new, torch.tensor([[1, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.bool))
    assert torch.equal(grown, torch.tensor([[0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool))


def test_update_masks_keeps_every_layers_count_and_uses_the_schedules_fraction():
    gen = torch.Generator().manual_seed(3)
    weights = {"a": torch.randn(6, 10, generator=gen), "b": torch.randn(3, 6, generator=gen)}
    masks = {n: torch.rand(w.shape, generator=gen) < 0.4 for n, w in weights.items()}
    gradients = {n: torch.randn(w.shape, generator=gen) for n, w in weights.items()}
    rule = _rule(alpha=0.5, end=100, interval=10)
    new, grown = update_masks(rule, 50, weights, masks, gradients)  # fraction 0.25
    for name in masks:
        active = int(masks[name].sum())
        assert int(new[name].sum()) == active, name
        moved = int((masks[name] & ~new[name]).sum())
        assert moved == int(0.25 * active), name
        assert int(grown[name].sum()) == int(0.25 * active), name
        assert not (grown[name] & ~new[name]).any(), name


def test_the_cosine_schedule_and_when_updates_fall_due():
    rule = _rule(alpha=0.3, end=1000, interval=100)
    assert rule.fraction(0) == pytest.approx(0.3)
    assert rule.fraction(500) == pytest.approx(0.15)
    assert rule.fraction(1000) == pytest.approx(0.0)
    assert [t for t in range(0, 1201) if rule.due(t)] == list(range(100, 1000, 100))
    assert rule.updates(1200) == 9


def test_set_grows_the_same_positions_for_a_seed_and_other_ones_for_another():
    gen = torch.Generator().manual_seed(0)
    weights = {"w": torch.randn(20, 30, generator=gen)}
    masks = {"w": torch.rand(20, 30, generator=gen) < 0.3}

    def grown(seed, t=100):
        return update_masks(_rule("set", seed=seed), t, weights, masks, None)[1]["w"]

    assert torch.equal(grown(7), grown(7))
    assert not torch.equal(grown(7), grown(8))
    assert not torch.equal(grown(7), grown(7, t=200))
    new = update_masks(_rule("set", seed=7), 100, weights, masks, None)[0]["w"]
    assert int(new.sum()) == int(masks["w"].sum())


# -- the trainer ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist1d")


def _plain_masks(data, seed):
    state = initial_state("mnist1d_mlp", data.input_shape, data.num_classes, seed)
    gen = torch.Generator().manual_seed(seed)
    names = [n for n in state if n.endswith("weight")]
    return state, {n: torch.rand(state[n].shape, generator=gen) < 0.3 for n in names}


def _mixed_trainer(data, rules, compile=False, end=80):
    members = [Member(seed, *_plain_masks(data, seed)) for seed in (0, 1)]
    plan = LevelPlan(
        "mnist1d_mlp",
        TRAIN,
        1,
        0,
        end,
        lambda it: 2e-3,
        compile=compile,
        mask_updates=rules,
    )
    return members, CohortTrainer(plan, members, data, CPU)


def test_a_mixed_cohort_moves_only_the_dynamic_members_mask(data):
    rule = _rule(interval=10, end=60)
    members, trainer = _mixed_trainer(data, (None, rule))
    static, moving = trainer.run()
    _, alone = _mixed_trainer(data, (None, None))
    reference = alone.run()[0]
    # the static member trains bitwise as it would without a dynamic neighbour
    for key in static.state:
        assert torch.equal(static.state[key], reference.state[key]), key
    assert all(torch.equal(static.mask[n], members[0].mask[n]) for n in static.mask)
    for name, start in members[1].mask.items():
        end = moving.mask[name]
        assert int(end.sum()) == int(start.sum()), name  # counts per layer unchanged
        assert not torch.equal(end, start), name
        assert not moving.state[name][~end].any(), name  # weights outside the mask are zero


def test_grown_weights_and_their_optimizer_state_start_at_zero(data):
    rule = _rule(interval=10, end=60)
    members, trainer = _mixed_trainer(data, (None, rule))
    trainer.apply_masks()
    x, y = data.x_train[:200].view(2, 100, -1), data.y_train[:200].view(2, 100)
    trainer.cohort.step(x, y, None)  # creates the optimizer state
    name = "fc1.weight"
    param = trainer.params[name]
    half = param.shape[0] // 2
    with torch.no_grad():
        for value in trainer.optimizer.state[param].values():
            if value.shape == param.shape:
                value.fill_(1.0)
        param.add_(trainer.masks[name])  # active weights well away from zero
    before = {n: trainer.masks[n].clone() for n in trainer.masks}
    trainer._update_masks(10, x, y)  # t = 10: due
    grown = (trainer.masks[name] > 0) & (before[name] == 0)
    assert grown[half:].any() and not grown[:half].any()  # member 1 moved, member 0 did not
    assert torch.equal(trainer.masks[name][:half], before[name][:half])
    assert not param[grown].any()
    for value in trainer.optimizer.state[param].values():
        if value.shape == param.shape:
            assert not value[grown].any()
            assert (value[:half] == 1).all()


def test_compiled_training_reads_the_moved_masks(data):
    """Updates at 10..50 of 80 steps: if the compiled step kept stale mask buffers, the
    weights dropped at the last update would train on and end nonzero."""
    members, trainer = _mixed_trainer(data, (None, _rule(interval=10, end=60)), compile=True)
    moving = trainer.run()[1]
    for name, mask in moving.mask.items():
        assert int(mask.sum()) == int(members[1].mask[name].sum())
        assert not torch.equal(mask, members[1].mask[name])
        assert not moving.state[name][~mask].any(), name


# -- sweeps through the driver --------------------------------------------------------------
def _configs(*methods, **prune):
    base = Config(
        train=TRAIN,
        prune=PruneConfig(
            fraction=0.5, levels=2, output_scale=0.5, **{"dst_interval": 10, **prune}
        ),
    )
    return [
        dataclasses.replace(base, prune=dataclasses.replace(base.prune, method=m)) for m in methods
    ]


def _drive(root, configs, data, **kwargs):
    runs = link_runs(configs, Layout(root))
    CohortDriver(runs, data, CPU, **kwargs).run()
    return runs


def _results(runs):
    out = {}
    for run in runs:
        for level in run.paths.completed_levels():
            paths = run.paths.level(level)
            out[run.id, level] = (
                load_tensors(paths.mask),
                load_tensors(paths.final),
                [e["test_accuracy"] for e in level_metrics(run.paths)[level - 1]["evaluations"]],
            )
    return out


def test_a_rigl_sweep_records_moved_masks_at_the_ladders_densities(tmp_path, data):
    erk, rigl, set_run = _drive(tmp_path, _configs("erk", "rigl", "set"), data)
    for level in (1, 2):
        start = load_tensors(erk.paths.level(level).mask)  # rigl's start mask: the same draw
        for run in (rigl, set_run):
            assert run.paths.completed_levels() == [1, 2]
            metrics = level_metrics(run.paths)[level - 1]
            # hidden 14000 weights at 0.5^L and output 1000 at (1 - 0.5 * 0.5)^L
            kept = round(14000 * 0.5**level) + round(1000 * 0.75**level)
            assert metrics["density"] == pytest.approx(kept / 15000)
            final = load_tensors(run.paths.level(level).mask)
            for name in start:
                assert int(final[name].sum()) == int(start[name].sum()), (run.id, name)
                # a layer ERK keeps whole has nothing to drop and nowhere to grow
                moved = not torch.equal(final[name], start[name])
                assert moved != bool(start[name].all()), (run.id, level, name)
            weights = load_tensors(run.paths.level(level).final)
            assert not any(weights[n][~final[n]].any() for n in final)
            assert metrics["test_accuracy"] > 0.15
    # RigL pays for its dense gradients at its 5 updates; SET and ERK do not
    erk_flops, rigl_flops, set_flops = (
        level_metrics(r.paths)[0]["train_flops"] for r in (erk, rigl, set_run)
    )
    assert erk_flops == set_flops
    mask = load_tensors(rigl.paths.level(1).mask)
    sparse = sum(2 * int(m.sum()) for m in mask.values())
    assert rigl_flops - erk_flops == 5 * 100 * (2 * sparse + 2 * 15000)


def test_a_stopped_rigl_level_resumes_to_the_uninterrupted_result(tmp_path, data):
    configs = _configs("rigl", "set")
    reference = _results(_drive(tmp_path / "a", configs, data))
    with pytest.raises(Stopped):  # after 45 steps of level 1: past the updates at 10..40
        _drive(tmp_path / "b", configs, data, should_stop=StopAfter(45))
    runs = link_runs(configs, Layout(tmp_path / "b"))
    for run in runs:
        partial = load_tensors(run.paths.level(1).partial)
        start = load_tensors(run.paths.level(1).mask)
        assert partial["iteration"] == 46
        assert any(not torch.equal(partial["mask"][n], start[n]) for n in start)
    resumed = _results(_drive(tmp_path / "b", configs, data))
    assert reference.keys() == resumed.keys() and len(reference) == 4
    for key, (mask_a, final_a, acc_a) in reference.items():
        mask_b, final_b, acc_b = resumed[key]
        assert acc_a == acc_b, key
        assert all(torch.equal(mask_a[n], mask_b[n]) for n in mask_a), key
        assert all(torch.equal(final_a[n], final_b[n]) for n in final_a), key


@pytest.mark.parametrize(
    "key, value",
    [("dst_interval", 0), ("dst_end", 0.0), ("dst_alpha", 1.5), ("start", "snip")],
)
def test_bad_options_are_named(key, value):
    (cfg,) = _configs("rigl", **{key: value})
    with pytest.raises(ConfigError, match=f"prune.{key}"):
        METHODS["rigl"].check(cfg)


def test_uniform_start_and_no_controls():
    (cfg,) = _configs("set", start="uniform")
    METHODS["set"].check(cfg)
    control = dataclasses.replace(cfg, prune=dataclasses.replace(cfg.prune, control="shuffle"))
    with pytest.raises(ConfigError, match="prune.control"):
        METHODS["set"].check(control)
