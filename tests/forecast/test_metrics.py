"""Metrics: what each number means, with weights that let each deal count once."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.errors import InvalidInput
from forecast.modeling import metrics as m


def test_a_perfect_ranking_has_auc_one_and_a_reversed_one_zero() -> None:
    y = [0, 0, 1, 1]
    assert m.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert m.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert np.isnan(m.roc_auc([1, 1], [0.2, 0.3]))


def test_brier_and_log_loss_match_hand_computation() -> None:
    y, p = [1, 0], [0.8, 0.4]
    assert m.brier(y, p) == pytest.approx(((0.2**2) + (0.4**2)) / 2)
    assert m.log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_a_weight_of_two_equals_the_row_twice() -> None:
    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.3, 0.4, 0.6])
    w = np.array([2.0, 1.0, 1.0, 1.0])
    twice_y, twice_p = np.r_[y, 1], np.r_[p, 0.9]
    for name in ("roc_auc", "brier", "log_loss", "ece", "pr_auc"):
        assert getattr(m, name)(y, p, w) == pytest.approx(getattr(m, name)(twice_y, twice_p))


def test_ece_is_zero_when_each_bin_matches_its_rate() -> None:
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert m.ece(y, p) == pytest.approx(0.0)
    assert m.ece([1, 1], [0.05, 0.05]) == pytest.approx(0.95)


def test_top_decile_lift_and_capture() -> None:
    # 100 rows, 20 positives; the top 10 by score hold 8 of them.
    y = np.zeros(100)
    y[:8] = 1
    y[50:62] = 1
    p = np.linspace(1, 0, 100)
    assert m.top_decile_capture(y, p) == pytest.approx(8 / 20)
    assert m.top_decile_lift(y, p) == pytest.approx((8 / 10) / 0.2)


def test_evaluate_returns_every_metric_as_plain_floats() -> None:
    out = m.evaluate([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9])
    assert list(out) == list(m.METRICS)
    assert all(type(v) is float for v in out.values())


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(InvalidInput, match="differ in length"):
        m.brier([0, 1], [0.5])
    with pytest.raises(InvalidInput, match="no rows"):
        m.brier([], [])
    with pytest.raises(InvalidInput, match="NaN"):
        m.brier([0, 1], [0.5, np.nan])
