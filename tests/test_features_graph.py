"""LayerView, the conv channel graph and the DAG feeds (pipeline.features.graph, .dag)."""

import numpy as np
import pytest

from pipeline.features.dag import Network
from pipeline.features.graph import LayerView, edge_counts, edge_weights


def view(name, kind, mask, inputs=("input",), w=None, input_shape=()):
    mask = np.asarray(mask, bool)
    w = np.ones(mask.shape, np.float32) if w is None else np.asarray(w, np.float32)
    return LayerView(name, kind, mask, w, w * mask, tuple(inputs), input_shape)


# A conv with 2 filters over 2 input channels and 2x2 kernels.
CONV_MASK = [
    [[[1, 0], [0, 1]], [[1, 0], [0, 1]]],  # filter 0: kernels (0,0), (0,1)
    [[[1, 1], [0, 0]], [[0, 0], [0, 0]]],  # filter 1: kernel (1,0); (1,1) is empty
]


def test_conv_channel_graph_counts_kernel_entries_and_sums_their_l1_norm():
    w = np.arange(1, 17, dtype=np.float32).reshape(2, 2, 2, 2)
    w[..., 1] *= -1  # kernel [[a, b], [c, d]] becomes [[a, -b], [c, -d]]
    layer = view("c", "conv", CONV_MASK, w=w, input_shape=(8, 8))
    np.testing.assert_array_equal(edge_counts(layer), [[2, 2], [2, 0]])
    # w[o, i] entries kept: (0,0): 1 and 4 -> |1| + |-4| = 5; (0,1): 5 and 8 -> 13;
    # (1,0): 9 and 10 -> 19; (1,1): nothing.
    np.testing.assert_array_equal(edge_weights(layer, w), [[5, 13], [19, 0]])
    # edge_weights masks the unmasked initial weights itself.
    np.testing.assert_array_equal(edge_weights(layer, np.ones((2, 2, 2, 2))), [[2, 2], [2, 0]])


def test_linear_graph_is_the_mask():
    layer = view("fc", "linear", [[1, 0, 1]], w=[[2, -3, -4]])
    np.testing.assert_array_equal(edge_counts(layer), [[1, 0, 1]])
    np.testing.assert_array_equal(edge_weights(layer, layer.w_init), [[2, 0, 4]])
    assert (layer.out_units, layer.in_units) == (1, 3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "dense"},
        {"mask": np.ones((2, 2), np.uint8)},
        {"mask": np.ones((2, 2, 3, 3, 3), bool)},
        {"w_init": np.ones((2, 3), np.float32)},
        {"inputs": ()},
    ],
)
def test_layer_view_rejects_contract_violations(kwargs):
    fields = {
        "name": "fc",
        "kind": "linear",
        "mask": np.ones((2, 2), bool),
        "w_init": np.ones((2, 2), np.float32),
        "w_final": np.ones((2, 2), np.float32),
        "inputs": ("input",),
        "input_shape": (),
    }
    with pytest.raises(ValueError):
        LayerView(**(fields | kwargs))


def test_flatten_feed_maps_feature_j_to_channel_j_div_s():
    conv = view("c", "conv", np.ones((2, 1, 3), bool), input_shape=(5,))
    fc = view("fc", "linear", np.ones((1, 6), bool), inputs=("c",))
    feed = Network([conv, fc]).feeds[1][0]
    # 6 features from 2 channels: s = 3, features 0-2 from channel 0, 3-5 from 1.
    np.testing.assert_array_equal(feed.matrix.toarray(), [[1, 0]] * 3 + [[0, 1]] * 3)
    assert feed.source == 0


def test_narrow_shortcut_is_padded_in_the_middle_of_the_channels():
    first = view("a", "conv", np.ones((2, 1, 1), bool), input_shape=(4,))
    wide = view("b", "conv", np.ones((6, 2, 1), bool), inputs=("a",), input_shape=(4,))
    after = view("c", "conv", np.ones((1, 6, 1), bool), inputs=("b", "a"), input_shape=(4,))
    feeds = Network([first, wide, after]).feeds[2]
    np.testing.assert_array_equal(feeds[0].matrix.toarray(), np.eye(6))
    # 2 channels into 6: two zero channels on each side, a's channels land on 2, 3.
    expected = np.zeros((6, 2))
    expected[2, 0] = expected[3, 1] = 1
    np.testing.assert_array_equal(feeds[1].matrix.toarray(), expected)


def test_network_rejects_bad_wiring():
    a = view("a", "linear", np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="not earlier layers"):
        Network([view("b", "linear", np.ones((1, 2), bool), inputs=("a",)), a])
    with pytest.raises(ValueError, match="reserved or repeated"):
        Network([a, a])
    conv = view("c", "conv", np.ones((2, 1, 3), bool), input_shape=(5,))
    with pytest.raises(ValueError, match="not a multiple"):
        Network([conv, view("fc", "linear", np.ones((1, 5), bool), inputs=("c",))])
