"""The IMP driver: levels, rewinding, controls, resuming and extending, on real MNIST-1D."""

import dataclasses
import json

import pytest
import torch
from sweep_helpers import StopAfter

from pipeline.config import Config, PruneConfig, TrainConfig
from pipeline.data import load_dataset
from pipeline.driver import CohortDriver
from pipeline.io import load_tensors
from pipeline.models import initial_state
from pipeline.paths import Layout
from pipeline.runs import level_metrics, link_runs
from pipeline.steps import Schedule
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member, Stopped

CPU = torch.device("cpu")
TRAIN = TrainConfig(optimizer="adam", lr=2e-3, batch_size=100, duration="3ep")


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist1d")


def _configs(levels=2, controls=("none",), seeds=(0,), **prune):
    base = Config(
        train=TRAIN, prune=PruneConfig(fraction=0.5, levels=levels, output_scale=0.5, **prune)
    )
    return [
        dataclasses.replace(base, seed=s, prune=dataclasses.replace(base.prune, control=c))
        for s in seeds
        for c in controls
    ]


def _drive(root, configs, data, **kwargs):
    runs = link_runs(configs, Layout(root))
    CohortDriver(runs, data, CPU, **kwargs).run()
    return runs


def _outcome(runs):
    return {
        run.id: [(m["level"], m["density"], m["test_accuracy"]) for m in level_metrics(run.paths)]
        for run in runs
    }


def _masks(runs):
    return {
        (run.id, lv): load_tensors(run.paths.level(lv).mask)
        for run in runs
        for lv in run.paths.completed_levels()
    }


def test_imp_levels_prune_to_the_ladder_and_keep_pruned_weights_zero(tmp_path, data):
    (run,) = _drive(tmp_path, _configs(levels=2), data)
    metrics = level_metrics(run.paths)
    assert [m["level"] for m in metrics] == [0, 1, 2]
    # hidden layers 4000 + 10000 weights at 0.5 per level, output 1000 at 0.25 per level
    assert metrics[1]["density"] == pytest.approx((7000 + 750) / 15000)
    assert metrics[2]["density"] == pytest.approx((3500 + 562) / 15000)
    final = load_tensors(run.paths.level(2).final)
    mask = load_tensors(run.paths.level(2).mask)
    for name, m in mask.items():
        assert torch.count_nonzero(final[name][~m]) == 0
        assert torch.count_nonzero(final[name][m]) == int(m.sum())
    # level 2's mask is a subset of level 1's: IMP never revives a weight
    previous = load_tensors(run.paths.level(1).mask)
    assert all(not (mask[n] & ~previous[n]).any() for n in mask)
    assert metrics[2]["iterations"] == 120 and metrics[0]["test_accuracy"] > 0.3
    assert not run.paths.level(2).partial.exists()


def test_rewind_point_holds_the_weights_at_that_iteration(tmp_path, data):
    (run,) = _drive(tmp_path, _configs(levels=1, rewind="1ep"), data)
    rewind = load_tensors(run.paths.rewind)
    plan = LevelPlan(
        "mnist1d_mlp", TRAIN, 0, 0, 40, learning_rate(TRAIN, Schedule.resolve(TRAIN, 40))
    )
    start = initial_state("mnist1d_mlp", (1, 40), 10, 0)
    (reference,) = CohortTrainer(plan, [Member(0, start)], data, CPU).run()
    for key, value in reference.state.items():
        assert torch.equal(rewind[key], value), key
    level1 = level_metrics(run.paths)[1]
    assert level1["iterations"] == 80  # retraining runs from iteration 40 to 120
    assert level1["evaluations"][0]["iteration"] == 40


def test_controls_derive_from_the_source_ticket(tmp_path, data):
    runs = _drive(tmp_path, _configs(levels=2, controls=("none", "reinit", "shuffle")), data)
    source, reinit, shuffle = runs
    assert reinit.source is source and shuffle.source is source
    assert reinit.paths.completed_levels() == [1, 2]  # level 0 is the source's dense net
    for level in (1, 2):
        ticket = load_tensors(source.paths.level(level).mask)
        same = load_tensors(reinit.paths.level(level).mask)
        moved = load_tensors(shuffle.paths.level(level).mask)
        for name in ticket:
            assert torch.equal(same[name], ticket[name])
            assert int(moved[name].sum()) == int(ticket[name].sum())
        assert any(not torch.equal(moved[n], ticket[n]) for n in ticket)
    src_rewind = load_tensors(source.paths.rewind)
    assert torch.equal(load_tensors(shuffle.paths.rewind)["fc1.weight"], src_rewind["fc1.weight"])
    assert not torch.equal(
        load_tensors(reinit.paths.rewind)["fc1.weight"], src_rewind["fc1.weight"]
    )


def test_a_control_trains_only_its_train_levels_with_the_same_results(tmp_path, data):
    full = _drive(tmp_path / "full", _configs(levels=3, controls=("none", "shuffle")), data)
    configs = _configs(levels=3, controls=("none", "shuffle"))
    configs[1] = dataclasses.replace(
        configs[1], prune=dataclasses.replace(configs[1].prune, train_levels=[2])
    )
    source, shuffle = _drive(tmp_path / "some", configs, data)
    assert source.paths.completed_levels() == [0, 1, 2, 3]
    assert shuffle.paths.completed_levels() == [2] and not shuffle.pending_levels()
    assert shuffle.id == full[1].id  # bookkeeping: the same run, fewer of its levels
    assert (
        level_metrics(shuffle.paths)[0]["test_accuracy"]
        == level_metrics(full[1].paths)[1]["test_accuracy"]
    )


def test_resuming_a_stopped_level_gives_the_uninterrupted_result(tmp_path, data):
    configs = _configs(levels=2, seeds=(0, 1), controls=("none", "shuffle"))
    reference = _drive(tmp_path / "a", configs, data)
    with pytest.raises(Stopped):
        _drive(tmp_path / "b", configs, data, should_stop=StopAfter(120 + 70))
    interrupted = link_runs(configs, Layout(tmp_path / "b"))
    partial = [r for r in interrupted if r.paths.level(1).partial.exists()]
    assert partial, "the stop should land in the middle of level 1"
    resumed = _drive(tmp_path / "b", configs, data)
    assert _outcome(resumed) == _outcome(reference)
    masks_a, masks_b = _masks(reference), _masks(resumed)
    assert masks_a.keys() == masks_b.keys()
    for key in masks_a:
        assert all(torch.equal(masks_a[key][n], masks_b[key][n]) for n in masks_a[key])


def test_asking_for_more_levels_reuses_the_levels_done(tmp_path, data):
    (short,) = _drive(tmp_path, _configs(levels=1), data)
    stamps = {p: p.stat().st_mtime_ns for p in short.paths.dir.rglob("*.pt")}
    (longer,) = _drive(tmp_path, _configs(levels=2), data)
    assert longer.id == short.id
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert longer.paths.completed_levels() == [0, 1, 2]
    (straight,) = _drive(tmp_path / "straight", _configs(levels=2), data)
    assert _outcome([longer]) == _outcome([straight])


@pytest.mark.parametrize("retrain", ["lr_rewind", "finetune"])
def test_learning_rate_rewinding_and_finetuning_start_from_trained_weights(tmp_path, data, retrain):
    (run,) = _drive(tmp_path, _configs(levels=1, retrain=retrain), data)
    metrics = level_metrics(run.paths)
    # the retrained level starts from level 0's trained (then pruned) weights, so its
    # first evaluation is far above chance, unlike a rewind to initialization
    assert metrics[1]["evaluations"][0]["test_accuracy"] > 0.3
    (rewound,) = _drive(tmp_path / "rewind", _configs(levels=1), data)
    assert level_metrics(rewound.paths)[1]["evaluations"][0]["test_accuracy"] < 0.25
    assert json.loads(run.paths.status.read_text())["state"] == "done"


def test_oneshot_and_random_methods_reach_the_same_densities(tmp_path, data):
    configs = [
        dataclasses.replace(c, prune=dataclasses.replace(c.prune, method=m))
        for c in _configs(levels=2)
        for m in ("imp", "oneshot", "random")
    ]
    runs = _drive(tmp_path, configs, data)
    densities = {
        r.cfg.prune.method: [round(m["density"], 3) for m in level_metrics(r.paths)] for r in runs
    }
    assert densities["oneshot"] == densities["imp"]
    # random pruning never looks at the dense network, so it does not train level 0
    assert densities["random"] == densities["imp"][1:]
    random = next(r for r in runs if r.cfg.prune.method == "random")
    imp = next(r for r in runs if r.cfg.prune.method == "imp")
    assert torch.equal(
        load_tensors(random.paths.rewind)["fc1.weight"],
        load_tensors(imp.paths.rewind)["fc1.weight"],
    )
    oneshot = next(r for r in runs if r.cfg.prune.method == "oneshot")
    dense = load_tensors(oneshot.paths.level(0).final)["fc2.weight"].abs()
    kept = load_tensors(oneshot.paths.level(1).mask)["fc2.weight"]
    assert dense[kept].min() >= dense[~kept].max()  # one global threshold on the dense net


def test_a_method_without_the_dense_net_still_trains_level_0_for_lr_rewinding(tmp_path, data):
    configs = [
        dataclasses.replace(c, prune=dataclasses.replace(c.prune, method="random"))
        for c in _configs(levels=1, retrain="lr_rewind")
    ]
    (run,) = _drive(tmp_path, configs, data)
    assert run.first_level == 0 and run.paths.completed_levels() == [0, 1]


def test_control_and_method_draws_do_not_repeat_across_seeds():
    from pipeline.prune.masks import mask_generator

    draws = {
        (seed, salt): torch.randperm(1000, generator=mask_generator(seed, 3, salt))
        for seed in range(4)
        for salt in (0, 1)
    }
    assert not torch.equal(draws[(0, 1)], draws[(1, 0)])
    assert len({tuple(d[:20].tolist()) for d in draws.values()}) == len(draws)


def test_one_run_twice_with_different_bookkeeping_is_an_error(tmp_path):
    from pipeline.errors import ConfigError

    (one,) = _configs(levels=1)
    two = dataclasses.replace(one, prune=dataclasses.replace(one.prune, levels=2))
    with pytest.raises(ConfigError, match="appears twice"):
        link_runs([one, two], Layout(tmp_path))
