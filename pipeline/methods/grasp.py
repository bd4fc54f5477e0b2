"""GraSP: gradient signal preservation at initialization (see pipeline.prune.pai.grasp)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.grasp import grasp

    return grasp(ctx)


SPEC = MethodSpec(
    "grasp",
    "the weights whose removal least reduces the gradient flow at the rewind point",
    build,
    paper="Wang, Zhang & Grosse, ICLR 2020",
)
