"""Mask agreement between two runs or levels, by hand."""

import math

import numpy as np
import pytest

from pipeline.features import compute_pair_features
from pipeline.features.stability import chance_iou, mask_hamming, mask_iou

approx = pytest.approx


def test_iou_chance_and_hamming_per_layer_and_pooled():
    masks_a = {"a": np.array([1, 1, 0, 0], bool), "b": np.array([1, 1, 1, 1], bool)}
    masks_b = {"a": np.array([1, 0, 1, 0], bool), "b": np.array([1, 1, 0, 0], bool)}
    rows = {(layer, name): value for layer, name, value in compute_pair_features(masks_a, masks_b)}
    # a: intersection 1, union 3; 2 positions differ; chance .25 / (.5 + .5 - .25)
    assert rows["a", "mask_iou"] == approx(1 / 3)
    assert rows["a", "mask_hamming"] == 0.5
    assert rows["a", "mask_iou_chance"] == approx(1 / 3)
    # b: intersection 2, union 4; densities 1 and .5: chance .5 / (1 + .5 - .5)
    assert rows["b", "mask_iou"] == 0.5
    assert rows["b", "mask_hamming"] == 0.5
    assert rows["b", "mask_iou_chance"] == approx(0.5)
    # pooled: intersection 3, union 7, 4 of 8 differ; densities .75 and .5
    assert rows["*", "mask_iou"] == approx(3 / 7)
    assert rows["*", "mask_hamming"] == 0.5
    assert rows["*", "mask_iou_chance"] == approx(0.375 / 0.875)
    assert len(rows) == 9


def test_chance_iou_for_equal_densities_is_d_over_2_minus_d():
    assert chance_iou(0.2, 0.2) == approx(0.2 / 1.8)
    assert math.isnan(chance_iou(0.0, 0.0))


def test_identical_and_empty_masks():
    a = np.array([[1, 0], [0, 1]], bool)
    assert mask_iou(a, a) == 1.0
    assert mask_hamming(a, ~a) == 1.0
    assert math.isnan(mask_iou(np.zeros(3, bool), np.zeros(3, bool)))


def test_pair_features_reject_mismatched_masks():
    with pytest.raises(ValueError, match="different layers"):
        compute_pair_features({"a": np.ones(2, bool)}, {"b": np.ones(2, bool)})
    with pytest.raises(ValueError, match="shapes"):
        compute_pair_features({"a": np.ones(2, bool)}, {"a": np.ones(3, bool)})
