"""Checks of a composed config, so bad input fails before any job is submitted.

Each failure names the key: `prune.densities[2]: density 1.5 is outside (0, 1]`.
"""

from __future__ import annotations

from pipeline.config import Config, LauncherConfig
from pipeline.data import DATASETS, dataset_spec
from pipeline.data.batches import iterations_per_epoch
from pipeline.errors import ConfigError, DataError, ModelError
from pipeline.models import model_spec
from pipeline.prune import CONTROLS, METHODS
from pipeline.prune.ladder import level_count
from pipeline.steps import parse_step
from pipeline.train.optimizers import IMPLEMENTATIONS, OPTIMIZERS
from pipeline.train.trainer import PRECISIONS

SCOPES = ("global", "layerwise")
RETRAIN = ("rewind", "lr_rewind", "finetune")
MAGNITUDE_METHODS = ("imp", "oneshot")


def _choice(key: str, value: str, known) -> None:
    if value not in known:
        raise ConfigError(key, f"unknown value {value!r}; known: {', '.join(sorted(known))}")


def _step(key: str, text: str, ipe: int) -> int:
    try:
        return parse_step(text, ipe)
    except ValueError as error:
        raise ConfigError(key, str(error)) from None


def _launchers() -> dict:
    from pipeline.launch.backends import LAUNCHERS

    return LAUNCHERS


def validate(cfg: Config) -> None:
    """Raise ConfigError naming the first bad key of `cfg`."""
    try:
        model = model_spec(cfg.model.name)
    except ModelError as error:
        raise ConfigError("model.name", str(error)) from None
    try:
        data = dataset_spec(cfg.data.name)
        data.resolve_root(cfg.data.root)
    except DataError as error:
        key = "data.name" if cfg.data.name not in DATASETS else "data.root"
        raise ConfigError(key, str(error)) from None
    if model.input_kind == "image" and len(data.input_shape) < 2:
        raise ConfigError("model.name", f"{model.name} needs [C, *spatial] inputs")
    if cfg.data.augment and len(data.input_shape) != 3:
        raise ConfigError("data.augment", "crop-and-flip augmentation needs 2-D images")
    ipe = iterations_per_epoch(data.train_size, max(cfg.train.batch_size, 1), cfg.train.drop_last)
    _check_train(cfg, ipe)
    _check_prune(cfg, ipe)
    check_launcher(cfg.launcher)


def check_launcher(launcher: LauncherConfig) -> None:
    """The launcher's settings, checked before anything is submitted."""
    from pipeline.launch.jobspec import walltime_seconds

    _choice("launcher.name", launcher.name, _launchers())
    if launcher.require_account and not launcher.account:
        raise ConfigError(
            "launcher.account",
            "this site charges every job to an allocation: "
            "export LTH_ACCOUNT=<project id> (the site presets read it) or pass "
            "launcher.account=<project id>",
        )
    for key in (
        "cohort_size",
        "gpus_per_node",
        "array_parallelism",
        "mem_gb",
        "max_timeouts",
        "threads",
        "workers",
        "gpu_memory_gb",
        "status_every",
    ):
        if getattr(launcher, key) < 0:
            raise ConfigError(f"launcher.{key}", f"{getattr(launcher, key)} must be >= 0")
    for key in ("cpus_per_task", "reduce_ranks", "stale_after"):
        if getattr(launcher, key) < 1:
            raise ConfigError(f"launcher.{key}", f"{getattr(launcher, key)} must be >= 1")
    seconds = {}
    for key in ("walltime", "reduce_walltime"):
        try:
            seconds[key] = walltime_seconds(getattr(launcher, key))
        except ValueError as error:
            raise ConfigError(f"launcher.{key}", str(error)) from None
    if not 0 <= launcher.signal_margin < seconds["walltime"]:
        raise ConfigError(
            "launcher.signal_margin",
            f"{launcher.signal_margin} s must lie in [0, walltime = {seconds['walltime']} s)",
        )


def _check_train(cfg: Config, ipe: int) -> None:
    train = cfg.train
    _choice("train.optimizer", train.optimizer, OPTIMIZERS)
    _choice("train.precision", train.precision, PRECISIONS)
    _choice("launcher.optimizer_impl", cfg.launcher.optimizer_impl, IMPLEMENTATIONS)
    if cfg.train.drop_last and cfg.train.batch_size > dataset_spec(cfg.data.name).train_size:
        raise ConfigError("train.drop_last", "the batch is larger than the training set")
    if train.lr <= 0:
        raise ConfigError("train.lr", f"learning rate {train.lr} must be > 0")
    if train.batch_size < 1:
        raise ConfigError("train.batch_size", "must be >= 1")
    if _step("train.duration", train.duration, ipe) < 1:
        raise ConfigError("train.duration", "training must last at least one iteration")
    for index, milestone in enumerate(train.milestones):
        _step(f"train.milestones[{index}]", milestone, ipe)
    _step("train.warmup", train.warmup, ipe)
    _step("train.eval_every", train.eval_every, ipe)
    _step("checkpoint_every", cfg.checkpoint_every, ipe)


def _check_prior(prune) -> None:
    from pathlib import Path

    from pipeline.prior import COMPONENTS

    if not prune.prior_store or not Path(prune.prior_store).is_file():
        raise ConfigError(
            "prune.prior_store",
            f"{prune.prior_store!r} is not a feature store "
            "file; `prior` learns from one (make it with `lth reduce`)",
        )
    for index, name in enumerate(prune.prior_components):
        _choice(f"prune.prior_components[{index}]", name, COMPONENTS)


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


def _check_transfer(cfg: Config) -> None:
    from pathlib import Path

    from pipeline.errors import PriorError
    from pipeline.prior.transfer import ticket_run

    prune = cfg.prune
    if not prune.transfer_store or not Path(prune.transfer_store).is_file():
        raise ConfigError(
            "prune.transfer_store",
            f"{prune.transfer_store!r} is not a feature "
            "store file; `transfer` reads a ticket's masks from one",
        )
    if prune.transfer_dataset is not None:
        _choice("prune.transfer_dataset", prune.transfer_dataset, DATASETS)
    seed = cfg.seed if prune.transfer_seed is None else prune.transfer_seed
    try:
        ticket_run(
            prune.transfer_store, cfg.model.name, prune.transfer_dataset or cfg.data.name, seed
        )
    except PriorError as error:
        raise ConfigError("prune.transfer_store", str(error)) from None


def _check_prune(cfg: Config, ipe: int) -> None:
    prune = cfg.prune
    _choice("prune.method", prune.method, METHODS)
    _choice("prune.scope", prune.scope, SCOPES)
    _choice("prune.retrain", prune.retrain, RETRAIN)
    _choice("prune.control", prune.control, {"none", *CONTROLS})
    if not 0 < prune.fraction < 1:
        raise ConfigError("prune.fraction", f"{prune.fraction} is outside (0, 1)")
    if prune.output_scale < 0 or prune.fraction * prune.output_scale > 1:
        raise ConfigError("prune.output_scale", "fraction * output_scale must lie in [0, 1]")
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
    total = parse_step(cfg.train.duration, ipe)
    rewind = _step("prune.rewind", prune.rewind, ipe)
    if rewind >= total:
        raise ConfigError(
            "prune.rewind",
            f"rewind point {prune.rewind} ({rewind} iterations) "
            f"is not before the end of training ({cfg.train.duration} = {total})",
        )
    if prune.method == "prior":
        _check_prior(prune)
    if prune.method == "transfer":
        _check_transfer(cfg)
    if prune.scope != "global" and prune.method not in MAGNITUDE_METHODS:
        raise ConfigError(
            "prune.scope",
            f"{prune.method} does not rank by magnitude; scope applies to imp and oneshot only",
        )
    if prune.control == "reinit" and prune.retrain != "rewind":
        raise ConfigError("prune.control", "reinit needs prune.retrain=rewind")
