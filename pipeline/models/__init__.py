"""Model registry, cohort-capable layers and member export."""

from pipeline.errors import ModelError
from pipeline.models import convnets, mlp, resnet  # noqa: F401  (registers architectures)
from pipeline.models.members import (
    build_cohort,
    build_plain,
    initial_state,
    member_state,
    prunable_names,
    stack_states,
)
from pipeline.models.registry import MODELS, check_fit, model_spec

__all__ = [
    "MODELS",
    "ModelError",
    "build_cohort",
    "build_plain",
    "check_fit",
    "initial_state",
    "member_state",
    "model_spec",
    "prunable_names",
    "stack_states",
]
