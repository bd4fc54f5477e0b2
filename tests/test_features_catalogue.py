"""The catalogue entry point: every feature, once, as float rows."""

import math

import numpy as np
import pytest

from pipeline.features import LayerView, compute_level_features
from pipeline.features.registry import LAYER_FEATURES, NETWORK_FEATURES

LINEAR_LAYER_FEATURES = {
    "density",
    *(
        f"abs_init_{stat}_{subset}"
        for stat in ("mean", "std", "kurtosis", "bimodality")
        for subset in ("survivors", "all")
    ),
    *(f"abs_final_{stat}_survivors" for stat in ("mean", "std", "kurtosis", "bimodality")),
    "ks_abs_init_survivors_vs_all",
    "movement_abs_mean_survivors",
    "sign_agreement_survivors",
    "update_l2_on_mask",
    "update_l2_on_mask_relative",
    *(f"keep_rel_abs_init_d{k}" for k in range(10)),
    "keep_rel_init_positive",
    "esd_alpha_final",
    "stable_rank_final",
    *(f"fan_{side}_{stat}" for side in ("in", "out") for stat in ("mean", "cv", "gini")),
    "mask_sv1",
    "mask_sv2",
    "mask_spectral_gap",
    "mask_ramanujan_bound",
    "mask_ramanujan_gap",
    "abs_weight_sv1",
    "abs_weight_sv2",
    "abs_weight_spectral_gap",
    "neural_persistence_p2",
    "neural_persistence_p2_normalized",
    # from network families, per layer
    "units_alive_fraction",
    "path_share_of_kept",
    "effective_density_vk",
    "units_disconnected",
}
CONV_FEATURES = {
    "conv_filters_alive",
    "conv_filters_alive_fraction",
    "conv_in_channels_alive",
    "conv_in_channels_alive_fraction",
    "conv_kernels_nonzero_fraction",
    "conv_kept_kernel_density_mean",
    "conv_filters_dense_fraction",
    "conv_kernel_pattern_entropy_bits",
    "conv_centre_keep_rel_density",
    "conv_border_keep_rel_centre",
    "conv_position_entropy_normalized",
}
NETWORK_LEVEL = {
    "density",
    "density_profile_mean_abs_diff_erk",
    "density_profile_mean_abs_diff_uniform",
    "units_alive_fraction",
    "path_share_of_kept",
    "effective_density_vk",
    "units_disconnected",
    "input_units_disconnected",
    "log10_input_output_paths",
    "path_norm_init",
    "log10_path_norm_init",
    "path_norm_final",
    "log10_path_norm_final",
}


def random_layer(rng, name, kind, shape, inputs, input_shape=(), density=0.3):
    mask = rng.random(shape) < density
    w_init = rng.standard_normal(shape).astype(np.float32)
    w_final = (w_init + 0.1 * rng.standard_normal(shape).astype(np.float32)) * mask
    return LayerView(name, kind, mask, w_init, w_final, inputs, input_shape)


def small_convnet(rng):
    """conv (1-D) -> conv with a residual sum -> linear after a flatten."""
    return [
        random_layer(rng, "c1", "conv", (4, 1, 3), ("input",), (12,)),
        random_layer(rng, "c2", "conv", (4, 4, 3), ("c1",), (12,)),
        random_layer(rng, "fc", "linear", (3, 4 * 12), ("c2", "c1"), (12,)),
    ]


def test_feature_names_per_layer_and_network():
    layers = small_convnet(np.random.default_rng(0))
    rows = compute_level_features(layers)
    names = {layer: {n for lay, n, _ in rows if lay == layer} for layer in ("c1", "c2", "fc", "*")}
    assert names["c1"] == LINEAR_LAYER_FEATURES | CONV_FEATURES | {"input_locality_spread"}
    assert names["c2"] == LINEAR_LAYER_FEATURES | CONV_FEATURES
    assert names["fc"] == LINEAR_LAYER_FEATURES
    assert names["*"] == NETWORK_LEVEL
    assert len(rows) == len({(layer, name) for layer, name, _ in rows})
    assert all(type(value) is float for _, _, value in rows)


def test_registries_hold_the_families():
    assert set(LAYER_FEATURES) == {
        "density",
        "magnitude_distribution",
        "weight_change",
        "spectral_heavy_tail",
        "degree_distribution",
        "conv_kernels",
        "kernel_positions",
        "input_locality",
        "biadjacency_spectrum",
        "neural_persistence",
        "init_selection",
    }
    assert set(NETWORK_FEATURES) == {
        "unit_survival",
        "density_profile",
        "reachability",
        "path_statistics",
    }


def test_level_features_of_the_hand_counted_chain():
    # the 3-2-2-1 chain of test_features_topological: 4 of 6 weights on a path, 2 paths
    masks = [[[1, 1, 0], [0, 0, 1]], [[1, 0], [0, 1]], [[1, 0]]]
    layers = []
    for i, mask in enumerate(masks):
        mask = np.array(mask, bool)
        w = mask.astype(np.float32)
        inputs = ("input",) if i == 0 else (f"l{i - 1}",)
        layers.append(LayerView(f"l{i}", "linear", mask, w, w, inputs, (3,) if i == 0 else ()))
    rows = {(layer, name): value for layer, name, value in compute_level_features(layers)}
    assert rows["*", "path_share_of_kept"] == pytest.approx(4 / 6)
    assert rows["*", "effective_density_vk"] == pytest.approx(4 / 12)
    assert rows["*", "log10_input_output_paths"] == pytest.approx(math.log10(2))
    assert rows["*", "density"] == pytest.approx(6 / 12)
    assert rows["l1", "units_alive_fraction"] == 0.5
    assert rows["l0", "density"] == pytest.approx(0.5)
    # l0: unit 0 reads positions 0, 1 (std .5), unit 1 reads 2 (std 0); uniform sqrt(2/3)
    assert rows["l0", "input_locality_spread"] == pytest.approx(0.25 / math.sqrt(2 / 3))
