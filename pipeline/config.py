"""Typed config schemas: one definition gives Hydra's schema, validation and the run hash.

The scientific part of a config (model, data, training recipe, pruning method and
seed) identifies a run; bookkeeping (how many levels to run, where to write, how
to launch) does not. See `pipeline.identity`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class ModelConfig:
    name: str = "mnist1d_mlp"


@dataclass
class DataConfig:
    name: str = "mnist1d"
    root: str | None = None  # directory of a file-based dataset (bookkeeping: not hashed)
    augment: bool = False  # random crop (padding 4) and horizontal flip, on the device


@dataclass
class TrainConfig:
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    batch_size: int = 128
    duration: str = "40ep"
    milestones: list[str] = field(default_factory=list)  # steps where lr *= gamma
    gamma: float = 0.1
    warmup: str = "0it"  # linear warm-up length
    eval_every: str = "1ep"
    precision: str = "fp32"  # fp32 | bf16 (autocast; weights, grads and optimizer stay fp32)
    drop_last: bool = False  # drop the last partial batch: static shapes for CUDA graphs


# What `prior` can copy from the tickets (docs/PRIOR.md); all by default.
PRIOR_COMPONENTS = ("profile", "degrees", "locality", "magnitude", "sign", "connect")


@dataclass
class PruneConfig:
    method: str = "imp"
    scope: str = "global"  # global | layerwise magnitude ranking
    fraction: float = 0.2  # fraction of the remaining weights removed per level
    output_scale: float = 1.0  # the output layer is pruned at fraction * output_scale
    densities: list[float] | None = None  # an explicit density ladder instead of `fraction`
    # the output layer's density at each rung of `densities` (default: pruned at
    # output_scale times each step's fraction); lets a ladder match another's rungs exactly
    output_densities: list[float] | None = None
    rewind: str = "0it"  # weights (and schedule position) to rewind to
    retrain: str = "rewind"  # rewind | lr_rewind | finetune
    control: str = "none"  # none | reinit | shuffle
    levels: int | None = None  # bookkeeping: how far down the ladder to go (not hashed)
    # bookkeeping: the only levels a control trains (a control's level needs only its
    # ticket's mask at that level, so a study that reads a few levels skips the rest)
    train_levels: list[int] | None = None
    prior_store: str | None = None  # the feature store the `prior` method learns tickets from
    # what `prior` copies from the tickets; drop one to ablate it (see docs/PRIOR.md)
    prior_components: list[str] = field(default_factory=lambda: list(PRIOR_COMPONENTS))
    transfer_store: str | None = None  # the feature store whose ticket `transfer` trains
    transfer_dataset: str | None = None  # the ticket's training data (default: the run's)
    transfer_seed: int | None = None  # the ticket's seed (default: the run's)


@dataclass
class LauncherConfig:
    """How cohorts run. The cluster fields (slurm, pbs) are set by the site presets in
    conf/launcher/; see docs/CLUSTERS.md. None of this enters a run's hash."""

    name: str = "local"
    cohort_size: int = 0  # runs trained together as one network; 0 picks automatically
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads per process; 0 leaves torch's default
    workers: int = 0  # local processes; 0: one per visible GPU, or one on the CPU
    optimizer_impl: str = "auto"  # auto | loop | foreach | fused: same math, other kernels
    channels_last: bool = False  # NHWC convolutions (faster on tensor cores; same math)
    compile: bool = False  # torch.compile the cohort's training step (CUDA graphs on a GPU)
    # -- one array task per cohort on a cluster ---------------------------------------
    account: str | None = None  # Slurm --account / PBS -A (the allocation charged)
    require_account: bool = False  # the site rejects jobs without one: fail at validation
    queue: str | None = None  # Slurm partition / PBS queue
    qos: str | None = None  # Slurm --qos
    gpus_per_node: int = 0  # GPUs each array task asks for
    gpu_memory_gb: float = 0.0  # memory of one task's GPU, to size cohorts from a login node
    # without one (0: measure the local GPU, if any)
    cpus_per_task: int = 1  # CPU cores each array task asks for
    mem_gb: float = 0  # memory each array task asks for; 0 leaves the site's default
    walltime: str = "01:00:00"  # [[D-]HH:]MM:SS per array task
    array_parallelism: int = 0  # most array tasks running at once (the % throttle); 0: all
    modules: list[str] = field(default_factory=list)  # `module load` each, before the task
    setup: list[str] = field(default_factory=list)  # shell lines run before the task, verbatim
    workdir: str | None = None  # the jobs' working directory (e.g. $WORKDIR on DoD systems)
    signal_margin: int = 120  # seconds before walltime at which a task checkpoints and stops
    max_timeouts: int = 3  # Slurm: requeues after timeouts before a task gives up
    stale_after: int = 900  # seconds without a status.json update before a run is not live
    status_every: float = 5.0  # least seconds between a cohort's status.json updates
    # -- the reducer job, run after each array -----------------------------------------
    reduce: bool = True  # submit `lth reduce` after every array
    reduce_ranks: int = 4  # MPI ranks of the reducer
    reduce_walltime: str = "01:00:00"
    # the MPI launcher, run inside the reducer's allocation (which holds reduce_ranks slots)
    reduce_mpiexec: list[str] = field(default_factory=lambda: ["mpiexec"])


@dataclass
class SweepConfig:
    name: str = "default"


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    seed: int = 0
    launcher: LauncherConfig = field(default_factory=LauncherConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    out: str = "lth_out"  # root of runs/ and sweeps/
    checkpoint_every: str = "1ep"  # mid-level checkpoint interval
    progress: bool = True


DEFAULT_LEVELS = 10

# Options read by one pruning method only: they are left out of other methods' run ids,
# so a new option (or a new default) of one method never renames the runs of the others.
METHOD_OPTIONS = {
    ("prune", "prior_store"): "prior",
    ("prune", "prior_components"): "prior",
    ("prune", "transfer_store"): "transfer",
    ("prune", "transfer_dataset"): "transfer",
    ("prune", "transfer_seed"): "transfer",
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
    ("progress",),
}


def config_from_dict(raw: dict, cls: type = Config):
    """A typed config from a resolved mapping that this code wrote (a manifest row, a run's
    config.yaml): direct dataclass construction, ~100x faster than an OmegaConf merge.
    Missing keys take their defaults; unknown keys are an error."""
    default = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ValueError(f"unknown config keys for {cls.__name__}: {sorted(unknown)}")
    values = {}
    for name, value in raw.items():
        current = getattr(default, name)
        values[name] = (
            config_from_dict(value, type(current)) if dataclasses.is_dataclass(current) else value
        )
    return cls(**values)


def register_schemas() -> None:
    """Make the dataclasses Hydra's schema for conf/config.yaml."""
    store = ConfigStore.instance()
    store.store(name="schema", node=Config)
