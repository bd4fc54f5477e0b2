"""Typed config schemas: one definition gives Hydra's schema, validation, the run hash and
`lth config`'s help (each field's `help` metadata).

The scientific part of a config (model, data, training recipe, pruning method and
seed) identifies a run; bookkeeping (how many levels to run, where to write, how
to launch) does not. See `pipeline.identity`. A pruning method's own options are
declared by its spec (`pipeline/methods/`) and added to `PruneConfig` here.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from pipeline.methods import METHODS, method_options


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory=None) -> Any:
    """A config field with its help text (shown by `lth config`)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    name: str = setting("mnist1d_mlp", "the architecture (conf/model/ sets its recipe too)")


@dataclass
class DataConfig:
    name: str = setting("mnist1d", "the dataset (conf/data/)")
    root: str | None = setting(
        None,
        "directory of a file-based dataset (bookkeeping: its content, not its path, "
        "identifies the data)",
    )
    augment: bool = setting(False, "random crop (padding 4) and horizontal flip, on the device")
    fingerprint: str | None = setting(
        None,
        "content hash of the files read from data.root, set when the sweep is composed; "
        "None for the published files and for generated data (docs/DATA.md)",
    )


@dataclass
class TrainConfig:
    optimizer: str = setting("sgd", "sgd | adam")
    lr: float = setting(0.1, "peak learning rate")
    momentum: float = setting(0.0, "SGD momentum")
    weight_decay: float = setting(0.0, "L2 weight decay")
    nesterov: bool = setting(False, "Nesterov momentum (SGD)")
    batch_size: int = setting(128, "examples per step")
    duration: str = setting("40ep", "training length of one level ('40ep', '5000it', '2ep100it')")
    milestones: list[str] = setting(help="steps where lr *= gamma", factory=list)
    gamma: float = setting(0.1, "learning-rate factor at each milestone")
    warmup: str = setting("0it", "linear warm-up length")
    eval_every: str = setting("1ep", "test-set evaluation interval")
    precision: str = setting(
        "fp32", "fp32 | bf16 (autocast; weights, grads and optimizer state stay fp32)"
    )
    drop_last: bool = setting(False, "drop the last partial batch (static shapes for CUDA graphs)")


@dataclass
class PruneCommon:
    """The pruning keys every method shares; `PruneConfig` adds each method's options."""

    method: str = setting("imp", "the pruning method (`lth config prune.method` lists them)")
    scope: str = setting("global", "global | layerwise magnitude ranking (imp, oneshot)")
    fraction: float = setting(0.2, "fraction of the remaining weights removed per level")
    output_scale: float = setting(1.0, "the output layer is pruned at fraction * output_scale")
    densities: list[float] | None = setting(
        None, "an explicit density ladder (one density per level) instead of `fraction`"
    )
    output_densities: list[float] | None = setting(
        None,
        "the output layer's density at each rung of `densities` (default: pruned at "
        "output_scale times each step's fraction); lets a ladder match another's exactly",
    )
    rewind: str = setting("0it", "the weights (and schedule position) pruned levels restart from")
    retrain: str = setting(
        "rewind",
        "rewind | lr_rewind (previous level's weights, schedule replayed from "
        "`rewind`) | finetune (the same at the final learning rate)",
    )
    control: str = setting(
        "none",
        "none | reinit (the ticket's mask, fresh init) | shuffle (the ticket's mask "
        "permuted within layers)",
    )
    levels: int | None = setting(
        None, "bookkeeping: how far down the ladder to go (default: the ladder's length or 10)"
    )
    train_levels: list[int] | None = setting(
        None,
        "bookkeeping: the only levels a control trains (a control's level needs only its "
        "ticket's mask at that level)",
    )


def _prune_config() -> type:
    """PruneCommon plus every method's options, as one flat dataclass (`prune.<option>`)."""
    extra = [
        (o.name, o.type, setting(help=o.help, factory=o.default_value))
        for o in method_options().values()
    ]
    clash = {name for name, _, _ in extra} & {f.name for f in dataclasses.fields(PruneCommon)}
    if clash:
        raise TypeError(f"method options {sorted(clash)} clash with shared prune keys")
    return dataclasses.make_dataclass("PruneConfig", extra, bases=(PruneCommon,))


PruneConfig = _prune_config()
PruneConfig.__module__ = __name__
PruneConfig.__doc__ = (
    "The pruning keys: the shared ones, then each method's own options (declared in its spec)."
)


@dataclass
class LauncherConfig:
    """How cohorts run. The cluster fields (slurm, pbs) are set by the site presets in
    conf/launcher/; see docs/CLUSTERS.md. None of this enters a run's hash."""

    name: str = setting("local", "local | slurm | pbs (site presets in conf/launcher/)")
    cohort_size: int = setting(0, "runs trained together as one network; 0 picks automatically")
    device: str = setting("auto", "auto | cpu | cuda | cuda:N")
    threads: int = setting(0, "torch CPU threads per process; 0 leaves torch's default")
    workers: int = setting(0, "local processes; 0: one per visible GPU, or one on the CPU")
    optimizer_impl: str = setting(
        "auto", "auto | loop | foreach | fused: the same math, other kernels"
    )
    channels_last: bool = setting(False, "NHWC convolutions (faster on tensor cores; same math)")
    compile: bool = setting(
        False, "torch.compile the cohort's training step (CUDA graphs on a GPU)"
    )
    # -- one array task per cohort on a cluster ---------------------------------------
    account: str | None = setting(None, "Slurm --account / PBS -A (the allocation charged)")
    require_account: bool = setting(
        False, "the site rejects jobs without an account: fail at validation"
    )
    queue: str | None = setting(None, "Slurm partition / PBS queue")
    qos: str | None = setting(None, "Slurm --qos")
    gpus_per_node: int = setting(0, "GPUs each array task asks for")
    gpu_memory_gb: float = setting(
        0.0,
        "memory of one task's GPU, to size cohorts from a login node without one "
        "(0: measure the local GPU, if any)",
    )
    cpus_per_task: int = setting(1, "CPU cores each array task asks for")
    mem_gb: float = setting(0, "memory each array task asks for; 0 leaves the site's default")
    walltime: str = setting("01:00:00", "[[D-]HH:]MM:SS per array task")
    array_parallelism: int = setting(0, "most array tasks running at once (the % throttle); 0: all")
    modules: list[str] = setting(help="`module load` each, before the task", factory=list)
    setup: list[str] = setting(help="shell lines run before the task, verbatim", factory=list)
    workdir: str | None = setting(None, "the jobs' working directory (e.g. $WORKDIR)")
    signal_margin: int = setting(
        120, "seconds before walltime at which a task checkpoints and stops"
    )
    max_timeouts: int = setting(3, "Slurm: requeues after timeouts before a task gives up")
    stale_after: int = setting(
        900, "seconds without a status.json update before a run counts as not live"
    )
    status_every: float = setting(5.0, "least seconds between a cohort's status.json updates")
    # -- the reducer job, run after each array -----------------------------------------
    reduce: bool = setting(True, "submit `lth reduce` after every array")
    reduce_ranks: int = setting(4, "MPI ranks of the reducer")
    reduce_walltime: str = setting("01:00:00", "walltime of the reducer job")
    reduce_mpiexec: list[str] = setting(
        help="the MPI launcher, run inside the reducer's allocation (reduce_ranks slots)",
        factory=lambda: ["mpiexec"],
    )


@dataclass
class SweepConfig:
    name: str = setting("default", "the sweep's folder under OUT/sweeps/")


@dataclass
class Config:
    model: ModelConfig = setting(factory=ModelConfig)
    data: DataConfig = setting(factory=DataConfig)
    train: TrainConfig = setting(factory=TrainConfig)
    prune: PruneConfig = setting(factory=PruneConfig)
    seed: int = setting(0, "the run's seed: initialization, data order and mask draws")
    launcher: LauncherConfig = setting(factory=LauncherConfig)
    sweep: SweepConfig = setting(factory=SweepConfig)
    out: str = setting("lth_out", "root of runs/ and sweeps/")
    checkpoint_every: str = setting("1ep", "mid-level checkpoint interval")


DEFAULT_LEVELS = 10

# Options of one pruning method enter only that method's run ids, so a new option (or a
# new default) of one method never renames the runs of the others.
METHOD_OPTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("prune", name): frozenset(m for m, spec in METHODS.items() if name in spec.option_names)
    for name in method_options()
}

# Fields that describe how a run is executed, not what it computes.
BOOKKEEPING = {
    ("data", "root"),
    ("prune", "levels"),
    ("prune", "train_levels"),
    ("launcher",),
    ("sweep",),
    ("out",),
    ("checkpoint_every",),
}

# Keys that earlier versions wrote and this one no longer reads -> the value it may hold
# (ANY for bookkeeping) and the key that replaced it. A retired key holding the value that
# is now the default behaviour is dropped, so old manifests load with their run ids.
ANY = object()
RETIRED = {
    ("progress",): (ANY, None),
    ("prune", "dst_start"): ("erk", "prune.start"),
}


@functools.cache
def _field_kinds(cls: type) -> dict[str, type | None]:
    """Each field of `cls`: its dataclass type when it is a nested config, else None."""
    default = cls()
    return {
        f.name: type(getattr(default, f.name))
        if dataclasses.is_dataclass(getattr(default, f.name))
        else None
        for f in dataclasses.fields(cls)
    }


def config_from_dict(raw: dict, cls: type = Config, path: tuple[str, ...] = ()):
    """A typed config from a resolved mapping that this code wrote (a manifest row, a run's
    config.yaml): direct dataclass construction, ~100x faster than an OmegaConf merge.
    Missing keys take their defaults; unknown keys are an error."""
    kinds = _field_kinds(cls)
    unknown = {k for k in raw if k not in kinds and (*path, k) not in RETIRED}
    if unknown:
        raise ValueError(f"unknown config keys for {cls.__name__}: {sorted(unknown)}")
    for key in raw.keys() - kinds.keys():
        allowed, successor = RETIRED[(*path, key)]
        if allowed is not ANY and raw[key] != allowed:
            raise ValueError(
                f"{'.'.join((*path, key))}={raw[key]!r} was written by an earlier version; "
                f"it is now {successor}"
            )
    values = {}
    for name, value in raw.items():
        if name not in kinds:
            continue
        nested = kinds[name]
        values[name] = value if nested is None else config_from_dict(value, nested, (*path, name))
    return cls(**values)


def register_schemas() -> None:
    """Make the dataclasses Hydra's schema for conf/config.yaml."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="schema", node=Config)
