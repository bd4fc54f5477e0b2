"""The training loop for a cohort: K runs sharing architecture, data and schedule.

Member k's loss is its own batch mean; the cohort minimizes the sum, so member
k's gradient is exactly its own (pipeline.train.step). Optimizers are element-wise,
masks are applied after every step, and each member draws its own batches
(pipeline.data.batches). The step runs eagerly, or compiled (`LevelPlan.compile`,
pipeline.train.compiled). The host reads the device only at evaluations and checkpoints.
Members with a mask-update rule (`LevelPlan.mask_updates`: dynamic sparse training,
pipeline.prune.dynamic) change their masks between steps, in the same tensors the step reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from pipeline.config import TrainConfig
from pipeline.data.batches import EpochPlan, iterations_per_epoch
from pipeline.data.tensors import TensorDataset
from pipeline.models.members import member_slice, member_state, prunable_names, stack_states
from pipeline.prune.dynamic import MaskUpdate, update_masks
from pipeline.train.compiled import CohortShape, compiled_cohort
from pipeline.train.compiled import compile_mode as default_mode
from pipeline.train.state import member_optimizer_state, portable_groups, stack_optimizer_states
from pipeline.train.step import EagerCohort, member_losses

StateDict = dict[str, torch.Tensor]
EVAL_CHUNK = 2000
# train.precision -> autocast dtype (None: no autocast). bf16 runs matmuls and convolutions
# in bfloat16 (8-bit mantissa) with fp32 weights, gradients, optimizer state and loss.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class Member:
    """One run's work in a level: where it starts and (on resume) how far it got."""

    seed: int  # seeds the data order
    state: StateDict  # plain-model weights to start (or resume) from
    mask: dict[str, torch.Tensor] | None = None  # plain-shaped bool masks; None = dense
    optimizer: dict | None = None  # the member's optimizer slice, when resuming
    evaluations: list[dict] = field(default_factory=list)  # evaluations so far, when resuming
    seconds: float = 0.0  # training time already spent in this level
    iteration: int | None = None  # where a resumed member stopped
    loss_sum: float = 0.0  # training loss summed since the last evaluation, when resuming
    loss_count: int = 0


@dataclass
class LevelPlan:
    """What every member of the cohort shares in this level."""

    model: str
    train: TrainConfig
    level: int
    start: int  # first iteration of the schedule (the rewind point for retraining)
    end: int  # total iterations of the schedule
    lr: Callable[[int], float]
    augment: bool = False
    eval_every: int = 0  # 0: only at the start and the end
    checkpoint_every: int = 0  # 0: never mid-level
    snapshot_at: int | None = None  # an iteration whose weights Hooks.on_snapshot receives
    optimizer_impl: str = "auto"
    channels_last: bool = False
    compile: bool = False  # torch.compile the step (CUDA graphs on a GPU); same math
    # one per member (empty: none): the rule that moves its mask during training, or None
    mask_updates: tuple[MaskUpdate | None, ...] = ()


@dataclass
class MemberResult:
    state: StateDict
    evaluations: list[dict]
    seconds: float
    mask: dict[str, torch.Tensor] | None = None  # the mask it ended with (None = dense)


class Hooks:
    """Callbacks from the loop; the defaults do nothing."""

    def on_evaluation(self, iteration: int, accuracy: torch.Tensor) -> None: ...

    def on_checkpoint(self, iteration: int, members: list[Member]) -> None: ...

    def on_snapshot(self, iteration: int, states: list[StateDict]) -> None: ...

    def should_stop(self) -> bool:
        return False


class Stopped(Exception):
    """Raised after a checkpoint when Hooks.should_stop() asked the loop to end early."""


@torch.no_grad()
def evaluate(model, data: TensorDataset, members: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Test accuracy and mean loss of each member, [K] each."""
    was_training = model.training
    model.eval()
    correct = torch.zeros(members, device=data.x_test.device)
    loss = torch.zeros(members, device=data.x_test.device)
    for start in range(0, len(data.y_test), EVAL_CHUNK):
        x = data.x_test[start : start + EVAL_CHUNK]
        y = data.y_test[start : start + EVAL_CHUNK]
        logits = model(x.unsqueeze(0).expand(members, *x.shape))
        loss += (
            F.cross_entropy(logits.flatten(0, 1), y.repeat(members), reduction="none")
            .view(members, -1)
            .sum(1)
        )
        correct += (logits.argmax(-1) == y).sum(1)
    model.train(was_training)
    total = len(data.y_test)
    return correct / total, loss / total


class CohortTrainer:
    """One level of a cohort. With `plan.compile` the network, optimizer and compiled step are
    borrowed from the kept compiled cohort of the same shape: train one such trainer at a time
    (a later one of the same shape takes the network over). `compile_mode` overrides the
    torch.compile mode chosen for the device (pipeline.train.compiled.COMPILE_MODES)."""

    def __init__(
        self,
        plan: LevelPlan,
        members: list[Member],
        data: TensorDataset,
        device: torch.device,
        compile_mode: str | None = None,
    ):
        self.plan, self.members, self.data, self.device = plan, members, data, device
        self.k = len(members)
        if plan.compile:
            self.cohort = compiled_cohort(
                self._shape(compile_mode or default_mode(device)), plan.train, self
            )
        else:
            self.cohort = EagerCohort(plan, data.input_shape, data.num_classes, self.k, device)
        self.model, self.optimizer = self.cohort.model, self.cohort.optimizer
        self.autocast = PRECISIONS[plan.train.precision]
        self.model.load_state_dict(stack_states([m.state for m in members]))
        self.params = dict(self.model.named_parameters())
        self.masks = self._stack_masks()
        self.cohort.set_masks(self.masks)
        resumed = members[0].optimizer is not None
        self.cohort.load_optimizer(
            stack_optimizer_states([m.optimizer for m in members]) if resumed else None
        )
        self.rules = plan.mask_updates or (None,) * self.k
        if len(self.rules) != self.k:
            raise ValueError(f"{len(self.rules)} mask-update rules for {self.k} members")
        self.ipe = iterations_per_epoch(
            len(data.y_train), plan.train.batch_size, plan.train.drop_last
        )

    def _shape(self, mode: str) -> CohortShape:
        plan, train = self.plan, self.plan.train
        return CohortShape(
            plan.model,
            tuple(self.data.input_shape),
            self.data.num_classes,
            self.k,
            str(self.device),
            plan.channels_last,
            train.optimizer,
            train.momentum,
            train.weight_decay,
            train.nesterov,
            plan.optimizer_impl,
            mode,
        )

    def _stack_masks(self) -> dict[str, torch.Tensor]:
        if all(m.mask is None for m in self.members):
            return {}
        names = prunable_names(self.model)
        stacked = {}
        for name in names:
            parts = [
                m.mask[name] if m.mask is not None else torch.ones_like(m.state[name], dtype=bool)
                for m in self.members
            ]
            stacked[name] = torch.cat(parts).to(self.device, self.params[name].dtype)
        return stacked

    @torch.no_grad()
    def apply_masks(self) -> None:
        for name, mask in self.masks.items():
            self.params[name].mul_(mask)

    def member_mask(self, index: int) -> dict[str, torch.Tensor] | None:
        """Member `index`'s mask now: its own (moved by its rule, if any), plain and bool."""
        if self.rules[index] is None:
            return self.members[index].mask
        return {n: member_slice(m, self.k, index).bool().cpu() for n, m in self.masks.items()}

    def _dense_gradients(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """d(sum of member losses)/d(weight) of every masked layer on this batch, at every
        position (masked ones included); BatchNorm's running statistics are left as they were."""
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        names = list(self.masks)
        loss = member_losses(self.model, x, y, self.autocast).sum()
        gradients = torch.autograd.grad(loss, [self.params[n] for n in names])
        with torch.no_grad():
            for name, buffer in self.model.named_buffers():
                buffer.copy_(buffers[name])
        return dict(zip(names, gradients))

    @torch.no_grad()
    def _update_masks(self, iteration: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Drop and grow the masks of the members whose rule is due at this iteration; grown
        weights and their optimizer state start at zero."""
        t = iteration - self.plan.start
        due = [(i, rule) for i, rule in enumerate(self.rules) if rule and rule.due(t)]
        if not due:
            return
        gradients = None
        if any(rule.needs_gradient for _, rule in due):
            with torch.enable_grad():
                gradients = self._dense_gradients(x, y)
        for i, rule in due:

            def view(tensors, i=i):
                return {n: member_slice(tensors[n], self.k, i) for n in self.masks}

            new, grown = update_masks(
                rule,
                t,
                view(self.params),
                view(self.masks),
                view(gradients) if rule.needs_gradient else None,
            )
            for name, mask in new.items():
                param = self.params[name]
                member_slice(self.masks[name], self.k, i).copy_(mask)
                member_slice(param, self.k, i).masked_fill_(grown[name], 0)
                for value in self.optimizer.state[param].values():
                    if torch.is_tensor(value) and value.shape == param.shape:
                        member_slice(value, self.k, i).masked_fill_(grown[name], 0)
        self.cohort.set_masks(self.masks)
        self.apply_masks()

    def states(self) -> list[StateDict]:
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return [member_state(state, self.k, i) for i in range(self.k)]

    def export(
        self, iteration: int, seconds: float, loss_sum: torch.Tensor, loss_count: int
    ) -> list[Member]:
        """Each member's state as a plain, resumable Member."""
        optimizer = self.optimizer.state_dict()
        optimizer = {
            "state": {
                k: {n: v.detach().cpu() if torch.is_tensor(v) else v for n, v in s.items()}
                for k, s in optimizer["state"].items()
            },
            "param_groups": portable_groups(optimizer["param_groups"]),
        }
        return [
            Member(
                m.seed,
                state,
                self.member_mask(i),
                member_optimizer_state(optimizer, self.k, i),
                list(m.evaluations),
                m.seconds + seconds,
                iteration,
                float(loss_sum[i]),
                loss_count,
            )
            for i, (state, m) in enumerate(zip(self.states(), self.members))
        ]

    def _record(self, iteration: int, hooks: Hooks, train_loss: torch.Tensor | None) -> None:
        accuracy, loss = evaluate(self.model, self.data, self.k)
        for i, member in enumerate(self.members):
            entry = {
                "iteration": iteration,
                "test_accuracy": float(accuracy[i]),
                "test_loss": float(loss[i]),
            }
            if train_loss is not None:
                entry["train_loss"] = float(train_loss[i])
            member.evaluations.append(entry)
        hooks.on_evaluation(iteration, accuracy)

    def run(self, hooks: Hooks | None = None) -> list[MemberResult]:
        if self.plan.compile and self.cohort.owner is not self:
            raise RuntimeError("a later trainer of the same shape took this compiled cohort over")
        hooks = hooks or Hooks()
        plan = self.plan
        first = self.members[0]
        iteration = plan.start if first.iteration is None else first.iteration
        loss_sum = self.cohort.loss_sum
        loss_sum.copy_(torch.tensor([m.loss_sum for m in self.members]))
        loss_count = first.loss_count
        self.apply_masks()
        self.model.train()
        if not first.evaluations:
            self._record(iteration, hooks, None)
        began = time.perf_counter()
        epoch_plan, epoch = None, -1
        while iteration < plan.end:
            if iteration // self.ipe != epoch:
                epoch = iteration // self.ipe
                epoch_plan = EpochPlan(
                    [m.seed for m in self.members],
                    plan.level,
                    epoch,
                    len(self.data.y_train),
                    plan.augment,
                    self.device,
                )
            x, y = epoch_plan.batch(self.data, iteration % self.ipe, plan.train.batch_size)
            self.cohort.set_lr(plan.lr(iteration))
            self.cohort.step(x, y, self.autocast)
            loss_count += 1
            iteration += 1
            self._update_masks(iteration, x, y)
            if iteration == plan.snapshot_at:
                hooks.on_snapshot(iteration, self.states())
            if iteration == plan.end or (plan.eval_every and iteration % plan.eval_every == 0):
                self._record(iteration, hooks, loss_sum / loss_count)
                loss_sum.zero_()
                loss_count = 0
            if iteration == plan.end:
                break
            stop = hooks.should_stop()
            if stop or (plan.checkpoint_every and iteration % plan.checkpoint_every == 0):
                seconds = time.perf_counter() - began
                hooks.on_checkpoint(
                    iteration, self.export(iteration, seconds, loss_sum, loss_count)
                )
                if stop:
                    raise Stopped(f"stopped at iteration {iteration}")
        seconds = time.perf_counter() - began
        return [
            MemberResult(state, m.evaluations, m.seconds + seconds, self.member_mask(i))
            for i, (state, m) in enumerate(zip(self.states(), self.members))
        ]
