"""Reachability, path counts and path norms over the network DAG, by hand."""

import math

import numpy as np
import pytest

from pipeline.features.dag import Network
from pipeline.features.graph import LayerView
from pipeline.features.paths import path_statistics
from pipeline.features.reachability import reachability

approx = pytest.approx


def view(name, kind, mask, inputs=("input",), w_init=None, w_final=None, input_shape=()):
    mask = np.asarray(mask, bool)
    ones = np.ones(mask.shape, np.float32)
    w_init = ones if w_init is None else np.asarray(w_init, np.float32)
    w_final = w_init * mask if w_final is None else np.asarray(w_final, np.float32)
    return LayerView(name, kind, mask, w_init, w_final, tuple(inputs), input_shape)


def as_dict(rows):
    return {(layer, name): value for layer, name, value in rows}


# Chain 3 -> 2 -> 2 -> 1 (inputs x0 x1 x2, hidden h1_*, h2_*, output y):
#   l1: h1_0 <- x0 (w 1), x1 (w -2);  h1_1 <- x2 (w 3)
#   l2: h2_0 <- h1_0 (w 0.5);         h2_1 <- h1_1 (w 4)
#   l3: y    <- h2_0 (w -1)
# Paths: x0 -> h1_0 -> h2_0 -> y and x1 -> h1_0 -> h2_0 -> y: 2 paths.
# On a path: l1 (0,0), (0,1); l2 (0,0); l3 (0,0): 4 of 6 surviving weights.
# x2 -> h1_1 -> h2_1 is a dead end: h1_1, h2_1 and the input x2 are disconnected.
L1 = [[1, 1, 0], [0, 0, 1]]
L2 = [[1, 0], [0, 1]]
L3 = [[1, 0]]


def chain(l3_inputs=("l2",), l2_mask=L2, l3_mask=L3):
    w2 = np.multiply(l2_mask, [[0.5, 0], [0, 4]])
    w3 = np.multiply(l3_mask, [[-1, 1]])
    return [
        view("l1", "linear", L1, w_final=[[1, -2, 0], [0, 0, 3]]),
        view("l2", "linear", l2_mask, inputs=("l1",), w_final=w2),
        view("l3", "linear", l3_mask, inputs=l3_inputs, w_final=w3),
    ]


def test_chain_weights_on_paths_and_disconnected_units():
    rows = as_dict(reachability(Network(chain())))
    assert rows["*", "path_share_of_kept"] == approx(4 / 6)
    assert rows["l1", "path_share_of_kept"] == approx(2 / 3)
    assert rows["l2", "path_share_of_kept"] == approx(1 / 2)
    assert rows["l3", "path_share_of_kept"] == approx(1.0)
    # Vysogorets & Kempe divide by all weights: l1 has 6, l2 4, l3 2, 12 in all
    assert rows["*", "effective_density_vk"] == approx(4 / 12)
    assert rows["l1", "effective_density_vk"] == approx(2 / 6)
    assert rows["l2", "effective_density_vk"] == approx(1 / 4)
    assert rows["l3", "effective_density_vk"] == approx(1 / 2)
    assert rows["l1", "units_disconnected"] == 1.0  # h1_1
    assert rows["l2", "units_disconnected"] == 1.0  # h2_1
    assert rows["l3", "units_disconnected"] == 0.0
    assert rows["*", "units_disconnected"] == 2.0
    assert rows["*", "input_units_disconnected"] == 1.0  # x2


def test_chain_path_count_and_path_norm():
    rows = as_dict(path_statistics(Network(chain())))
    assert rows["*", "log10_input_output_paths"] == approx(math.log10(2))
    # |W1| 1 = (3, 3); |W2| (3, 3) = (1.5, 12); |W3| (1.5, 12) = 1.5
    assert rows["*", "path_norm_final"] == approx(1.5)
    assert rows["*", "log10_path_norm_final"] == approx(math.log10(1.5))
    # w_init is all ones: the path norm at init counts the paths
    assert rows["*", "path_norm_init"] == approx(2.0)


def test_a_skip_connection_reconnects_a_unit_the_chain_cuts_off():
    # l2 keeps only h2_0 <- h1_0, so h2_1 has no input and h1_1 is read by nobody in
    # the chain. l3 reads both units: y <- in_0 (w -1), in_1 (w 1).
    l2_mask, l3_mask = [[1, 0], [0, 0]], [[1, 1]]
    plain = as_dict(reachability(Network(chain(("l2",), l2_mask, l3_mask))))
    # chain: on a path l1 (0,0), (0,1); l2 (0,0); l3 (0,0): 4 of 6. h1_1 and h2_1 cut off.
    assert plain["*", "path_share_of_kept"] == approx(4 / 6)
    assert plain["*", "units_disconnected"] == 2.0
    assert plain["*", "input_units_disconnected"] == 1.0
    # With l3's input = l2's output + l1's output, in_1 = h2_1 + h1_1, so x2 -> h1_1 -> y:
    # every surviving weight is on a path; only h2_1 (no input) stays disconnected.
    net = Network(chain(("l2", "l1"), l2_mask, l3_mask))
    skip = as_dict(reachability(net))
    assert skip["*", "path_share_of_kept"] == 1.0
    assert skip["l1", "units_disconnected"] == 0.0
    assert skip["l2", "units_disconnected"] == 1.0
    assert skip["*", "input_units_disconnected"] == 0.0
    # paths: x0, x1 -> h1_0 -> h2_0 -> y (2); x0, x1 -> h1_0 -> y (2); x2 -> h1_1 -> y (1)
    paths = as_dict(path_statistics(net))
    assert paths["*", "log10_input_output_paths"] == approx(math.log10(5))
    # |W1| 1 = (3, 3); h2 = (1.5, 0); l3 input = (4.5, 3); |W3| (4.5, 3) = 7.5
    assert paths["*", "path_norm_final"] == approx(7.5)


def test_flatten_maps_features_to_channels_j_div_s():
    # conv: channel 0 <- input through 2 kernel taps, channel 1 empty; 1-D, s = 2.
    # fc reads features 0 and 1, both channel 0 (j // 2): 2 paths each through its 2 taps.
    conv = view("c", "conv", [[[1, 1]], [[0, 0]]], input_shape=(3,))
    fc = view("fc", "linear", [[1, 1, 0, 0]], inputs=("c",))
    net = Network([conv, fc])
    rows = as_dict(reachability(net)) | as_dict(path_statistics(net))
    assert rows["*", "log10_input_output_paths"] == approx(math.log10(4))
    assert rows["*", "path_share_of_kept"] == 1.0
    assert rows["c", "units_disconnected"] == 1.0  # channel 1
    # Mapping feature j to channel j % 2 would put feature 1 on the empty channel 1.
    assert rows["fc", "path_share_of_kept"] == 1.0


def test_narrow_residual_is_padded_centred():
    # a: 2 channels from the input; b: 4 channels, only b0 <- a0; c reads b + a, a's
    # channels padded onto c's channels 1, 2 (offset (4 - 2) // 2 = 1), and keeps
    # channels 0 and 1: paths input -> a0 -> b0 -> c and input -> a0 -> (skip) -> c.
    a = view("a", "conv", np.ones((2, 1, 1)), input_shape=(4,))
    b_mask = np.zeros((4, 2, 1))
    b_mask[0, 0] = 1
    b = view("b", "conv", b_mask, inputs=("a",), input_shape=(4,))
    c = view("c", "conv", [[[1], [1], [0], [0]]], inputs=("b", "a"), input_shape=(4,))
    net = Network([a, b, c])
    rows = as_dict(reachability(net)) | as_dict(path_statistics(net))
    assert rows["*", "log10_input_output_paths"] == approx(math.log10(2))
    # a1 lands on c's channel 2, which c does not keep: 4 of 5 weights on a path
    assert rows["*", "path_share_of_kept"] == approx(4 / 5)
    # kernel entries in all: a 2, b 8, c 4
    assert rows["*", "effective_density_vk"] == approx(4 / 14)


def test_no_path_gives_minus_infinity():
    net = Network([view("l1", "linear", [[1, 0]]), view("l2", "linear", [[0]], inputs=("l1",))])
    rows = as_dict(path_statistics(net)) | as_dict(reachability(net))
    assert rows["*", "log10_input_output_paths"] == -math.inf
    assert rows["*", "path_norm_final"] == 0.0
    assert rows["*", "path_share_of_kept"] == 0.0
    assert rows["l2", "path_share_of_kept"] != rows["l2", "path_share_of_kept"]  # NaN
    assert rows["l2", "effective_density_vk"] == 0.0  # no survivors of 1 weight


def test_deep_path_counts_do_not_overflow():
    # 400 dense 10 x 10 layers: each unit of layer L has 10**L paths from the input,
    # so the 10 outputs have 10 * 10**400 = 10**401 together: beyond float64.
    layers = [view("l0", "linear", np.ones((10, 10)))]
    for i in range(1, 400):
        layers.append(view(f"l{i}", "linear", np.ones((10, 10)), inputs=(f"l{i - 1}",)))
    rows = as_dict(path_statistics(Network(layers)))
    assert rows["*", "log10_input_output_paths"] == approx(401)
    assert rows["*", "path_norm_init"] == math.inf
    assert rows["*", "log10_path_norm_init"] == approx(401)
