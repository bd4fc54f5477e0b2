"""`transfer`: the mask of one IMP ticket in a feature store, trained from the run's own
initialization, optionally permuted to its units first (see pipeline.prior.tickets and
pipeline.prior.align)."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError, PriorError
from pipeline.methods.spec import MethodSpec, Option


def build(ctx):
    from pipeline.prior.tickets import transfer_mask

    return transfer_mask(ctx)


def check(cfg) -> None:
    from pipeline.data import DATASETS
    from pipeline.prior.tickets import ticket_run, ticket_source

    prune = cfg.prune
    if not prune.transfer_store or not Path(prune.transfer_store).is_file():
        raise ConfigError(
            "prune.transfer_store",
            f"{prune.transfer_store!r} is not a feature store file; `transfer` reads a "
            "ticket's masks from one",
        )
    if prune.transfer_dataset is not None and prune.transfer_dataset not in DATASETS:
        raise ConfigError(
            "prune.transfer_dataset",
            f"unknown value {prune.transfer_dataset!r}; known: {', '.join(sorted(DATASETS))}",
        )
    if prune.transfer_align != "none":
        _check_alignment(cfg)
    dataset, seed = ticket_source(prune, cfg.data.name, cfg.seed)
    try:
        ticket_run(prune.transfer_store, cfg.model.name, dataset, seed)
    except PriorError as error:
        raise ConfigError("prune.transfer_store", str(error)) from None


def _check_alignment(cfg) -> None:
    from pipeline.data import DATASETS
    from pipeline.prior.align import ALIGNMENTS, unit_chain

    align = cfg.prune.transfer_align
    if align not in ALIGNMENTS:
        raise ConfigError(
            "prune.transfer_align", f"unknown value {align!r}; known: none, {', '.join(ALIGNMENTS)}"
        )
    spec = DATASETS[cfg.data.name]
    try:
        unit_chain(cfg.model.name, spec.input_shape, spec.num_classes)
    except PriorError as error:
        raise ConfigError("prune.transfer_align", str(error)) from None


SPEC = MethodSpec(
    "transfer",
    "the mask of one stored IMP ticket, its level nearest level L's density",
    build,
    options=(
        Option("transfer_store", str | None, None, "the feature store whose ticket it trains"),
        Option(
            "transfer_dataset", str | None, None, "the ticket's training data (default: the run's)"
        ),
        Option("transfer_seed", int | None, None, "the ticket's seed (default: the run's)"),
        Option(
            "transfer_align",
            str,
            "none",
            "none | weights | activations: permute the ticket's mask to the run's hidden "
            "units first, matched by initial weights or by activation correlation",
        ),
    ),
    check=check,
    paper="Morcos et al., NeurIPS 2019 (ticket transfer)",
)
