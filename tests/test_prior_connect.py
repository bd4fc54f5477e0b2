"""`prior`'s connect component: weights on no input-output path move onto paths."""

import numpy as np
import torch

from pipeline.features.dag import Network
from pipeline.features.graph import INPUT, LayerView
from pipeline.features.reachability import reachability
from pipeline.models.graph import LayerNode, layer_graph
from pipeline.prior.connect import live_units, reconnect
from pipeline.prior.sample import gumbel_top_k

NODES = [
    LayerNode("fc1", "linear", (INPUT,), (2,)),
    LayerNode("fc2", "linear", ("fc1",), ()),
    LayerNode("fc3", "linear", ("fc2",), ()),
]


def _effective_density(masks, nodes) -> float:
    views = [
        LayerView(
            n.name,
            n.kind,
            masks[n.name],
            np.zeros(masks[n.name].shape),
            np.zeros(masks[n.name].shape),
            n.inputs,
            n.input_shape,
        )
        for n in nodes
    ]
    return dict(((layer, f), v) for layer, f, v in reachability(Network(views)))[
        ("*", "path_share_of_kept")
    ]


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    chosen = np.zeros(scores.size, bool)
    chosen[np.argsort(-scores.ravel(), kind="stable")[:count]] = True
    return chosen.reshape(scores.shape)


def test_a_dead_weight_moves_between_live_units_by_score():
    # inputs i0 i1 -> hidden h0 h1 h2 -> o0 o1 -> outputs y0 y1
    fc1 = np.array([[1, 0], [0, 1], [1, 0]], bool)  # h0<-i0, h1<-i1, h2<-i0
    fc2 = np.array([[1, 1, 0], [0, 0, 1]], bool)  # o0<-h0, o0<-h1, o1<-h2
    fc3 = np.array([[1, 0], [1, 0]], bool)  # y0<-o0, y1<-o0: o1 reaches no output
    masks = {"fc1": fc1, "fc2": fc2, "fc3": fc3}
    # o1 is dead, so h2 is too: h2<-i0 and o1<-h2 are on no path; 6 of 8 weights are
    assert _effective_density(masks, NODES) == 6 / 8
    live = live_units(masks, NODES)
    assert live["fc1"][0].tolist() == [True, True, False]  # h0, h1
    assert live["fc2"][0].tolist() == [True, False] and live["fc2"][1].tolist() == [
        True,
        True,
        False,
    ]
    scores = {
        "fc1": np.array([[0.0, 1.0], [2.0, 0.0], [9.0, 9.0]]),
        "fc2": np.zeros((2, 3)),
        "fc3": np.zeros((2, 2)),
    }
    out = reconnect(masks, NODES, scores, _top)
    # fc1's dead weight goes to the best free position between live units: h1<-i0 (2.0),
    # not h2 (dead) however high its score
    assert out["fc1"].tolist() == [[True, False], [True, True], [False, False]]
    # fc2 has no free position between live units (o0<-h0, o0<-h1 are taken): it keeps
    # its count with the dead weight
    assert out["fc2"].tolist() == fc2.tolist() and out["fc3"].tolist() == fc3.tolist()
    assert {k: int(v.sum()) for k, v in out.items()} == {"fc1": 3, "fc2": 3, "fc3": 2}
    assert _effective_density(out, NODES) == 7 / 8


def test_reconnected_random_masks_of_a_real_mlp_lie_on_paths():
    nodes = layer_graph("mnist1d_mlp", (1, 40), 10)
    gen = torch.Generator().manual_seed(0)
    shapes = {"fc1.weight": (100, 40), "fc2.weight": (100, 100), "fc3.weight": (10, 100)}
    counts = {"fc1.weight": 80, "fc2.weight": 200, "fc3.weight": 300}  # 2% hidden
    scores = {n: np.zeros(s) for n, s in shapes.items()}

    def draw(s, k):
        return gumbel_top_k(s, k, gen).numpy()

    masks = {n: draw(scores[n], counts[n]) for n in shapes}
    before = _effective_density(masks, nodes)
    out = reconnect(masks, nodes, scores, draw)
    assert {n: int(m.sum()) for n, m in out.items()} == counts
    assert before < 0.6 and _effective_density(out, nodes) == 1.0
