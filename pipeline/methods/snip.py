"""SNIP: connection sensitivity at initialization (see pipeline.prune.pai.snip)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.snip import snip

    return snip(ctx)


SPEC = MethodSpec(
    "snip",
    "the weights with the highest connection sensitivity |w * dL/dw| at the rewind point",
    build,
    paper="Lee, Ajanthan & Torr, ICLR 2019",
)
