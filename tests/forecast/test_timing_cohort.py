"""The deals created lately are forecast at the level they show against older deals at the same
ages: a win rate that dropped for new deals lowers their forecast within weeks, while a steady
business keeps its model (`forecast.timing.cohort`)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecast import timing as tm
from forecast.data.generator import generate_pipeline
from forecast.forecasting.fitted import changed_lately, templates_as_of
from forecast.history import DealHistory
from forecast.timing.cohort import CohortLevel, kept, shrunk_ratio

T = pd.Timestamp


def test_a_gap_within_its_noise_is_dropped_and_a_large_one_mostly_kept():
    # 1/E = 0.01 (E = 100): a ratio of 1.05 lies within one standard error (0.1) of 1.
    assert shrunk_ratio(1.05, 0.01) == 1.0
    # 1.5: the gap 0.5 keeps 1 − 0.01 / 0.25 = 96% of itself.
    assert shrunk_ratio(1.5, 0.01) == pytest.approx(1.0 + 0.5 * 0.96)
    assert shrunk_ratio(0.5, 0.01) == pytest.approx(1.0 - 0.5 * 0.96)
    assert shrunk_ratio(1.0, 0.01) == 1.0
    assert shrunk_ratio(math.inf, 0.01) == 1.0


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_the_correction_applies_to_deals_created_from_the_cohort_start_only():
    level = CohortLevel(since_day=100.0, won=0.5, lost=2.0)
    created = np.array([99.0, 100.0, 150.0, np.nan])
    h = np.array([0.2, 0.2, 0.6, 0.2])
    q = np.array([0.5, 0.5, 0.5, 0.5])
    h2, q2 = level.apply(created, _logit(h), _logit(q))
    # Before the cohort, and undated: as the model says.
    assert h2[[0, 3]] == pytest.approx(h[[0, 3]])
    assert q2[[0, 3]] == pytest.approx(q[[0, 3]])
    # In it: won 0.1 → 0.05, lost 0.1 → 0.2.
    assert h2[1] * q2[1] == pytest.approx(0.05)
    assert h2[1] * (1 - q2[1]) == pytest.approx(0.2)
    # A hazard the ratios would take past 1 (0.15 + 0.6) stays below it, its share as theirs.
    assert h2[2] <= 1.0
    assert q2[2] == pytest.approx(0.15 / 0.75)


def test_the_cohort_takes_its_own_level_in_place_of_the_recent_one_as_far_as_it_is_sure():
    """The model's recent level (a logit shift of every deal) is taken out of the cohort's deals
    by the share of its gap the cohort's own level kept (`weight`); older deals keep it, and a
    cohort that says nothing beyond its noise leaves its deals as the model has them."""
    created = np.array([50.0, 120.0])
    close, won = np.array([-2.0, -2.0]), np.array([0.0, 0.0])
    sure = CohortLevel(since_day=100.0, lost=1.5, weight=1.0, close_shift=0.4, won_shift=-0.7)
    h, q = sure.apply(created, close, won)
    assert h[0] == pytest.approx(1 / (1 + np.exp(2.0)))
    assert q[0] == pytest.approx(0.5)
    h_model = 1 / (1 + np.exp(2.4))
    q_model = 1 / (1 + np.exp(-0.7))
    assert h[1] * q[1] == pytest.approx(h_model * q_model)
    assert h[1] * (1 - q[1]) == pytest.approx(1.5 * h_model * (1 - q_model))
    half = CohortLevel(since_day=100.0, lost=1.5, weight=0.5, close_shift=0.4, won_shift=-0.7)
    h, q = half.apply(created, close, won)
    assert h[1] * q[1] == pytest.approx(1 / (1 + np.exp(2.2)) / (1 + np.exp(-0.35)))
    silent = CohortLevel(since_day=100.0, weight=0.0, close_shift=0.4, won_shift=-0.7)
    h, q = silent.apply(created, close, won)
    assert h == pytest.approx(np.full(2, 1 / (1 + np.exp(2.0))))
    assert q == pytest.approx(np.full(2, 0.5))


def test_the_share_kept_grows_with_the_gap_against_its_noise():
    assert kept(1.05, 0.01) == 0.0
    assert kept(1.5, 0.01) == pytest.approx(0.96)
    assert kept(0.5, 0.01) == pytest.approx(0.96)
    assert kept(1.0, 0.01) == 0.0


def _history(seed: int, win_rate_change: tuple[object, float] | None = None) -> DealHistory:
    gen = generate_pipeline(
        3_000, seed=seed, start="2023-01-01", end="2024-06-30", win_rate_change=win_rate_change
    )
    return DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)


def _fit(history: DealHistory, t: pd.Timestamp) -> tuple[tm.TimeToClose, pd.DataFrame]:
    rows = tm.survival_rows(history.known_before(t), t, every_days=28, half_life_days=182.0)
    model = tm.TimeToClose(random_state=1, recent_days=91.0, n_estimators=60)
    model.fit(rows, len(history.stages.open_stages))
    templates, _ = templates_as_of(history.known_before(t), t, 91)
    assert templates is not None
    return model, templates


def _p_won(model: tm.TimeToClose, templates: pd.DataFrame) -> float:
    return float(model.cumulative(templates, [364])["won"][:, 0].mean())


def test_a_new_cohort_that_wins_half_as_often_is_forecast_lower_within_weeks():
    """Deals created from 2023-10-01 are won half as often. Two months on, few of them have had
    time to be won, but they are lost more often at the same ages than older deals were: the
    cohort's forecast (and that of deals not yet created) comes down toward what they win."""
    history = _history(seed=5, win_rate_change=("2023-10-01", 0.5))
    t = T("2023-12-04")
    model, templates = _fit(history, t)
    level = model.cohort_
    assert level.lost > 1.1
    assert level.deals > 100
    # Clear of its noise: a run rate of recent wins (older deals') reads the old level, and
    # the run rate is not shown before a track record.
    why = changed_lately(model)
    assert why is not None and f"the {level.deals} deals created in the last" in why
    assert "two or more standard errors from no change" in why
    corrected = _p_won(model, templates)
    model.cohort_ = CohortLevel(math.inf)
    uncorrected = _p_won(model, templates)
    assert corrected < 0.9 * uncorrected
    # The older deals of the pipeline are not touched.
    older = templates.assign(as_of=templates["as_of"] - pd.Timedelta(days=200))
    model.cohort_ = level
    before = _p_won(model, older)
    model.cohort_ = replace(level, won=1.0, lost=1.0)
    assert _p_won(model, older) == pytest.approx(before)


def test_a_steady_business_keeps_its_model():
    history = _history(seed=6)
    model, templates = _fit(history, T("2024-03-04"))
    level = model.cohort_
    assert abs(level.won - 1) < 0.1
    assert abs(level.lost - 1) < 0.1
    assert changed_lately(model) is None  # the run rate may be shown
    corrected = _p_won(model, templates)
    model.cohort_ = CohortLevel(math.inf)
    assert corrected == pytest.approx(_p_won(model, templates), rel=0.1)


def test_no_recent_window_no_correction():
    history = _history(seed=5, win_rate_change=("2023-10-01", 0.5))
    t = T("2023-12-04")
    rows = tm.survival_rows(history.known_before(t), t, every_days=28, half_life_days=182.0)
    model = tm.TimeToClose(random_state=1, recent_days=0.0, n_estimators=20)
    model.fit(rows, len(history.stages.open_stages))
    assert not model.cohort_.moved
