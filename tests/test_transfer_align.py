"""Aligning a ticket's mask to another initialization's units: networks that are known
permutations of each other, where the right permutation is known by construction."""

import pytest
import torch
from contexts import level_one, random_data

from pipeline.errors import PriorError
from pipeline.models import initial_state
from pipeline.prior import align
from pipeline.prune.context import PruneContext
from pipeline.prune.flops import dense_forward_flops, output_positions

SHAPES = {"mnist1d_mlp": (1, 40), "mnist1d_cnn": (1, 40)}


def _permuted(state: dict, chain: list[str], perms: list[torch.Tensor]) -> dict:
    """The network whose unit i of each hidden layer is `state`'s unit perm[i]: the same
    function, its hidden units relabelled."""
    out = dict(state)
    for index, name in enumerate(chain):
        rows, cols = align._around(perms, index)
        out[name] = align.permute(state[name], rows, cols)
        bias = name.removesuffix("weight") + "bias"
        if bias in state and rows is not None:
            out[bias] = state[bias][rows]
    return out


def _ctx(model: str, state: dict) -> PruneContext:
    data = random_data(SHAPES[model], 600, seed=5)
    return level_one(model, data, state, 0.5, 0.5, generator_seed=7)


def _random_perms(ticket: dict, chain: list[str]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    return [torch.randperm(ticket[n].shape[0], generator=gen) for n in chain[:-1]]


def test_the_chain_of_an_mlp_and_a_cnn_and_no_chain_in_a_resnet():
    assert align.unit_chain("mnist1d_mlp", (1, 40), 10) == [
        "fc1.weight",
        "fc2.weight",
        "fc3.weight",
    ]
    assert align.unit_chain("mnist1d_cnn", (1, 40), 10) == [
        "conv1.weight",
        "conv2.weight",
        "conv3.weight",
        "fc.weight",
    ]
    with pytest.raises(PriorError, match="resnet20 cannot be aligned unit by unit"):
        align.unit_chain("resnet20", (3, 32, 32), 10)


def test_permuting_a_linear_and_a_flattened_convolution_by_hand():
    weight = torch.arange(2 * 3 * 2).reshape(2, 6)  # 2 outputs reading 3 channels x 2 positions
    moved = align.permute(weight, torch.tensor([1, 0]), torch.tensor([2, 0, 1]))
    # rows swapped; channel blocks (0 1 | 2 3 | 4 5) taken in the order 2, 0, 1
    assert moved.tolist() == [[10, 11, 6, 7, 8, 9], [4, 5, 0, 1, 2, 3]]


@pytest.mark.parametrize("model", list(SHAPES))
@pytest.mark.parametrize("method", ["weights", "activations"])
def test_alignment_recovers_the_permutation_between_relabelled_networks(model, method):
    chain = align.unit_chain(model, SHAPES[model], 10)
    ticket = initial_state(model, SHAPES[model], 10, 0)
    for key in ticket:  # nonzero biases, so activation matching sees them too
        if key.endswith("bias"):
            ticket[key] = torch.randn(ticket[key].shape, generator=torch.Generator().manual_seed(1))
    perms = _random_perms(ticket, chain)
    new = _permuted(ticket, chain, perms)
    ctx = _ctx(model, new)
    found = align.ALIGNMENTS[method](ticket, new, chain, ctx)
    assert all(torch.equal(f, p) for f, p in zip(found, perms, strict=True))
    # the ticket's mask lands on the same (relabelled) connections of the new network
    gen = torch.Generator().manual_seed(3)
    mask = {n: torch.rand(ticket[n].shape, generator=gen) < 0.3 for n in chain}
    moved = align.permute_masks(mask, chain, found)
    for name in chain:
        assert torch.equal(moved[name], _permuted(mask, chain, perms)[name])
        assert torch.equal(
            new[name] * moved[name],
            _permuted({n: ticket[n] * mask[n] for n in chain}, chain, perms)[name],
        )
    if method == "activations":  # two forward passes of 512 examples, dense
        positions = output_positions(model, SHAPES[model], 10)
        assert ctx.spent_flops == [2 * 512 * dense_forward_flops(ctx.shapes, positions)]
    else:
        assert ctx.spent_flops == []


def test_aligning_a_network_with_itself_changes_nothing():
    chain = align.unit_chain("mnist1d_mlp", (1, 40), 10)
    ticket = initial_state("mnist1d_mlp", (1, 40), 10, 0)
    found = align.match_weights(ticket, ticket, chain)
    assert all(torch.equal(f, torch.arange(len(f))) for f in found)
