"""The cohort's training step under torch.compile, reused across levels, with an eager fallback.

The whole step (forward, loss, backward, optimizer update, masks, loss sum; see
pipeline.train.step) is compiled. On CUDA the mode is "reduce-overhead": every compiled piece
of the step replays as a CUDA graph, so one step costs a few graph launches instead of hundreds
of kernel launches. That needs fixed addresses and shapes: the learning rate is a 0-dim device
tensor filled in place, the masks and the loss sum are static buffers, the optimizer's state
exists (zeroed) before the first step, shapes are static (`dynamic=False`; a partial last batch
gets its own graph, `train.drop_last` avoids it) and the batch is copied into the graph's static
input buffers. Nothing in the step reads the device from the host.

A `CompiledCohort` (network, optimizer, buffers, compiled step) is kept after its level and
serves every later level of the same shape: a level loads its weights, masks and optimizer state
into the same tensors in place, so Dynamo's guards hold and the CUDA graphs replay without being
recorded again. If compiling fails, the state the failed call may have touched is restored and
the cohort trains eagerly, after one warning line that names the reason.

Inductor keeps compiled kernels in $TORCHINDUCTOR_CACHE_DIR; `use_cache_dir` points it at the
sweep directory unless the job sets it (docs/GPU.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch._inductor.runtime.cache_dir_utils import default_cache_dir

from pipeline.models.members import prunable_names
from pipeline.train.optimizers import build_optimizer
from pipeline.train.state import load_state_in_place
from pipeline.train.step import MaskPairs, cohort_network, cohort_step

log = logging.getLogger(__name__)

# device type -> torch.compile mode: CUDA graphs on CUDA, Inductor's fused kernels elsewhere.
COMPILE_MODES: dict[str, str] = {"cuda": "reduce-overhead"}
DEFAULT_MODE = "default"
# Inductor options added to every mode's. torch 2.13's peak-memory reordering can schedule a
# kernel before the one that writes its input (on the CPU, Conv-2's convolution gradients
# came out as zeros), so it is off; tests/test_compile.py compares every family with eager.
SAFE_OPTIONS = {"reorder_for_peak_memory": False}
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def compile_mode(device: torch.device) -> str:
    return COMPILE_MODES.get(device.type, DEFAULT_MODE)


def use_cache_dir(default: Path) -> Path:
    """Inductor's kernel cache: $TORCHINDUCTOR_CACHE_DIR when the job sets it (a node-local or
    project directory), else `default`. Set in this process's environment, where Inductor and
    its compile workers read it at every use. (Importing Inductor's config fills in torch's own
    default, a folder in /tmp; that value counts as unset.)"""
    if os.environ.get(CACHE_ENV) in (None, "", os.path.abspath(default_cache_dir())):
        os.environ[CACHE_ENV] = str(default)
    return Path(os.environ[CACHE_ENV])


@dataclass(frozen=True)
class CohortShape:
    """What a compiled cohort's graphs depend on; levels that agree on all of it share one."""

    model: str
    input_shape: tuple[int, ...]
    num_classes: int
    members: int
    device: str
    channels_last: bool
    optimizer: str
    momentum: float
    weight_decay: float
    nesterov: bool
    optimizer_impl: str
    mode: str


def _reason(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


class CompiledCohort:
    """A cohort network, its optimizer and the compiled step, kept for the levels that follow."""

    def __init__(self, shape: CohortShape, train):
        device = torch.device(shape.device)
        self.shape = shape
        self.model = cohort_network(
            shape.model,
            shape.input_shape,
            shape.num_classes,
            shape.members,
            device,
            shape.channels_last,
        )
        params = dict(self.model.named_parameters())
        self.lr = torch.zeros((), device=device)
        self.optimizer = build_optimizer(
            self.model.parameters(),
            train,
            shape.optimizer_impl,
            lr=self.lr,
            capturable=device.type == "cuda",
        )
        self.mask_buffers = {n: torch.ones_like(params[n]) for n in prunable_names(self.model)}
        self.masks: MaskPairs = [(params[n], m) for n, m in self.mask_buffers.items()]
        self.loss_sum = torch.zeros(shape.members, device=device)
        _prime(self.optimizer)
        for tensor in (self.lr, self.loss_sum, *self.mask_buffers.values()):
            torch._dynamo.mark_static_address(tensor)
        options = {**torch._inductor.list_mode_options(shape.mode), **SAFE_OPTIONS}
        self.compiled = torch.compile(cohort_step, dynamic=False, options=options)
        self.compiled_for: set[tuple] = set()  # (batch shape, precision) compiled so far
        self.fallback: str | None = None  # why the step runs eagerly, once compiling failed
        self.owner: object | None = None

    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Plain-shaped stacked masks for the masked layers; the others are all ones."""
        for name, buffer in self.mask_buffers.items():
            if name in masks:
                buffer.copy_(masks[name])
            else:
                buffer.fill_(1.0)

    def load_optimizer(self, state: dict | None) -> None:
        load_state_in_place(self.optimizer, None if state is None else state["state"])

    def set_lr(self, value: float) -> None:
        self.lr.fill_(value)

    def step(self, x: torch.Tensor, y: torch.Tensor, precision: torch.dtype | None) -> None:
        args = (self.model, self.optimizer, self.masks, x, y, self.loss_sum, precision)
        if self.fallback is not None:
            cohort_step(*args)
            return
        signature = (tuple(x.shape), precision)
        if signature in self.compiled_for:
            self._compiled(args)
            return
        saved = [t.clone() for t in self._state_tensors()]  # a first call compiles: it may fail
        try:
            self._compiled(args)
        except Exception as error:  # noqa: BLE001 (any compiler failure: train eagerly instead)
            self._restore(saved)
            self.fallback = _reason(error)
            log.warning("torch.compile failed, training eagerly: %s", self.fallback)
            cohort_step(*args)
            return
        self.compiled_for.add(signature)

    def _compiled(self, args: tuple) -> None:
        if self.shape.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        self.compiled(*args)

    def _state_tensors(self) -> list[torch.Tensor]:
        optimizer = [
            value
            for slot in self.optimizer.state.values()
            for value in slot.values()
            if torch.is_tensor(value)
        ]
        return [*self.model.state_dict().values(), *optimizer, self.loss_sum]

    @torch.no_grad()
    def _restore(self, saved: list[torch.Tensor]) -> None:
        for tensor, value in zip(self._state_tensors(), saved):
            tensor.copy_(value)
        self.optimizer.zero_grad(set_to_none=True)


def _prime(optimizer: torch.optim.Optimizer) -> None:
    """Create every state tensor (one update on zero gradients), then zero them: a fresh
    optimizer's state, present before the first step so that step runs the same graph as the
    rest. The update moves the weights, which each level overwrites anyway."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = torch.zeros_like(param)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    load_state_in_place(optimizer, None)


_KEPT: dict[CohortShape, CompiledCohort] = {}


def compiled_cohort(shape: CohortShape, train, owner: object) -> CompiledCohort:
    """The kept cohort of this shape (else a new one, replacing the one kept: one cohort's
    memory at a time), now lent to `owner`; a later owner takes it over. Replacing it also
    drops Dynamo's compiled frames, whose guards name the old cohort's objects (left in place,
    they would count towards Dynamo's recompile limit, past which it runs frames eagerly without
    a word); Inductor's on-disk cache still serves their kernels."""
    if shape not in _KEPT:
        _KEPT.clear()
        torch._dynamo.reset()
        _KEPT[shape] = CompiledCohort(shape, train)
    cohort = _KEPT[shape]
    cohort.owner = owner
    return cohort
