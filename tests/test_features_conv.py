"""Conv mask features: kernel density, dense filters and the spatial pattern of kept positions.

Hand-built masks, values worked out by hand in the comments; one tiny MNIST-1D CNN sweep
reduced into a real store checks that the reducer carries the features.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_reduce import reduce, train

from pipeline.features.graph import LayerView
from pipeline.features.kernel_positions import kernel_positions, kernel_regions, normalized_entropy
from pipeline.features.structural import conv_kernels
from pipeline.store import features_frame, read_masks

approx = pytest.approx
NEW_CONV_FEATURES = (
    "conv_kept_kernel_density_mean",
    "conv_filters_dense_fraction",
    "conv_centre_keep_rel_density",
    "conv_border_keep_rel_centre",
    "conv_position_entropy_normalized",
)


def view(mask, kind="conv") -> LayerView:
    mask = np.asarray(mask, bool)
    w = np.ones(mask.shape, np.float32)
    return LayerView("c", kind, mask, w, w * mask, ("input",), (8, 8))


def features(mask) -> dict[str, float]:
    layer = view(mask)
    return conv_kernels(layer) | kernel_positions(layer)


# 2 filters x 2 input channels of 3x3: filter 0 fully kept, kernel (1, 0) only its centre,
# kernel (1, 1) empty. 19 of 36 weights kept.
FULL, CENTRE, EMPTY = np.ones((3, 3)), np.zeros((3, 3)), np.zeros((3, 3))
CENTRE[1, 1] = 1
MASK_2D = np.array([[FULL, FULL], [CENTRE, EMPTY]])


def test_kernel_density_and_dense_filters_of_a_2d_mask():
    out = features(MASK_2D)
    assert out["conv_kernels_nonzero_fraction"] == 0.75  # 3 of 4 kernels
    # kept kernels hold 9/9, 9/9 and 1/9 of their entries
    assert out["conv_kept_kernel_density_mean"] == approx((1 + 1 + 1 / 9) / 3)
    assert out["conv_kernels_nonzero_fraction"] * out["conv_kept_kernel_density_mean"] == approx(
        19 / 36
    )
    assert out["conv_filters_dense_fraction"] == 0.5
    assert out["conv_filters_alive_fraction"] == 1.0
    assert out["conv_in_channels_alive_fraction"] == 1.0


def test_position_pattern_of_a_2d_mask():
    out = features(MASK_2D)
    # keep rates over the 4 kernels: centre 3/4, each of the 8 border positions 2/4;
    # density 19/36
    assert out["conv_centre_keep_rel_density"] == approx((3 / 4) / (19 / 36))
    assert out["conv_border_keep_rel_centre"] == approx((1 / 2) / (3 / 4))
    # survivors per position: 3 at the centre, 2 at the others, 19 in all:
    # (0.15789 * 1.84583 + 8 * 0.10526 * 2.25129) / ln 9 = 2.18727 / 2.19722
    h = -(3 / 19) * math.log(3 / 19) - 8 * (2 / 19) * math.log(2 / 19)
    assert out["conv_position_entropy_normalized"] == approx(h / math.log(9))
    assert out["conv_position_entropy_normalized"] == approx(0.99547, abs=1e-5)


def test_position_pattern_of_a_1d_kernel_of_5_skips_the_inner_ring():
    # 1 filter, 2 channels: keep rates per position 1/2, 1, 1, 1/2, 0; density 3/5
    out = features([[[1, 1, 1, 0, 0], [0, 1, 1, 1, 0]]])
    assert out["conv_centre_keep_rel_density"] == approx(1 / (3 / 5))
    # border = positions 0 and 4: (1/2 + 0) / 2, over the centre's 1
    assert out["conv_border_keep_rel_centre"] == approx(1 / 4)
    # survivors per position 1 2 2 1 0, 6 in all
    h = -2 * (1 / 6) * math.log(1 / 6) - 2 * (2 / 6) * math.log(2 / 6)
    assert out["conv_position_entropy_normalized"] == approx(h / math.log(5))
    assert out["conv_kept_kernel_density_mean"] == approx(3 / 5)
    assert out["conv_filters_dense_fraction"] == 0.0


def test_kernel_regions_by_shape():
    centre, border = kernel_regions((3, 3))
    assert centre.sum() == 1 and centre[1, 1]
    assert border.sum() == 8 and not border[1, 1]
    centre, border = kernel_regions((5, 5))
    assert (centre.sum(), border.sum()) == (1, 16)
    assert not border[1:4, 1:4].any()
    centre, border = kernel_regions((4,))
    assert centre.tolist() == [False, True, True, False]
    assert border.tolist() == [True, False, False, True]
    centre, border = kernel_regions((2, 2))
    assert centre.all() and not border.any()
    centre, border = kernel_regions((3, 1))
    assert centre[:, 0].tolist() == [False, True, False]
    assert border[:, 0].tolist() == [True, False, True]


def test_a_dense_layer_keeps_every_position_alike():
    out = features(np.ones((3, 2, 3, 3)))
    assert out["conv_centre_keep_rel_density"] == 1.0
    assert out["conv_border_keep_rel_centre"] == 1.0
    assert out["conv_position_entropy_normalized"] == approx(1.0)
    assert out["conv_kept_kernel_density_mean"] == 1.0
    assert out["conv_filters_dense_fraction"] == 1.0


def test_undefined_cases_are_nan():
    empty = features(np.zeros((2, 2, 3)))
    for name in NEW_CONV_FEATURES:
        if name != "conv_filters_dense_fraction":
            assert math.isnan(empty[name]), name
    assert empty["conv_filters_dense_fraction"] == 0.0
    # 1x1 kernels: no border, one position
    pointwise = features([[[[1]], [[0]]]])
    assert pointwise["conv_centre_keep_rel_density"] == 1.0
    assert math.isnan(pointwise["conv_border_keep_rel_centre"])
    assert math.isnan(pointwise["conv_position_entropy_normalized"])
    # centre pruned, border kept
    hollow = features([[[1, 0, 1]]])
    assert hollow["conv_centre_keep_rel_density"] == 0.0
    assert math.isnan(hollow["conv_border_keep_rel_centre"])
    assert hollow["conv_position_entropy_normalized"] == approx(math.log(2) / math.log(3))


def test_normalized_entropy():
    assert normalized_entropy(np.array([2, 2, 2, 2])) == approx(1.0)
    assert normalized_entropy(np.array([0, 5, 0])) == 0.0
    assert normalized_entropy(np.array([1, 3])) == approx(
        -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(2)
    )
    assert math.isnan(normalized_entropy(np.array([4])))
    assert math.isnan(normalized_entropy(np.zeros(3)))


def test_linear_layers_get_no_conv_rows():
    layer = view([[1, 0], [1, 1]], kind="linear")
    assert kernel_positions(layer) == {}
    assert conv_kernels(layer) == {}


@pytest.fixture(scope="module")
def cnn_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A one-level MNIST-1D CNN sweep (1 epoch a level), reduced by one rank."""
    out = tmp_path_factory.mktemp("cnn_sweep")
    train(out, "model=mnist1d_cnn", "seed=0", "prune.levels=1", "train.duration=1ep")
    store = out / "store.h5"
    reduce(out / "runs", store, ranks=1)
    return out, store


def test_reduced_cnn_store_holds_the_conv_features(cnn_store: tuple[Path, Path]) -> None:
    _, store = cnn_store
    frame = features_frame(store).set_index(["run_id", "level", "layer"])
    (run,) = frame.index.get_level_values("run_id").unique()
    convs = [f"conv{i}.weight" for i in (1, 2, 3)]
    # level 0 is dense: every position kept alike, every kernel and filter full
    for layer in convs:
        row = frame.loc[(run, 0, layer)]
        assert row["conv_centre_keep_rel_density"] == approx(1.0)
        assert row["conv_border_keep_rel_centre"] == approx(1.0)
        assert row["conv_position_entropy_normalized"] == approx(1.0)
        assert row["conv_kept_kernel_density_mean"] == 1.0
        assert row["conv_filters_dense_fraction"] == 1.0
    # level 1 (half pruned): the stored rows equal the features of the stored masks
    masks = read_masks(store, run, 1)
    for layer in convs:
        expected = features(masks[layer])
        row = frame.loc[(run, 1, layer)]
        for name in NEW_CONV_FEATURES:
            assert row[name] == approx(expected[name], nan_ok=True), (layer, name)
        # the middle position is the centre for kernels of 5 (conv1) and 3
        rates = masks[layer].mean(axis=(0, 1))
        assert row["conv_centre_keep_rel_density"] == approx(
            rates[len(rates) // 2] / masks[layer].mean()
        )
    assert np.isnan(frame.loc[(run, 1, "fc.weight"), list(NEW_CONV_FEATURES)].astype(float)).all()
