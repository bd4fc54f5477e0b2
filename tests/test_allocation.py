"""Capped proportional allocation of a weight budget, by hand."""

import pytest

from pipeline.allocation import capped_proportional, capped_proportional_counts, largest_remainder


def test_densities_are_proportional_when_nothing_is_capped():
    # eps = 12 / (1 * 10 + 2 * 10) = 0.4
    assert capped_proportional({"a": 1.0, "b": 2.0}, {"a": 10, "b": 10}, 12) == {
        "a": pytest.approx(0.4),
        "b": pytest.approx(0.8),
    }


def test_capping_a_layer_can_push_the_next_one_over():
    # eps = 32 / (40 + 20 + 20) = 0.4 puts a at 1.6: dense (10 kept). Then eps = 22 / 40 =
    # 0.55 puts b at 1.1: dense too. Then c keeps the other 12 of 20: eps = 0.6.
    densities = capped_proportional({"a": 4.0, "b": 2.0, "c": 1.0}, {"a": 10, "b": 10, "c": 20}, 32)
    assert densities == {"a": 1.0, "b": 1.0, "c": pytest.approx(0.6)}


def test_a_layer_with_zero_weight_keeps_nothing_and_the_budget_must_fit_the_rest():
    sizes = {"a": 5, "b": 10}
    assert capped_proportional({"a": 0.0, "b": 1.0}, sizes, 4) == {"a": 0.0, "b": 0.4}
    assert capped_proportional({"a": 0.0, "b": 1.0}, sizes, 10) == {"a": 0.0, "b": 1.0}
    with pytest.raises(ValueError, match="cannot keep 11 of 10"):
        capped_proportional({"a": 0.0, "b": 1.0}, sizes, 11)
    with pytest.raises(ValueError, match=">= 0"):
        capped_proportional({"a": -1.0, "b": 1.0}, sizes, 4)


def test_the_whole_budget_makes_every_layer_dense():
    assert capped_proportional({"a": 3.0, "b": 1.0}, {"a": 2, "b": 7}, 9) == {"a": 1.0, "b": 1.0}


def test_largest_remainder_breaks_ties_in_the_given_order():
    # floors 1, 1, 3 leave one: b has the largest remainder (0.7)
    assert largest_remainder({"a": 1.2, "b": 1.7, "c": 3.1}, 6) == {"a": 1, "b": 2, "c": 3}
    # floors 2, 2, 1 leave one: a and b tie at 0.5, a comes first
    assert largest_remainder({"a": 2.5, "b": 2.5, "c": 1.0}, 6) == {"a": 3, "b": 2, "c": 1}


def test_counts_add_up_to_the_budget_with_capping():
    # eps = 5 / 7: shares 2.14, 2.14, 0.71 -> 2, 2, 0, and c takes the last one
    sizes = {"a": 3, "b": 3, "c": 1}
    assert capped_proportional_counts({"a": 1.0, "b": 1.0, "c": 1.0}, sizes, 5) == {
        "a": 2,
        "b": 2,
        "c": 1,
    }
    # as above with a capped: 10 + 10 + 12 = 32
    counts = capped_proportional_counts(
        {"a": 4.0, "b": 2.0, "c": 1.0}, {"a": 10, "b": 10, "c": 20}, 32
    )
    assert counts == {"a": 10, "b": 10, "c": 12}
