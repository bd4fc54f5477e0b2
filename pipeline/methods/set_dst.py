"""SET (Mocanu et al., Nature Communications 2018): dynamic sparse training, regrowing at
random (pipeline.prune.dynamic); options, start mask and checks as RigL's."""

from __future__ import annotations

from pipeline.methods import rigl
from pipeline.methods.spec import MethodSpec

SPEC = MethodSpec(
    "set",
    "level L's density from the start (ERK, uniform or a prior draw), the trainer "
    "dropping the smallest |w| and regrowing as many random positions every dst_interval "
    "iterations; the mask at the end",
    rigl.build,
    dynamic=True,
    options=rigl.OPTIONS,
    check=rigl.check,
    paper="Mocanu et al., Nature Communications 2018 (SET)",
)
