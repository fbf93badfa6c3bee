"""Stored forecasts: a tracked run keeps each period's whole forecast, served exactly as a
computed one reads while the data, targets and track record are unchanged, and never after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from forecast.data import store
from forecast.data.generator import generate_pipeline, write_export
from forecast.data.importing import import_export
from forecast.forecasting import forecast_runs, stored_forecasts
from forecast.forecasting.forecast_waterfall import forecast_waterfall
from forecast.forecasting.service import forecast_against_targets
from forecast.forecasting.stored_forecasts import find as stored_forecast
from forecast.forecasting.targets import set_targets
from forecast.history import load_deal_history
from forecast.periods import parse_period
from forecast.settings import Settings

# The data ends on 2023-12-31, so its "now" is 2024-01-01: 2023-Q4 is over and 2024-Q1, the
# current period (`periods.current_period`), and 2024-Q2 are ahead (forecast as of now).
OVER, AHEAD, NEXT = "2023-Q4", "2024-Q1", "2024-Q2"


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    write_export(generate_pipeline(1200, seed=11, start="2023-01-01", end="2023-12-31"), folder)
    return folder


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, export):
    engine = store.get_engine(Settings(state_dir=tmp_path_factory.mktemp("state")))
    import_export(engine, export, "canonical", dataset="crm")
    history = load_deal_history(engine, "crm")
    forecast_runs.track(engine, history, "crm")
    return engine, history


class _Models(dict):
    """Fitted models kept across the tests (the key says what they learnt from)."""

    def get(self, key, build):  # noqa: ANN001, ANN201
        if key not in self:
            self[key] = build()
        return self[key]


MODELS = _Models()


def _as_stored(result) -> dict:
    """A computed forecast as JSON carries it (dates as text)."""
    return json.loads(json.dumps(result.to_dict(), default=str))


def _without_stamp(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "stored"}


@pytest.mark.parametrize("period", [AHEAD, NEXT])
@pytest.mark.parametrize("by", [None, "team", "rep"])
def test_a_tracked_forecast_reads_as_the_computed_one(tracked, period, by):
    engine, history = tracked
    stored = stored_forecast(engine, period, dataset="crm", by=by)
    assert stored is not None
    computed = forecast_against_targets(
        engine, period, dataset="crm", by=by, history=history, models_cache=MODELS
    )
    assert _without_stamp(stored) == _as_stored(computed)
    assert stored["stored"]["as_of"] == computed.forecast.to_dict()["as_of"]


def test_one_groups_forecast_is_read_from_the_grouped_one(tracked):
    engine, history = tracked
    team = stored_forecast(engine, AHEAD, dataset="crm", by="team")["groups"][0]["group"]
    stored = stored_forecast(engine, AHEAD, dataset="crm", by="team", group=team)
    computed = forecast_against_targets(
        engine, AHEAD, dataset="crm", by="team", group=team, history=history, models_cache=MODELS
    )
    assert stored is not None and _without_stamp(stored) == _as_stored(computed)


@pytest.mark.parametrize(
    "request_",
    [
        {"as_of": "2023-12-01"},  # another date than the run's
        {"include_new_deals": False},
        {"by": "product"},  # a grouping the run does not keep
        {"by": "team", "group": "No Such Team"},
        {"period": OVER},  # ended before the data's now: not tracked
    ],
)
def test_requests_the_run_did_not_answer_are_computed(tracked, request_):
    engine, _ = tracked
    asked = {"period": AHEAD, **request_}
    assert stored_forecast(engine, asked.pop("period"), dataset="crm", **asked) is None


def _one_deal_changed(export: Path, folder: Path) -> Path:
    """The next export: the same, but for one deal given to another owner at the export's
    last update time."""
    shutil.copytree(export, folder)
    deals = pd.read_csv(folder / "opportunities.csv")
    first = deals["updated_at"].idxmin()
    deals.loc[first, ["owner", "updated_at"]] = ["Someone Else", deals["updated_at"].max()]
    deals.to_csv(folder / "opportunities.csv", index=False)
    return folder


def test_a_new_target_track_record_or_import_is_computed_afresh(tmp_path, export):
    engine = store.get_engine(Settings(state_dir=tmp_path / "state"))
    import_export(engine, export, "canonical", dataset="crm")
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    assert stored_forecast(engine, AHEAD, dataset="crm") is not None

    set_targets(engine, [{"level": "all", "name": "total", "period": AHEAD, "amount": 1e6}])
    assert stored_forecast(engine, AHEAD, dataset="crm") is None  # P(target) is not in it
    # Why the forecast moved reads no target: the dashboard keeps showing it.
    assert stored_forecasts.waterfall(engine, "crm", parse_period(AHEAD)) is not None
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    stored = stored_forecast(engine, AHEAD, dataset="crm")
    assert stored is not None and stored["targets"][0]["amount"] == 1e6

    with store.transaction(engine) as conn:  # a backtest saves a new track record
        conn.execute(
            store.track_record.insert().values(
                dataset="crm",
                freq="quarter",
                run_at=store.utcnow(),
                origin=store.utcnow(),
                horizon_weeks=0.0,
                window_label="2023-Q3",
                window_start=store.utcnow(),
                window_end=store.utcnow(),
                sealed=False,
                method="model",
                actual=1.0,
                forecast=1.0,
            )
        )
    assert stored_forecast(engine, AHEAD, dataset="crm") is None

    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    assert stored_forecast(engine, AHEAD, dataset="crm") is not None
    import_export(engine, export, "canonical", dataset="crm")  # the same export: no change
    assert stored_forecast(engine, AHEAD, dataset="crm") is not None
    changed = _one_deal_changed(export, tmp_path / "next")
    import_export(engine, changed, "canonical", dataset="crm")  # the data changes version
    assert stored_forecast(engine, AHEAD, dataset="crm") is None
    with engine.connect() as conn:  # the older version's documents are gone at the next run
        assert conn.execute(store.forecast_documents.select()).first() is not None
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    with engine.connect() as conn:
        versions = {r.data_version for r in conn.execute(store.forecast_documents.select())}
    assert len(versions) == 1


def test_only_settings_that_change_the_figures_set_a_stored_forecast_aside(tracked):
    engine, _ = tracked
    serving_only = Settings(port=9000, workers=2, key_cache_seconds=1)
    assert stored_forecast(engine, AHEAD, dataset="crm", settings=serving_only) is not None
    other_pace = Settings(new_deal_window_days=30)
    assert stored_forecast(engine, AHEAD, dataset="crm", settings=other_pace) is None
    other_timing = Settings(timing_half_life_days=90)
    assert stored_forecast(engine, AHEAD, dataset="crm", settings=other_timing) is None


def test_a_run_keeps_why_the_forecast_moved_over_the_week_before(tracked):
    engine, history = tracked
    moved = stored_forecasts.waterfall(engine, "crm", parse_period(AHEAD))
    assert moved is not None and (moved["from"], moved["to"]) == ("2023-12-25", "2024-01-01")
    computed = forecast_waterfall(history, AHEAD, "2023-12-25", "2024-01-01").to_dict()
    assert moved["bars"] == pytest.approx(computed["bars"])
    assert sum(moved["bars"].values()) == pytest.approx(
        moved["expected_to"] - moved["expected_from"], abs=0.05
    )
    assert stored_forecasts.waterfall(engine, "crm", parse_period(OVER)) is None


def test_a_target_set_while_a_run_computes_is_not_taken_as_in_its_forecasts(
    tmp_path, export, monkeypatch
):
    """`forecast targets import` while the server's tracking run computes (tens of seconds on a
    large CRM): the forecasts it then saves were computed without the target, so they are not
    served as if they had it (before: served without it until the next day's run)."""
    engine = store.get_engine(Settings(state_dir=tmp_path / "state"))
    import_export(engine, export, "canonical", dataset="crm")
    compute = forecast_runs.forecast_against_targets
    calls = []

    def target_set_meanwhile(engine, period, **kwargs):  # noqa: ANN001, ANN003, ANN202
        result = compute(engine, period, **kwargs)
        if period == AHEAD and not calls:  # just after the total's forecast read the targets
            set_targets(engine, [{"level": "all", "name": "total", "period": AHEAD, "amount": 1e6}])
            calls.append(period)
        return result

    monkeypatch.setattr(forecast_runs, "forecast_against_targets", target_set_meanwhile)
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    monkeypatch.undo()
    stored = stored_forecast(engine, AHEAD, dataset="crm")
    assert stored is None or stored["total"]["target"] == 1e6
    computed = forecast_against_targets(engine, AHEAD, dataset="crm")
    assert computed.forecast.total.target == 1e6
