"""SynFlow: iterative synaptic flow pruning (see pipeline.prune.pai.synflow)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.synflow import synflow

    return synflow(ctx)


SPEC = MethodSpec(
    "synflow",
    "iterative synaptic-flow scores, data-free, in 100 rounds to level L's density",
    build,
    paper="Tanaka et al., NeurIPS 2020",
)
