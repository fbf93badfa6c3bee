"""Forecast drift widens the range by how far forecasts missed: out of sample where earlier
forecasts have ended (`drift_from_probes`), and never falling back to deal-by-deal chance alone
just because history is short."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from forecast.data.generator import generate_pipeline
from forecast.forecasting.drift import (
    MIN_SPAN_DAYS,
    MIN_WINDOWS,
    Probe,
    drift_from_probes,
    measure_drift,
    probe_spans,
)
from forecast.forecasting.fitted import fit_forecast_models
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
