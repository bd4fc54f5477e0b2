"""Every pruning-at-initialization method through the real driver: one level on MNIST-1D."""

import dataclasses

import pytest
import torch

from pipeline.config import Config, PruneConfig, TrainConfig
from pipeline.data import load_dataset
from pipeline.driver import CohortDriver
from pipeline.io import load_tensors
from pipeline.paths import Layout
from pipeline.runs import level_metrics, link_runs

PAI = ["snip", "grasp", "synflow", "erk", "uniform", "su_ratios"]
TRAIN = TrainConfig(optimizer="adam", lr=2e-3, batch_size=100, duration="2ep")


def test_each_method_trains_one_level_at_the_ladders_density(tmp_path):
    data = load_dataset("mnist1d")
    base = Config(train=TRAIN, prune=PruneConfig(fraction=0.8, levels=1, output_scale=0.5))
    configs = [
        dataclasses.replace(base, prune=dataclasses.replace(base.prune, method=m)) for m in PAI
    ]
    runs = link_runs(configs, Layout(tmp_path))
    CohortDriver(runs, data, torch.device("cpu")).run()  # one cohort of six members
    for method, run in zip(PAI, runs):
        # no level 0: these methods never look at the trained dense network
        assert run.paths.completed_levels() == [1], method
        (metrics,) = level_metrics(run.paths)
        # hidden 14000 weights at 0.2 and output 1000 at 1 - 0.8 * 0.5 = 0.6: 2800 + 600
        assert metrics["density"] == pytest.approx(3400 / 15000), method
        assert metrics["test_accuracy"] > 0.15, method
        mask = load_tensors(run.paths.level(1).mask)
        assert sum(int(m.sum()) for m in mask.values()) == 3400
    densities = {m: level_metrics(r.paths)[0]["layer_density"] for m, r in zip(PAI, runs)}
    assert densities["su_ratios"]["fc3.weight"] == pytest.approx(0.3)
    assert densities["uniform"]["fc1.weight"] == pytest.approx(3400 / 15000, abs=1e-3)
