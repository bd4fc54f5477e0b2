"""The model registry: adding an architecture is one decorated builder."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
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


# A build or forward that does not fit the input raises one of these (torch's shape
# errors are RuntimeError); anything else is a bug in the model and keeps its traceback.
_MISFIT = (RuntimeError, ValueError, IndexError, TypeError, ZeroDivisionError)
# Probe batches hold 5 examples: 2-D convolutions take an unbatched [C, H, W] too, so a
# batch size equal to the model's channel count (1, 3) could pass a 1-D input as one.
_BATCH = 5
_PROBES = {  # input rank -> (a probe's spatial shape, what a model of that rank takes)
    2: ((64,), "1-D signals [C, L]"),
    3: ((32, 32), "2-D images [C, H, W]"),
}


def _output_shape(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int):
    """The output shape for a batch of _BATCH through the plain model.

    Built on the meta device, so no weight is initialized, then given uninitialized
    CPU memory for one forward of zeros. (A forward on meta tensors would cost
    seconds once per process, importing torch's Python meta kernels.)"""
    from pipeline.models.kit import PlainKit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "initializing zero-element tensors" of a misfit
        with torch.device("meta"):
            model = spec.build(PlainKit(), input_shape, num_classes)
        model = model.to_empty(device="cpu").eval()
        with torch.inference_mode():
            return tuple(model(torch.zeros(_BATCH, *input_shape)).shape)


def _ranks(spec: ModelSpec, channels: int) -> list[int]:
    """The input ranks (channels included) the model builds and runs for."""
    ranks = []
    for rank, (spatial, _) in _PROBES.items():
        try:
            _output_shape(spec, (channels, *spatial), 10)
        except _MISFIT:
            continue
        ranks.append(rank)
    return ranks


@cache
def _check_fit(model: str, dataset: str, input_shape: tuple[int, ...], num_classes: int) -> None:
    spec = model_spec(model)
    gives = f"dataset {dataset} gives [{', '.join(map(str, input_shape))}]"
    try:
        out = _output_shape(spec, input_shape, num_classes)
    except _MISFIT as error:
        ranks = _ranks(spec, input_shape[0])
        if ranks and len(input_shape) not in ranks:
            takes = " or ".join(_PROBES[rank][1] for rank in ranks)
            raise ModelError(f"model {model} takes {takes}; {gives}") from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"model {model} does not fit: {gives} ({reason})") from None
    if out != (_BATCH, num_classes):
        raise ModelError(
            f"model {model} gives {list(out[1:])} outputs per example; dataset {dataset} "
            f"has {num_classes} classes"
        )


def check_fit(model: str, data) -> None:  # noqa: ANN001  (a pipeline.data.DatasetSpec)
    """Raise ModelError naming both if `model` cannot take `data`'s inputs and classes.

    `data` is a DatasetSpec (its name, input_shape and num_classes are read). Cached per
    (model, dataset), so a sweep builds each pair once."""
    _check_fit(model, data.name, tuple(data.input_shape), data.num_classes)
