"""The sweep's results table keeps runs of different settings in different columns."""

import dataclasses

from pipeline.config import Config, PruneConfig, TrainConfig
from pipeline.results import variants


def test_settings_that_vary_besides_seed_method_and_control_name_the_column():
    base = Config(train=TrainConfig(lr=0.1))
    configs = {
        "a": base,
        "b": dataclasses.replace(base, seed=1),
        "c": dataclasses.replace(base, prune=PruneConfig(control="shuffle")),
        "d": dataclasses.replace(base, train=TrainConfig(lr=0.01)),
    }
    assert variants(configs) == {
        "a": "train.lr=0.1",
        "b": "train.lr=0.1",
        "c": "train.lr=0.1",
        "d": "train.lr=0.01",
    }
    same = {k: v for k, v in configs.items() if k != "d"}
    assert variants(same) == {"a": "", "b": "", "c": ""}
