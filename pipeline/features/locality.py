"""Input locality of the first layer: how spatially concentrated each unit's inputs are."""

import numpy as np

from pipeline.features.graph import INPUT, LayerView
from pipeline.features.registry import layer_feature


def _grid(layer: LayerView) -> tuple[int, ...]:
    """The spatial grid a unit's inputs lie on (see `input_locality`)."""
    if layer.kind == "conv":
        return layer.mask.shape[2:]
    return layer.input_shape


@layer_feature
def input_locality(layer: LayerView) -> dict[str, float]:
    """input_locality_spread: mean normalized spread of each unit's surviving inputs.

    Only for layers reading the network input whose inputs lie on a grid: a
    linear layer with a nonempty ``input_shape`` S (its ``in = C * prod(S)``
    features, feature j at position ``unravel(j % prod(S), S)``, channels
    first) or a conv layer (the grid is its kernel, inputs its kernel offsets).
    For each output unit with at least one surviving input, pool the positions
    of its surviving inputs over channels and take their RMS distance to their
    centroid, ``sqrt(sum_axes var)``; divide by the same quantity for a uniform
    spread over the whole grid, ``sqrt(sum_axes (L_a^2 - 1) / 12)``. The feature
    is the mean over those units: 0 when every unit reads a single position,
    about 1 for random masks, above 1 when inputs sit at opposite borders.
    """
    grid = _grid(layer)
    if INPUT not in layer.inputs or not grid:
        return {}
    columns = layer.mask.reshape(layer.out_units, -1).astype(np.float64)
    cells = int(np.prod(grid))
    if columns.shape[1] % cells:
        raise ValueError(f"{layer.name}: {columns.shape[1]} inputs do not tile {grid}")
    uniform = sum((length**2 - 1) / 12 for length in grid)
    n_inputs = columns.sum(axis=1)
    used = n_inputs > 0
    if uniform == 0 or not used.any():
        return {"input_locality_spread": np.nan}
    position = np.stack(np.unravel_index(np.arange(columns.shape[1]) % cells, grid), axis=1)
    columns, n_inputs = columns[used], n_inputs[used, None]
    mean = columns @ position / n_inputs
    variance = columns @ position.astype(np.float64) ** 2 / n_inputs - mean**2
    spread = np.sqrt(np.clip(variance.sum(axis=1), 0, None) / uniform)
    return {"input_locality_spread": float(spread.mean())}
