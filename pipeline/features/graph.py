"""A pruned layer and its bipartite graph.

`LayerView` is the contract between `pipeline.models` and this package (see
docs/INTERFACES.md). The helpers here turn one layer into the weighted bipartite
graph between its input units and its output units.

Conv layers are graphs over *channels*: there is one vertex per input channel and
one per output channel (filter), and the edge (o, i) stands for the whole kernel
``weight[o, i]``. Its multiplicity is the number of surviving kernel entries
(``mask[o, i].sum()``) and its weight is the L1 norm of the surviving entries
(``sum |weight[o, i]|`` over the mask). With these choices, path counts and path
norms through the channel graph equal those of the unrolled network for one
output position, ignoring image borders, strides and pooling. A linear layer's
edge (o, i) is the single weight, with multiplicity 1 if it survives.
"""

from dataclasses import dataclass

import numpy as np

KINDS = ("linear", "conv")
INPUT = "input"  # the network input, as named in `LayerView.inputs`
NETWORK = "*"  # the layer name of network-level feature rows


@dataclass(frozen=True, eq=False)
class LayerView:
    """One prunable layer of a trained network level, in forward order.

    name: parameter name, e.g. ``"fc1.weight"``.
    kind: ``"linear"`` (weight ``(out, in)``) or ``"conv"`` (``(out, in, *kernel)``,
        1-D or 2-D kernels).
    mask: boolean mask, same shape as the weight.
    w_init: weights at the rewind point, unmasked.
    w_final: trained weights at the end of the level (zero where masked).
    inputs: names of the layers whose outputs are summed to form this layer's
        input; ``"input"`` is the network input.
    input_shape: spatial shape of the layer's input; ``()`` for a linear layer fed
        by a linear layer.

    Equality is identity (``eq=False``): the fields are arrays.
    """

    name: str
    kind: str
    mask: np.ndarray
    w_init: np.ndarray
    w_final: np.ndarray
    inputs: tuple[str, ...]
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        ndims = (2,) if self.kind == "linear" else (3, 4)
        if self.mask.ndim not in ndims:
            raise ValueError(f"{self.name}: a {self.kind} weight has {ndims} dims")
        if self.mask.dtype != np.bool_:
            raise ValueError(f"{self.name}: the mask must be boolean")
        for field in ("w_init", "w_final"):
            if getattr(self, field).shape != self.mask.shape:
                raise ValueError(f"{self.name}: {field} and mask shapes differ")
        if not self.inputs:
            raise ValueError(f"{self.name}: a layer needs at least one input")

    @property
    def out_units(self) -> int:
        """Output units: neurons of a linear layer, channels of a conv."""
        return self.mask.shape[0]

    @property
    def in_units(self) -> int:
        """Input units: input features of a linear layer, channels of a conv."""
        return self.mask.shape[1]


def edge_counts(layer: LayerView) -> np.ndarray:
    """The ``(out_units, in_units)`` edge multiplicities: surviving weights per edge."""
    mask = layer.mask.reshape(layer.out_units, layer.in_units, -1)
    return mask.sum(axis=2, dtype=np.float64)


def edge_weights(layer: LayerView, weight: np.ndarray) -> np.ndarray:
    """The ``(out_units, in_units)`` edge weights: L1 norm of surviving entries.

    ``weight`` (``w_init`` or ``w_final``) is masked here, so unmasked initial
    weights may be passed.
    """
    kept = np.abs(np.where(layer.mask, weight, 0).astype(np.float64))
    return kept.reshape(layer.out_units, layer.in_units, -1).sum(axis=2)
