"""The model registry: adding an architecture is one decorated builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from pipeline.errors import ModelError

Builder = Callable[[object, tuple[int, ...], int], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Builder  # (kit, input_shape, num_classes) -> module
    input_kind: str  # "image" (needs [C, *spatial]) or "vector" (any shape, flattened)


MODELS: dict[str, ModelSpec] = {}


def register(name: str, input_kind: str) -> Callable[[Builder], Builder]:
    def decorate(build: Builder) -> Builder:
        MODELS[name] = ModelSpec(name, build, input_kind)
        return build

    return decorate


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
