"""The track record: a backtest's forecasts kept per dataset, and the forecast users get chosen
from it (the most accurate method at the horizon, with the range its past errors give)."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine

from forecast.data.generator import generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.forecasting import naive, track_record
from forecast.forecasting.service import forecast_against_targets
from forecast.history import load_deal_history
from forecast.periods import parse_period
from forecast.settings import Settings
from tests.forecast import synthetic

SETTINGS = Settings(timing_min_closed_deals=10)


@pytest.fixture
def crm(engine: Engine) -> Engine:
    pipeline = generate_pipeline(700, seed=5)  # 2023–2024
    frame = pipeline.opportunities.drop(columns=["status"])
    import_frame(engine, frame, load_mapping("canonical"), dataset="crm")
    return engine


def record(errors: dict[str, float]) -> pd.DataFrame:
    return synthetic.track_record(errors, "2023-01-02")


def test_a_saved_record_reads_back_and_a_new_one_replaces_it(crm):
    table = record({"model": 0.2, "last_period": 0.05})
    assert track_record.save(crm, "crm", "quarter", table) == len(table)
    back = track_record.load(crm, "crm", "quarter")
    pd.testing.assert_frame_equal(
        back.sort_values(["origin", "method"]).reset_index(drop=True),
        table.sort_values(["origin", "method"]).reset_index(drop=True),
        check_dtype=False,
    )
    track_record.save(crm, "crm", "quarter", table.iloc[:2])
    assert len(track_record.load(crm, "crm", "quarter")) == 2
    assert track_record.load(crm, "crm", "month").empty


def test_without_a_record_ours_leads_and_the_note_says_how_to_make_one(crm):
    fc = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS)
    assert fc.headline is None
    assert any("forecast backtest --data crm" in n for n in fc.forecast.notes)


def test_the_most_accurate_method_leads_with_its_forecast_now_and_its_past_range(crm):
    track_record.save(crm, "crm", "quarter", record({"model": 0.3, "last_period": 0.05}))
    fc = forecast_against_targets(crm, "2024-Q3", by="team", settings=SETTINGS)
    lead = fc.headline
    assert lead is not None and lead["method"] == "last_period" and lead["range"] == "empirical"
    assert lead["choice"]["n"] == 12 and lead["choice"]["wape"] < lead["choice"]["model_wape"]
    t = pd.Timestamp("2024-07-01")
    history = load_deal_history(crm, "crm")
    won = naive.won_before(history.known_before(t), "team")
    expected = naive.last_period(won, t, parse_period("2024-Q3"))
    assert lead["forecast"] == pytest.approx(expected.sum())
    assert lead["p10"] < lead["forecast"] < lead["p90"]
    for team, line in lead["groups"].items():
        assert line["forecast"] == pytest.approx(expected.get(team, 0.0))
    assert fc.to_dict()["headline"] == lead


def test_a_forecast_inside_its_period_keeps_ours(crm):
    track_record.save(crm, "crm", "quarter", record({"model": 0.3, "last_period": 0.05}))
    fc = forecast_against_targets(crm, "2024-Q3", as_of="2024-08-15", settings=SETTINGS)
    assert fc.headline is None
    assert any("inside its period" in n for n in fc.forecast.notes)
