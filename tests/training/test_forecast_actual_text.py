"""A forecast beside what its period won: the percent off is said only once the period is over
(a month's forecast against its first week's wins read as 600% too high)."""

from __future__ import annotations

from training.forecast_tables import actual_text


def _data(complete: bool) -> dict:
    return {
        "period": {"label": "2026-12"},
        "as_of": "2026-12-01",
        "total": {"expected": 700_000.0},
        "headline": None,
        "actual": {"total": 100_000.0, "complete": complete, "through": "2026-12-07"},
    }


def test_a_period_under_way_shows_its_wins_so_far_without_a_percent_off():
    said = actual_text(_data(complete=False))
    assert said is not None and "so far: the data ends there" in said
    assert "ours forecast 700,000 for the whole period as of 2026-12-01" in said
    assert "above" not in said and "%" not in said


def test_a_period_over_says_how_far_the_forecast_was_off():
    said = actual_text(_data(complete=True))
    assert said is not None and "600% above it" in said
