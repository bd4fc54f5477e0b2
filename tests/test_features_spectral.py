"""Biadjacency spectra, the Ramanujan bound and neural persistence, by hand."""

import math

import numpy as np
import pytest

from pipeline.features.graph import LayerView
from pipeline.features.persistence import neural_persistence, persistence_values
from pipeline.features.spectral import biadjacency_spectrum, ramanujan_bound

approx = pytest.approx


def view(kind, mask, w_final=None, input_shape=()):
    mask = np.asarray(mask, bool)
    w = mask.astype(np.float32) if w_final is None else np.asarray(w_final, np.float32)
    w_init = np.ones(mask.shape, np.float32)
    return LayerView("layer", kind, mask, w_init, w, ("input",), input_shape)


def test_complete_bipartite_mask():
    # K_{2,3}: B = ones(2, 3) has singular values sqrt(6), 0. Average fan-in 3,
    # fan-out 2: bound sqrt(2) + sqrt(1).
    out = biadjacency_spectrum(view("linear", np.ones((2, 3))))
    assert out["mask_sv1"] == approx(math.sqrt(6))
    assert out["mask_sv2"] == approx(0.0, abs=1e-12)
    assert out["mask_spectral_gap"] == approx(math.sqrt(6))
    assert out["mask_ramanujan_bound"] == approx(math.sqrt(2) + 1)
    assert out["mask_ramanujan_gap"] == approx(math.sqrt(2) + 1)


def test_matching_mask_and_weighted_spectrum():
    # a perfect matching: singular values 1, 1; degrees 1: bound 0, gap -1.
    # |w_final| = diag(3, 1): weighted singular values 3, 1.
    out = biadjacency_spectrum(view("linear", np.eye(2), w_final=[[-3, 0], [0, 1]]))
    assert (out["mask_sv1"], out["mask_sv2"]) == (approx(1.0), approx(1.0))
    assert out["mask_ramanujan_bound"] == 0.0
    assert out["mask_ramanujan_gap"] == approx(-1.0)
    assert (out["abs_weight_sv1"], out["abs_weight_sv2"]) == (approx(3.0), approx(1.0))
    assert out["abs_weight_spectral_gap"] == approx(2.0)


def test_conv_spectrum_uses_kernel_counts():
    # channel multiplicities [[2, 2], [2, 0]]: symmetric, eigenvalues 1 +- sqrt(5).
    # 6 surviving entries over 2 filters and 2 channels: d_in = d_out = 3.
    mask = [[[[1, 0], [0, 1]], [[1, 0], [0, 1]]], [[[1, 1], [0, 0]], [[0, 0], [0, 0]]]]
    out = biadjacency_spectrum(view("conv", mask, input_shape=(5, 5)))
    assert out["mask_sv1"] == approx(1 + math.sqrt(5))
    assert out["mask_sv2"] == approx(math.sqrt(5) - 1)
    assert out["mask_ramanujan_bound"] == approx(2 * math.sqrt(2))
    assert out["mask_ramanujan_gap"] == approx(2 * math.sqrt(2) - (math.sqrt(5) - 1))


def test_single_output_has_second_singular_value_zero():
    out = biadjacency_spectrum(view("linear", [[1, 1, 0, 1]]))
    assert out["mask_sv1"] == approx(math.sqrt(3))
    assert out["mask_sv2"] == 0.0
    # d_in = 3, d_out = 3/4 < 1 counts as 0
    assert ramanujan_bound(np.array([[1.0, 1, 0, 1]])) == approx(math.sqrt(2))


def test_neural_persistence_of_a_connected_2x2_layer():
    # |w| = [[1, .5], [.25, pruned]], already normalized (max 1). Vertices o0 o1 i0 i1.
    # Edges by decreasing weight: o0-i0 (1) merges, persistence 0; o0-i1 (.5) merges, .5;
    # o1-i0 (.25) merges, .75. Everything is connected: NP_2 = sqrt(0 + .25 + .5625).
    w = [[1, 0.5], [0.25, 0]]
    assert sorted(persistence_values(np.array(w))) == approx([0, 0.5, 0.75])
    out = neural_persistence(view("linear", np.array(w) != 0, w_final=w))
    assert out["neural_persistence_p2"] == approx(math.sqrt(0.8125))
    assert out["neural_persistence_p2_normalized"] == approx(math.sqrt(0.8125) / math.sqrt(3))


def test_neural_persistence_normalizes_by_the_largest_weight():
    # [[4, 0], [0, -2]] -> [[1, 0], [0, .5]]: persistences 0 and .5, then the two
    # components join through a pruned (weight 0) edge: 1.
    w = [[4, 0], [0, -2]]
    assert sorted(persistence_values(np.abs(np.array(w, float)))) == approx([0, 0.5, 1])
    out = neural_persistence(view("linear", np.array(w) != 0, w_final=w))
    assert out["neural_persistence_p2"] == approx(math.sqrt(1.25))


def test_neural_persistence_of_an_empty_layer_is_the_bound():
    out = neural_persistence(view("linear", np.zeros((2, 3))))
    assert out["neural_persistence_p2"] == approx(math.sqrt(4))
    assert out["neural_persistence_p2_normalized"] == approx(1.0)


def test_neural_persistence_of_a_conv_uses_kernel_l1_norms():
    # 1 filter over 2 channels, kernel 2: edge weights |.5| + |-.5| = 1 and |.25| = .25.
    w = [[[0.5, -0.5], [0.25, 0]]]
    out = neural_persistence(view("conv", np.array(w) != 0, w_final=w, input_shape=(4,)))
    # persistences 0 and .75 over |V| - 1 = 2 edges
    assert out["neural_persistence_p2"] == approx(0.75)
    assert out["neural_persistence_p2_normalized"] == approx(0.75 / math.sqrt(2))
