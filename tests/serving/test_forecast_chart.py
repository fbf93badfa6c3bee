"""The dashboard's forecast chart and tiles lead, period by period, with the forecast users get:
the method most accurate at that period's horizon on the track record, with its range, and ours
beside it where another method leads; ours alone where ours was chosen or nothing was."""

from __future__ import annotations

from typing import Any

import pytest

from serving.dashboard import page
from serving.dashboard.figures import forecast_figure


def _row(period: str, lead: dict[str, Any] | None, target: float | None = None) -> dict[str, Any]:
    """A chart row as `page._forecast_section` makes it: ours 1.9M (1.4M–2.4M, 7% to reach the
    target), the naive forecasts, and the headline's fields where the record chose."""
    row: dict[str, Any] = {
        "period": period,
        "actual_won": None,
        "expected": 1_900_000.0,
        "p10": 1_400_000.0,
        "p90": 2_400_000.0,
        "p_target": 0.07 if target is not None else None,
        "target": target,
        "weighted_pipeline": 3_100_000.0,
        "naive_run_rate": 2_750_000.0,
        "naive_last_period": 2_800_000.0,
        "naive_last_year": None,
        "model_past_wape": 0.14,
    }
    row.update(page._headline(lead, None))
    row.update(page._shown(row))
    return row


def _lead(method: str, label: str, wape: float | None, model_wape: float | None) -> dict:
    return {
        "method": method,
        "label": label,
        "forecast": 2_800_000.0,
        "p10": 2_500_000.0,
        "p50": 2_800_000.0,
        "p90": 3_000_000.0,
        "groups": {},
        "choice": {
            "wape": wape,
            "model_wape": model_wape,
            "n": 20,
            "horizon_weeks_used": 13,
            "reason": "…",
        },
    }


def test_a_period_where_a_naive_method_was_chosen_is_drawn_as_that_method_with_ours_beside():
    rows = [
        _row("2018-Q1", None, target=2_500_000.0),  # no record here: ours
        _row("2018-Q2", _lead("last_period", "last period's won revenue", 0.347, 0.524)),
    ]
    lines = {t["name"]: t for t in forecast_figure(page.Section({"rows": rows}))["data"]}
    shown, ours = lines["Expected"], lines["Our model"]
    assert shown["x"] == ["2018-Q1", "2018-Q2"]
    assert shown["y"] == [1_900_000.0, 2_800_000.0]
    assert lines["P10"]["y"] == [1_400_000.0, 2_500_000.0]
    assert lines["P10–P90"]["y"] == [2_400_000.0, 3_000_000.0]
    assert shown["text"][1] == "last period's won revenue, past WAPE 34.7% 13 weeks ahead"
    assert shown["text"][0].startswith("our forecast, past WAPE 14.0%")
    assert ours["y"] == [1_900_000.0, 1_900_000.0]
    assert ours["text"][1] == "our forecast, past WAPE 52.4% 13 weeks ahead"
    # The naive forecasts keep their dotted lines.
    assert lines["run rate of recent won revenue"]["line"]["dash"] == "dot"


def test_where_ours_was_chosen_or_nothing_was_the_chart_is_ours_alone():
    rows = [
        _row("2018-Q1", None),
        _row("2018-Q2", _lead("model", "our forecast", 0.2, 0.2)),
    ]
    lines = {t["name"]: t for t in forecast_figure(page.Section({"rows": rows}))["data"]}
    assert "Our model" not in lines
    assert lines["Expected"]["y"] == [1_900_000.0, 1_900_000.0]
    assert lines["P10–P90"]["y"] == [2_400_000.0, 2_400_000.0]
    assert not rows[1]["headline_leads"] and rows[1]["shown_p_target"] is None


def test_the_tiles_lead_with_the_chosen_forecast_and_its_chance_to_reach_the_target():
    lead = _lead("run_rate", "run rate of recent won revenue", 0.04, 0.14)
    row = _row("2018-Q1", {**lead, "target": 2_800_000.0, "p_target": 0.5}, target=2_800_000.0)
    assert row["headline_leads"] and row["shown"] == 2_800_000.0
    assert (row["shown_p10"], row["shown_p90"]) == (2_500_000.0, 3_000_000.0)
    assert row["shown_p_target"] == 0.5 and row["p_target"] == 0.07  # ours beside it
    # A forecast stored before the headline carried P(target): read off the same range.
    stored = _row("2018-Q1", lead, target=2_500_000.0)
    assert stored["shown_p_target"] == pytest.approx(0.9)
