"""The network as a layered DAG of bipartite layer graphs.

Each layer's input units are the sum of its producers' output units (residual
additions are already flattened into ``LayerView.inputs``). A `Feed` embeds one
producer's output units into the consumer's input units with a 0/1 matrix:

- same size: identity;
- a producer with fewer channels than the consumer reads (an option-A ResNet
  shortcut, zero-padded on the channel axis): producer channel ``k`` lands on
  channel ``k + (C - n) // 2`` (the padding is centred, as in the CIFAR ResNets);
- a linear layer fed by conv layers with C channels (the widest producer) reads
  ``in = C * s`` features, feature ``j`` belonging to channel ``j // s``
  (PyTorch's flatten order).

The network input ``"input"`` feeds its consumers through an identity; its units
are the input units of the layers that read it. The network output is the last
layer's output units.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from pipeline.features.graph import INPUT, NETWORK, LayerView, edge_counts


@dataclass(frozen=True)
class Feed:
    """``matrix`` ``(consumer in_units, source units)`` maps a source into a consumer.

    ``source`` is the producer's index in `Network.layers`, or -1 for the input.
    """

    source: int
    matrix: sparse.csr_array


def _embedding(n_source: int, channels: int, repeat: int) -> sparse.csr_array:
    offset = (channels - n_source) // 2
    source = np.repeat(np.arange(n_source), repeat)
    rows = (source + offset) * repeat + np.tile(np.arange(repeat), n_source)
    ones = np.ones(rows.size)
    shape = (channels * repeat, n_source)
    return sparse.csr_array((ones, (rows, source)), shape=shape)


def _feeds(layer: LayerView, index: dict[str, int], layers: list) -> tuple[Feed, ...]:
    producers = [layers[index[name]] for name in layer.inputs if name != INPUT]
    channels, repeat = layer.in_units, 1
    if layer.kind == "linear" and any(p.kind == "conv" for p in producers):
        channels = max(p.out_units for p in producers)
        if layer.in_units % channels:
            raise ValueError(
                f"{layer.name}: {layer.in_units} features are not a multiple of "
                f"the {channels} channels feeding it"
            )
        repeat = layer.in_units // channels
    feeds = []
    for name in layer.inputs:
        if name == INPUT:
            feeds.append(Feed(-1, _embedding(layer.in_units, layer.in_units, 1)))
            continue
        n_source = layers[index[name]].out_units
        if n_source > channels:
            raise ValueError(f"{layer.name}: {name} has more outputs than it reads")
        feeds.append(Feed(index[name], _embedding(n_source, channels, repeat)))
    return tuple(feeds)


def through(matrix, reached: np.ndarray) -> np.ndarray:
    """Boolean image of ``reached`` under a nonnegative matrix."""
    return matrix @ reached.astype(np.float64) > 0


def _sum_scaled(parts: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
    """Sum vectors given as ``(v, s)`` meaning ``v * 10**s``."""
    scale = max(s for _, s in parts)
    if scale == -np.inf:
        return np.zeros_like(parts[0][0]), scale
    return sum(v * 10.0 ** (s - scale) for v, s in parts), scale


def _normalise(v: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    top = v.max()
    if top <= 0:
        return np.zeros_like(v), -np.inf
    return v / top, scale + np.log10(top)


class Network:
    """Layers in forward order with their feeds and edge multiplicities."""

    def __init__(self, layers: list[LayerView]):
        if not layers:
            raise ValueError("a network needs at least one layer")
        index: dict[str, int] = {}
        for i, layer in enumerate(layers):
            if layer.name in index or layer.name in (INPUT, NETWORK):
                raise ValueError(f"layer name {layer.name!r} is reserved or repeated")
            unknown = [n for n in layer.inputs if n != INPUT and n not in index]
            if unknown:
                raise ValueError(f"{layer.name} reads {unknown}, not earlier layers")
            index[layer.name] = i
        input_sizes = {layer.in_units for layer in layers if INPUT in layer.inputs}
        if len(input_sizes) != 1:
            raise ValueError("the layers reading 'input' must agree on its size")
        self.input_units = input_sizes.pop()
        self.layers = list(layers)
        self.feeds = [_feeds(layer, index, self.layers) for layer in self.layers]

    @cached_property
    def counts(self) -> list[np.ndarray]:
        """`edge_counts` of every layer."""
        return [edge_counts(layer) for layer in self.layers]

    def forward_reach(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per layer, which input units and output units a path from the input reaches."""
        ins: list[np.ndarray] = []
        outs: list[np.ndarray] = []
        for layer, counts, feeds in zip(self.layers, self.counts, self.feeds):
            reached = np.zeros(layer.in_units, bool)
            for feed in feeds:
                n_source = feed.matrix.shape[1]
                source = np.ones(n_source, bool) if feed.source < 0 else outs[feed.source]
                reached |= through(feed.matrix, source)
            ins.append(reached)
            outs.append(through(counts, reached))
        return ins, outs

    def backward_reach(self) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Which units have a path to the network output.

        Returns per-layer input units, per-layer output units, and the network
        input units. The last layer's outputs are the network output.
        """
        n = len(self.layers)
        outs = [np.zeros(layer.out_units, bool) for layer in self.layers]
        outs[-1][:] = True
        ins: list[np.ndarray] = [np.empty(0, bool)] * n
        network_input = np.zeros(self.input_units, bool)
        for i in reversed(range(n)):
            ins[i] = through(self.counts[i].T, outs[i])
            for feed in self.feeds[i]:
                pulled = through(feed.matrix.T, ins[i])
                if feed.source < 0:
                    network_input |= pulled
                else:
                    outs[feed.source] |= pulled
        return ins, outs, network_input

    def log10_path_sum(self, matrices: list[np.ndarray]) -> float:
        """``log10(1^T M_L ... M_1 1)`` along the DAG, summing at residual inputs.

        ``matrices[l]`` is an ``(out_units, in_units)`` nonnegative matrix per layer.
        Vectors are kept as ``v * 10**s`` with ``max(v) = 1`` so that deep networks
        do not overflow. Returns ``-inf`` when the sum is zero.
        """
        outs: list[tuple[np.ndarray, float]] = []
        for i, matrix in enumerate(matrices):
            parts = []
            for feed in self.feeds[i]:
                if feed.source < 0:
                    v, scale = np.ones(feed.matrix.shape[1]), 0.0
                else:
                    v, scale = outs[feed.source]
                parts.append((feed.matrix @ v, scale))
            x, scale = _sum_scaled(parts)
            outs.append(_normalise(matrix @ x, scale))
        v, scale = outs[-1]
        total = v.sum()
        return float(np.log10(total) + scale) if total > 0 else -np.inf
