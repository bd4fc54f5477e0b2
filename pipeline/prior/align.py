"""A ticket's mask permuted to another initialization's units (Adnan et al., ICML 2025).

Hidden units (a linear layer's outputs, a convolution's output channels) can be permuted
without changing the function a network computes, so the ticket's unit i need not be the
new network's unit i. For each hidden layer a permutation `perm` pairs the new network's
unit i with the ticket's unit perm[i]; the aligned mask of layer l is the ticket's with
its rows (output units) permuted by perm_l and its columns (input units, each channel's
block of flattened positions after a convolution) by perm_{l-1}. The output layer's units
(the classes) and the network's inputs stay where they are.

Two ways to find the permutations, as in git re-basin (Ainsworth et al., ICLR 2023):
- `weights`: weight matching, maximizing the summed inner products of the two networks'
  weights over all layers, by coordinate descent over the layers (each step a linear
  assignment problem solved exactly), from the identity until no permutation changes;
- `activations`: each hidden layer's outputs on one batch of training data, units paired
  by the largest total Pearson correlation (one assignment problem per layer).

Only networks whose prunable layers form a chain (each reads the output of the one before
and nothing else) can be aligned this way; residual networks are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from pipeline.errors import PriorError
from pipeline.models.graph import INPUT, cached_layer_graph
from pipeline.models.members import build_plain
from pipeline.prune.context import PruneContext, StateDict
from pipeline.prune.flops import dense_forward_flops, output_positions
from pipeline.prune.masks import Masks

ACTIVATION_BATCH = 512  # training examples whose layer outputs are correlated
MAX_SWEEPS = 100  # weight matching's passes over the layers, at most

Perms = list[torch.Tensor]  # one per hidden layer, in layer order


def unit_chain(model: str, input_shape: tuple[int, ...], num_classes: int) -> list[str]:
    """The prunable weights in order, if each layer reads only the layer before it (the
    first only the input); else a PriorError naming the first layer that does not."""
    nodes = cached_layer_graph(model, tuple(input_shape), num_classes)
    before = INPUT
    for node in nodes:
        if node.inputs != (before,):
            raise PriorError(
                f"{model} cannot be aligned unit by unit: {node.name} reads "
                f"{' + '.join(node.inputs)}, not just the layer before it (a residual "
                "connection); alignment needs a chain of layers"
            )
        before = node.name
    return [node.name for node in nodes]


def _blocks(tensor: torch.Tensor, inputs: int) -> torch.Tensor:
    """A layer's tensor as [units, input units, positions per input unit]."""
    return tensor.reshape(tensor.shape[0], inputs, -1)


def permute(
    tensor: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None
) -> torch.Tensor:
    """`tensor` (a weight or mask of the chain) with its units taken in the order `rows` and
    its input units in the order `cols` (None: unchanged)."""
    inputs = len(cols) if cols is not None else tensor.shape[1]
    view = _blocks(tensor, inputs)
    if rows is not None:
        view = view[rows]
    if cols is not None:
        view = view[:, cols]
    return view.reshape(tensor.shape)


def _around(perms: Perms, layer: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(output, input) permutations of chain layer `layer` (None at the ends)."""
    rows = perms[layer] if layer < len(perms) else None
    cols = perms[layer - 1] if layer > 0 else None
    return rows, cols


def permute_masks(masks: Masks, chain: list[str], perms: Perms) -> Masks:
    return {name: permute(masks[name], *_around(perms, index)) for index, name in enumerate(chain)}


def _assign(similarity: torch.Tensor) -> torch.Tensor:
    """perm with perm[i] the ticket unit paired with new unit i, maximizing the summed
    similarity[i, perm[i]]."""
    _, cols = linear_sum_assignment(similarity.double().cpu().numpy(), maximize=True)
    return torch.from_numpy(cols.astype(np.int64))


def match_weights(ticket: StateDict, new: StateDict, chain: list[str], _ctx=None) -> Perms:
    """Weight matching: for hidden layer l, the similarity of new unit i and ticket unit j is
    the inner product of their incoming weights (and biases), with the ticket's inputs in
    the current order, plus that of their outgoing weights, with the next layer's units in
    the current order."""
    perms = [torch.arange(ticket[name].shape[0]) for name in chain[:-1]]
    biases = {name: name.removesuffix("weight") + "bias" for name in chain}
    for _ in range(MAX_SWEEPS):
        changed = False
        for layer, name in enumerate(chain[:-1]):
            cols = perms[layer - 1] if layer else None
            a_in = permute(ticket[name], None, cols).reshape(len(perms[layer]), -1)
            b_in = new[name].reshape(len(perms[layer]), -1)
            similarity = b_in @ a_in.T
            if biases[name] in ticket:
                similarity += new[biases[name]][:, None] * ticket[biases[name]][None, :]
            following = chain[layer + 1]
            rows = perms[layer + 1] if layer + 1 < len(perms) else None
            a_out = _blocks(permute(ticket[following], rows, None), len(perms[layer]))
            b_out = _blocks(new[following], len(perms[layer]))
            similarity += torch.einsum("oip,ojp->ij", b_out, a_out)
            found = _assign(similarity)
            if not torch.equal(found, perms[layer]):
                perms[layer], changed = found, True
        if not changed:
            break
    return perms


def _hidden_outputs(ctx: PruneContext, state: StateDict, chain: list[str], x: torch.Tensor):
    """Each hidden layer's outputs on `x`, as [units, samples] (a convolution's channels
    sampled at every example and position)."""
    model = build_plain(ctx.model, ctx.data.input_shape, ctx.data.num_classes)
    model.load_state_dict(state)
    model = model.to(x.device).train()
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        modules[name.removesuffix(".weight")].register_forward_hook(
            lambda _m, _a, out, name=name: outputs.__setitem__(
                name, out.transpose(0, 1).reshape(out.shape[1], -1)
            )
        )
        for name in chain[:-1]
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return [outputs[name] for name in chain[:-1]]


def _standardized(values: torch.Tensor) -> torch.Tensor:
    """Rows with zero mean and unit norm; a constant row stays zero (correlates with none)."""
    centered = values.double() - values.double().mean(dim=1, keepdim=True)
    norm = centered.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, centered / norm.clamp_min(1e-300), 0.0)


def match_activations(
    ticket: StateDict, new: StateDict, chain: list[str], ctx: PruneContext
) -> Perms:
    """Activation matching on ACTIVATION_BATCH training examples drawn with the level's
    generator; the two forward passes are reported as spent FLOPs."""
    data = ctx.data
    order = torch.randperm(len(data.y_train), generator=ctx.generator)[:ACTIVATION_BATCH]
    x = data.x_train[order.to(data.x_train.device)]
    pairs = zip(
        _hidden_outputs(ctx, ticket, chain, x), _hidden_outputs(ctx, new, chain, x), strict=True
    )
    perms = [_assign(_standardized(b) @ _standardized(a).T) for a, b in pairs]
    positions = output_positions(ctx.model, data.input_shape, data.num_classes)
    ctx.spent_flops.append(2 * len(x) * dense_forward_flops(ctx.shapes, positions))
    return perms


ALIGNMENTS: dict[str, Callable[[StateDict, StateDict, list[str], PruneContext], Perms]] = {
    "weights": match_weights,
    "activations": match_activations,
}
