"""Forecast history: the forecast as it stood each day is kept; tracking a date twice keeps one
set of lines; a back-fill gives the forecasts the backtest made on the same dates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data import store
from forecast.data.generator import generate_pipeline, write_export
from forecast.data.importing import import_export
from forecast.errors import InvalidInput
from forecast.forecasting import forecast_runs
from forecast.forecasting.backtest import backtest
from forecast.forecasting.targets import import_targets
from forecast.history import DealHistory, load_deal_history
from forecast.settings import Settings


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    write_export(generate_pipeline(1500, seed=7, start="2023-01-01", end="2023-12-31"), folder)
    return folder


@pytest.fixture
def engine(tmp_path, export):
    engine = store.get_engine(Settings(state_dir=tmp_path / "state"))
    import_export(engine, export, "canonical", dataset="crm")
    return engine


@pytest.fixture
def history(engine) -> DealHistory:
    return load_deal_history(engine, "crm")


def test_a_run_keeps_this_and_next_period_at_every_level_once_per_date(engine, history):
    first = forecast_runs.track(engine, history, "crm", "2023-07-10")
    again = forecast_runs.track(engine, history, "crm", "2023-07-10")
    assert first == again > 0
    with engine.connect() as conn:
        stored = pd.read_sql(store.forecast_runs.select(), conn)
    assert len(stored) == first  # the second run replaced the first
    assert set(stored["period"]) == {"2023-Q3", "2023-Q4"}
    assert set(stored["level"]) == {"total", "team", "rep"}
    for (_, level), lines in stored.groupby(["period", "level"]):
        assert (lines["p10"] <= lines["expected"]).all() and (
            lines["expected"] <= lines["p90"]
        ).all()
        if level != "total":  # the groups add up to the total
            total = stored[
                (stored["period"] == lines["period"].iloc[0]) & (stored["level"] == "total")
            ]
            assert lines["expected"].sum() == pytest.approx(total["expected"].iloc[0], rel=1e-6)


def test_the_history_of_a_period_reads_oldest_first_per_group(engine, history):
    dates = [
        t
        for t, _ in forecast_runs.backfill(engine, history, "crm", "2023-07-03", until="2023-07-20")
    ]
    assert [str(t.date()) for t in dates] == ["2023-07-03", "2023-07-10", "2023-07-17"]
    total = forecast_runs.history_of(engine, "crm", "2023-Q3")
    assert list(total["as_of"]) == dates
    assert total["won_so_far"].is_monotonic_increasing  # won to date only grows in a quarter
    team = forecast_runs.history_of(engine, "crm", "2023-Q3", level="team", group=_a_team(engine))
    assert len(team) == 3
    assert forecast_runs.latest_as_of(engine, "crm") == pd.Timestamp("2023-07-17")


def test_the_history_of_a_period_shows_the_total_target_and_a_teams(engine, history, tmp_path):
    forecast_runs.track(engine, history, "crm", "2023-07-10")
    team = _a_team(engine)
    file = tmp_path / "targets.csv"  # as `forecast targets import` reads it
    file.write_text(
        f"level,name,period,amount\nall,total,2023-Q3,3000000\nteam,{team},2023-Q3,800000\n"
    )
    import_targets(engine, file, dataset="crm")
    total = forecast_runs.period_history(engine, "crm", "2023-Q3")
    assert total["target"] == 3_000_000.0 and total["points"]
    by_team = forecast_runs.period_history(engine, "crm", "2023-Q3", level="team", group=team)
    assert by_team["target"] == 800_000.0
    assert forecast_runs.period_history(engine, "crm", "2023-Q4")["target"] is None


def _a_team(engine) -> str:
    with engine.connect() as conn:
        stored = pd.read_sql(store.forecast_runs.select(), conn)
    return str(stored.loc[stored["level"] == "team", "group_name"].iloc[0])


def test_a_backfilled_forecast_equals_the_backtests_on_the_same_date(engine, history):
    report = backtest(history, freq="quarter", start="2023-Q3", end="2023-Q4", every="period")
    for p in report.scored:
        list(forecast_runs.backfill(engine, history, "crm", p.origin, until=p.origin, every="day"))
        stored = forecast_runs.history_of(engine, "crm", p.period.label)
        line = stored[stored["as_of"] == p.origin]
        assert line["expected"].iloc[0] == pytest.approx(p.forecasts["model"], rel=1e-9)


def test_a_backfill_is_bounded_and_bad_levels_are_refused(engine, history):
    with pytest.raises(InvalidInput, match="since: .* more than"):
        forecast_runs.backfill_dates(history, "2000-01-01", every="day")
    with pytest.raises(InvalidInput, match="every: must be day or week"):
        forecast_runs.backfill_dates(history, "2023-07-01", every="hour")
    with pytest.raises(InvalidInput, match="level: must be one of"):
        forecast_runs.history_of(engine, "crm", "2023-Q3", level="region")


def test_the_reps_call_is_kept_where_it_was_known_and_never_from_hindsight(engine, history):
    forecast_runs.track(engine, history, "crm")  # the data's now: every deal's call was seen
    forecast_runs.track(engine, history, "crm", "2023-07-10")  # before the export saw any call
    with engine.connect() as conn:
        stored = pd.read_sql(store.forecast_runs.select(), conn)
    total = stored[(stored["level"] == "total") & (stored["period"] == "2024-Q1")]
    now = total[total["as_of"] == pd.Timestamp("2024-01-01")].iloc[0]
    deals = history.deals
    expected = deals["expected_close_at"]
    counted = (deals["status"] == "open") & (
        expected.isna() | ((expected >= "2024-01-01") & (expected < "2024-04-01"))
    )
    amount = deals["amount"].fillna(deals["list_price"]).fillna(0)
    call = (amount * deals["rep_probability"].fillna(0))[counted].sum()
    commit = amount[counted & (deals["forecast_category"] == "Commit")].sum()
    assert now["rep_call"] == pytest.approx(now["won_so_far"] + call, rel=1e-9)
    assert now["rep_commit"] == pytest.approx(now["won_so_far"] + commit, rel=1e-9)
    teams = stored[(stored["level"] == "team") & (stored["as_of"] == pd.Timestamp("2024-01-01"))]
    in_q1 = teams[teams["period"] == "2024-Q1"]
    assert in_q1["rep_call"].sum() == pytest.approx(now["rep_call"], rel=1e-9)
    before = stored[stored["as_of"] == pd.Timestamp("2023-07-10")]
    assert before["rep_call"].isna().all() and before["rep_commit"].isna().all()
    points = forecast_runs.period_history(engine, "crm", "2024-Q1")["points"]
    assert points[-1]["rep_call"] == pytest.approx(now["rep_call"], abs=0.01)
