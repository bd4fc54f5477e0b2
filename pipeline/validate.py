"""Checks of a composed config, so bad input fails before any job is submitted.

Each failure names the key: `prune.densities[2]: density 1.5 is outside (0, 1]`. What a
pruning method accepts is read from its spec (`pipeline/methods/`); this module names no
method.
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.data import DATASETS, dataset_spec
from pipeline.data.batches import iterations_per_epoch
from pipeline.errors import ConfigError, DataError, ModelError
from pipeline.launch.checks import check_launcher
from pipeline.methods import METHODS
from pipeline.methods.spec import RETRAIN_MODES, SCOPES
from pipeline.models import check_fit, model_spec
from pipeline.prune.controls import CONTROLS
from pipeline.prune.ladder import level_count
from pipeline.steps import Schedule, Step
from pipeline.train.optimizers import IMPLEMENTATIONS, OPTIMIZERS
from pipeline.train.trainer import PRECISIONS


def _choice(key: str, value: str, known) -> None:
    if value not in known:
        raise ConfigError(key, f"unknown value {value!r}; known: {', '.join(sorted(known))}")


def _steps(cfg: Config) -> None:
    """Every step string readable, each error naming its key."""
    texts = {
        "train.duration": cfg.train.duration,
        "train.warmup": cfg.train.warmup,
        "train.eval_every": cfg.train.eval_every,
        "prune.rewind": cfg.prune.rewind,
        "checkpoint_every": cfg.checkpoint_every,
        **{f"train.milestones[{i}]": m for i, m in enumerate(cfg.train.milestones)},
    }
    for key, text in texts.items():
        try:
            Step.parse(text)
        except ValueError as error:
            raise ConfigError(key, str(error)) from None


def validate(cfg: Config) -> None:
    """Raise ConfigError naming the first bad key of `cfg`."""
    try:
        model = model_spec(cfg.model.name)
    except ModelError as error:
        raise ConfigError("model.name", str(error)) from None
    try:
        data = dataset_spec(cfg.data.name)
        data.check(cfg.data.root)
    except DataError as error:
        key = "data.name" if cfg.data.name not in DATASETS else "data.root"
        raise ConfigError(key, str(error)) from None
    try:
        check_fit(model.name, data)
    except ModelError as error:
        raise ConfigError("model.name", str(error)) from None
    if cfg.data.augment and len(data.input_shape) != 3:
        raise ConfigError("data.augment", "crop-and-flip augmentation needs 2-D images")
    _check_train(cfg, data.train_size)
    _steps(cfg)
    ipe = iterations_per_epoch(data.train_size, cfg.train.batch_size, cfg.train.drop_last)
    schedule = Schedule.resolve(cfg.train, ipe, cfg.prune.rewind, cfg.checkpoint_every)
    if schedule.total < 1:
        raise ConfigError("train.duration", "training must last at least one iteration")
    _check_prune(cfg, schedule)
    check_launcher(cfg.launcher)
    _check_local_device(cfg.launcher)


def _check_local_device(launcher) -> None:
    """A local run trains here: a GPU it names must exist here (a cluster's tasks run on
    nodes this machine cannot see, so their device is not checked)."""
    if launcher.name != "local" or not launcher.device.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count()
    index = launcher.device.partition(":")[2]
    if count == 0:
        raise ConfigError(
            "launcher.device",
            f"{launcher.device}: no CUDA GPU is visible here; use launcher.device=auto (or cpu), "
            "or a cluster launcher",
        )
    if index and (not index.isdigit() or int(index) >= count):
        raise ConfigError(
            "launcher.device", f"{launcher.device}: this machine has GPUs cuda:0..cuda:{count - 1}"
        )


def _check_train(cfg: Config, train_size: int) -> None:
    train = cfg.train
    _choice("train.optimizer", train.optimizer, OPTIMIZERS)
    _choice("train.precision", train.precision, PRECISIONS)
    _choice("launcher.optimizer_impl", cfg.launcher.optimizer_impl, IMPLEMENTATIONS)
    if train.lr <= 0:
        raise ConfigError("train.lr", f"learning rate {train.lr} must be > 0")
    for key in ("momentum", "weight_decay"):
        if getattr(train, key) < 0:
            raise ConfigError(f"train.{key}", f"{getattr(train, key)} must be >= 0")
    if train.batch_size < 1:
        raise ConfigError("train.batch_size", "must be >= 1")
    if train.drop_last and train.batch_size > train_size:
        raise ConfigError("train.drop_last", "the batch is larger than the training set")


def _check_ladder(key: str, values: list[float]) -> None:
    """Densities in (0, 1], each no higher than the one before."""
    previous = 1.0
    for index, value in enumerate(values):
        if not 0 < value <= 1:
            raise ConfigError(f"{key}[{index}]", f"density {value} is outside (0, 1]")
        if value > previous:
            raise ConfigError(
                f"{key}[{index}]", f"density {value} is above the level before ({previous})"
            )
        previous = value


def _check_levels(prune) -> None:
    if prune.levels is not None and prune.levels < 0:
        raise ConfigError("prune.levels", f"{prune.levels} levels: must be >= 0")
    if prune.densities is not None:
        _check_ladder("prune.densities", prune.densities)
        if prune.levels is not None and prune.levels > len(prune.densities):
            raise ConfigError(
                "prune.levels", f"{prune.levels} levels but only {len(prune.densities)} densities"
            )
    if prune.train_levels is not None:
        if prune.control == "none":
            raise ConfigError(
                "prune.train_levels",
                "only a control may skip levels (a ticket's level L is pruned from its level L-1)",
            )
        for index, level in enumerate(prune.train_levels):
            if not 1 <= level <= level_count(prune):
                raise ConfigError(
                    f"prune.train_levels[{index}]",
                    f"level {level} is not one of the run's levels 1..{level_count(prune)}",
                )
    if prune.output_densities is not None:
        if prune.densities is None or len(prune.output_densities) != len(prune.densities):
            raise ConfigError(
                "prune.output_densities", "needs prune.densities, with one output density per rung"
            )
        _check_ladder("prune.output_densities", prune.output_densities)


def _check_prune(cfg: Config, schedule: Schedule) -> None:
    prune = cfg.prune
    _choice("prune.method", prune.method, METHODS)
    _choice("prune.scope", prune.scope, SCOPES)
    _choice("prune.retrain", prune.retrain, RETRAIN_MODES)
    _choice("prune.control", prune.control, {"none", *CONTROLS})
    spec = METHODS[prune.method]
    if not 0 < prune.fraction < 1:
        raise ConfigError("prune.fraction", f"{prune.fraction} is outside (0, 1)")
    if prune.output_scale < 0 or prune.fraction * prune.output_scale > 1:
        raise ConfigError("prune.output_scale", "fraction * output_scale must lie in [0, 1]")
    _check_levels(prune)
    if schedule.rewind >= schedule.total:
        raise ConfigError(
            "prune.rewind",
            f"rewind point {prune.rewind} ({schedule.rewind} iterations) is not before the end "
            f"of training ({cfg.train.duration} = {schedule.total})",
        )
    if prune.scope != "global" and not spec.ranks_by_magnitude:
        magnitude = ", ".join(sorted(m for m, s in METHODS.items() if s.ranks_by_magnitude))
        raise ConfigError(
            "prune.scope",
            f"{prune.method} does not rank by magnitude; scope applies to {magnitude} only",
        )
    if prune.retrain not in spec.retrain:
        raise ConfigError(
            "prune.retrain", f"{prune.method} supports retrain={' | '.join(spec.retrain)} only"
        )
    if prune.control == "reinit" and prune.retrain != "rewind":
        raise ConfigError("prune.control", "reinit needs prune.retrain=rewind")
    if spec.check is not None:
        spec.check(cfg)
