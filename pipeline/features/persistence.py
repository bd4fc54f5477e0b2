"""Neural persistence of a layer (Rieck et al. 2019, ICLR)."""

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from pipeline.features.graph import LayerView, edge_weights
from pipeline.features.registry import layer_feature


def persistence_values(weights: np.ndarray) -> np.ndarray:
    """Zero-dimensional persistences of a weighted bipartite graph.

    ``weights`` is the ``(out, in)`` biadjacency of |w| (0 = pruned). Weights are
    normalized by their maximum, w' = |w| / max |w|, and the graph is filtered by
    decreasing w' over the complete bipartite graph, a pruned weight being an
    edge of weight 0. Every vertex is born at 1; each edge that joins two
    components kills one at w', with persistence 1 - w'. The edges that kill
    are those of a maximum spanning tree: the maximum spanning forest of the
    surviving edges (each 1 - w'), then one edge of persistence 1 for each
    further component it takes to connect the graph. An all-zero layer gives
    ``|V| - 1`` persistences of 1.
    """
    n_out, n_in = weights.shape
    n_vertices = n_out + n_in
    top = weights.max()
    rows, cols = np.nonzero(weights)
    # Cost 2 - w' lies in [1, 2): minimal cost trees are maximal weight trees and
    # no surviving edge gets cost 0, which csgraph would read as no edge.
    cost = 2 - weights[rows, cols] / top if top > 0 else np.empty(0)
    graph = sparse.coo_array((cost, (rows, n_out + cols)), shape=(n_vertices,) * 2)
    forest = minimum_spanning_tree(graph.tocsr())
    n_components, _ = connected_components(forest, directed=False)
    return np.concatenate([forest.data - 1, np.ones(n_components - 1)])


@layer_feature
def neural_persistence(layer: LayerView) -> dict[str, float]:
    """Neural persistence of the trained layer's weighted bipartite graph.

    The graph is the layer's (channel graph, for a conv) with edge weights |w|
    from w_final (`pipeline.features.graph.edge_weights`), normalized by the
    layer's largest edge weight; see `persistence_values`.
    neural_persistence_p2: ``||persistences||_2``, the paper's NP_2.
    neural_persistence_p2_normalized: NP_2 / sqrt(|V| - 1), its upper bound for
        weights in [0, 1] (the paper's Theorem 2); lies in [0, 1].
    """
    values = persistence_values(edge_weights(layer, layer.w_final))
    np_2 = float(np.linalg.norm(values))
    bound = np.sqrt(layer.out_units + layer.in_units - 1)
    return {"neural_persistence_p2": np_2, "neural_persistence_p2_normalized": np_2 / bound}
