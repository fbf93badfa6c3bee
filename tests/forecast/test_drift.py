"""Forecast drift widens the range by how far forecasts missed: out of sample where earlier
forecasts have ended (`drift_from_probes`), and never falling back to deal-by-deal chance alone
just because history is short."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecast.data.generator import generate_pipeline
from forecast.forecasting.drift import (
    MIN_SPAN_DAYS,
    MIN_WINDOWS,
    Probe,
    cached_drift,
    drift_from_probes,
    measure_drift,
    probe_spans,
    without_outsized,
)
from forecast.forecasting.fitted import fit_forecast_models
from forecast.forecasting.revenue import forecast_revenue
from forecast.history import DealHistory
from forecast.settings import Settings

T = pd.Timestamp
SETTINGS = Settings(timing_min_closed_deals=10)


def _probes(level: int, span: float, misses: list[float], first: str = "2024-01-01"):
    """Probes made weekly from `first`, each missing by the factor exp(miss)."""
    start = T(first)
    return [
        Probe(start + pd.Timedelta(weeks=i), level, span, 100.0, 100.0 * math.exp(m))
        for i, m in enumerate(misses)
    ]


def test_spans_halve_from_the_forecasts_down_to_two_weeks():
    assert probe_spans(91.0) == [91.0, 45.5, 22.75]
    assert probe_spans(30.0) == [30.0, 15.0]
    assert probe_spans(10.0) == [10.0]  # shorter than the floor: its own span only
    assert all(s >= MIN_SPAN_DAYS for s in probe_spans(365.0))


def test_the_drift_is_the_rms_log_miss_of_probes_ended_by_the_as_of_date_two_weeks_apart():
    probes = _probes(0, 28.0, [0.1, -0.1, 0.2, -0.2, 0.3, 99.0])
    # As of 2024-03-01: probes from Jan 1 .. Feb 5 (weekly) ended by Mar 1 if made by Feb 2;
    # the last (Feb 5, miss 99) ends Mar 4: not yet known.
    drift = drift_from_probes(probes, T("2024-03-01"), 28.0)
    assert drift is not None
    # Newest first, at least 14 days apart: Jan 29 (0.3), Jan 15 (0.2), Jan 1 (0.1).
    assert sorted(drift.ratios) == pytest.approx([0.1, 0.2, 0.3])
    assert drift.sigma == pytest.approx(math.sqrt((0.01 + 0.04 + 0.09) / 3))
    assert "out of sample" in drift.note and drift.span_days == 28.0


def test_too_few_ended_probes_fall_back_to_shorter_ones_which_err_wide():
    full = _probes(0, 91.0, [0.0] * 10)  # none ended by early March
    half = _probes(1, 45.5, [0.5] * 10)
    drift = drift_from_probes(full + half, T("2024-03-20"), 91.0)
    assert drift is not None and drift.span_days == 45.5
    assert drift.sigma == pytest.approx(0.5) and "errs wide" in drift.note
    assert drift_from_probes(full + half, T("2024-01-15"), 91.0) is None  # nothing ended yet


def test_a_young_history_still_widens_the_range_on_shorter_windows():
    gen = generate_pipeline(1500, seed=3, start="2023-01-01", end="2023-12-31")
    history = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    # Five months in: too little history for three quarter-long windows.
    models = fit_forecast_models(history, T("2023-06-01"), settings=SETTINGS)
    drift = measure_drift(history, models, 91.0, settings=SETTINGS)
    assert drift.windows >= MIN_WINDOWS and drift.sigma > 0
    assert drift.span_days < 91.0 and "errs wide" in drift.note


# --- one deal far bigger than the rest --------------------------------------------------------


def test_a_huge_deal_in_a_window_leaves_its_miss_to_the_other_deals():
    """1,000 deals of 1,000 at 50% and one of 1e8 at 5%: whether the big one is won or not,
    the window's miss is read on the others (it is deal-by-deal chance the range holds apart)."""
    amount = np.r_[np.full(1000, 1000.0), 1e8]
    chance = np.r_[np.full(1000, 0.5), 0.05]
    won = np.r_[np.full(550, 1000.0), 1e8]  # 10% more of the small ones won, and the big one
    expected, actual = without_outsized(amount, chance, np.zeros(0), np.zeros(0), won)
    assert expected == pytest.approx(500_000.0) and actual == pytest.approx(550_000.0)
    # a huge deal created and won inside the window, never foreseen, is taken out as well
    _, actual = without_outsized(amount[:-1], chance[:-1], np.zeros(0), np.zeros(0), won)
    assert actual == pytest.approx(550_000.0)
    # a recent huge creation's stream leaves the forecast too
    expected, _ = without_outsized(amount[:-1], chance[:-1], np.array([1e8]), np.array([0.2]), won)
    assert expected == pytest.approx(500_000.0)
    # ordinary deals are all kept: the miss is the plain one
    small = np.linspace(100.0, 50_000.0, 1000)
    expected, actual = without_outsized(small, np.full(1000, 0.3), np.zeros(0), np.zeros(0), small)
    assert expected == pytest.approx(0.3 * small.sum()) and actual == pytest.approx(small.sum())


def test_out_of_sample_probes_read_a_huge_deal_won_as_the_others_miss():
    deals = pd.DataFrame(
        {"amount": np.r_[np.full(1000, 1000.0), 1e8], "p_won_in_period": np.r_[[0.5] * 1000, 0.05]}
    )
    streams = pd.DataFrame({"value": [1000.0], "rate": [10.0]})
    probes = [
        Probe.of(T("2024-01-01") + pd.Timedelta(weeks=2 * i), 0, 28.0, deals, streams, won)
        for i, won in enumerate(
            [
                pd.Series([1000.0] * 510),
                pd.Series([1000.0] * 510 + [1e8]),
                pd.Series([1000.0] * 510),
            ]
        )
    ]
    drift = drift_from_probes(probes, T("2024-03-01"), 28.0)
    assert drift is not None and drift.windows == 3
    # every window forecast 510k and won 510k of the other deals: no drift, big deal or not
    assert drift.ratios == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)


def test_one_huge_deal_won_in_a_past_window_leaves_later_forecasts_ranges_as_they_were():
    """A 1e8 deal (the others: tens to 160k) won in a past window. The forecast of the next
    quarter does not hold it (closed months before, created before the new-deal window), so its
    range must stay that of the same data without it: within 10%, the room left for the models
    fitted on a history that does hold it (before, P10 fell 62% and P90 rose ninefold)."""
    gen = generate_pipeline(1500, seed=7, start="2023-01-01", end="2023-12-31")
    opps = gen.opportunities
    as_of, span = T("2023-10-01"), 91
    past = opps[
        (opps["status"] == "won")
        & (opps["created_at"] < as_of - pd.Timedelta(days=span + 30))
        & (opps["closed_at"] >= as_of - pd.Timedelta(days=span + 60))
        & (opps["closed_at"] < as_of - pd.Timedelta(days=span))
    ]
    huge = opps.copy()
    huge.loc[huge["id"] == past["id"].iloc[0], "amount"] = 1e8
    plain_history = DealHistory.from_frames(opps, gen.history, gen.stages)
    plain_models = fit_forecast_models(plain_history, as_of, settings=SETTINGS)
    plain = forecast_revenue(
        plain_history, "2023-Q4", as_of=as_of, models=plain_models, settings=SETTINGS
    )
    history = DealHistory.from_frames(huge, gen.history, gen.stages)
    models = fit_forecast_models(history, as_of, settings=SETTINGS)
    fc = forecast_revenue(history, "2023-Q4", as_of=as_of, models=models, settings=SETTINGS)
    for q in ("p10", "p50", "p90"):
        assert getattr(fc.total, q) == pytest.approx(getattr(plain.total, q), rel=0.10), q
    # The drift the range was widened by (the quarter's, cached by the forecast): 5 points of
    # log sd move P10 and P90 by about 5%, inside the range's room (it measured 184%).
    quarter = (fc.period.end - as_of) / pd.Timedelta(days=1)
    drift = cached_drift(history, models, quarter, SETTINGS)
    plain_drift = cached_drift(plain_history, plain_models, quarter, SETTINGS)
    assert drift.windows == plain_drift.windows >= MIN_WINDOWS
    assert drift.sigma == pytest.approx(plain_drift.sigma, abs=0.05)
