"""The track record: a backtest's forecasts kept per dataset, and the forecast users get chosen
from it (the most accurate method at the horizon, with the range its past errors give)."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine

from forecast.data.generator import generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.forecasting import choice, naive, track_record
from forecast.forecasting.service import forecast_against_targets
from forecast.forecasting.targets import set_targets
from forecast.history import load_deal_history
from forecast.periods import parse_period
from forecast.settings import Settings
from tests.forecast import synthetic

SETTINGS = Settings(timing_min_closed_deals=10)


def imported(engine: Engine, pipeline) -> Engine:
    """`pipeline`'s deals as the dataset `crm`."""
    frame = pipeline.opportunities.drop(columns=["status"])
    import_frame(engine, frame, load_mapping("canonical"), dataset="crm")
    return engine


@pytest.fixture
def crm(engine: Engine) -> Engine:
    return imported(engine, generate_pipeline(700, seed=5))  # 2023–2024


def young_record(engine: Engine, first: str) -> None:
    """A record whose windows (from `first`) had not ended by the forecasts' dates: too few
    past forecasts to choose by, so the run rate (or a hedge, or ours alone) is what users get."""
    track_record.save(
        engine,
        "crm",
        "quarter",
        synthetic.track_record({"model": 0.3, "run_rate": 0.05}, first),
    )


def record(errors: dict[str, float]) -> pd.DataFrame:
    return synthetic.track_record(errors, "2023-01-02")


def test_a_saved_record_reads_back_and_a_new_one_replaces_it(crm):
    table = record({"model": 0.2, "last_period": 0.05})
    assert track_record.saved_at(crm, "crm", "quarter") is None
    assert track_record.save(crm, "crm", "quarter", table) == len(table)
    assert track_record.saved_at(crm, "crm", "quarter") is not None
    back = track_record.load(crm, "crm", "quarter")
    pd.testing.assert_frame_equal(
        back.sort_values(["origin", "method"]).reset_index(drop=True),
        table.sort_values(["origin", "method"]).reset_index(drop=True),
        check_dtype=False,
    )
    track_record.save(crm, "crm", "quarter", table.iloc[:2])
    assert len(track_record.load(crm, "crm", "quarter")) == 2
    assert track_record.load(crm, "crm", "month").empty
    track_record.save(crm, "crm", "quarter", table.iloc[:0])
    assert track_record.saved_at(crm, "crm", "quarter") is None


def test_without_a_record_the_run_rate_leads_and_the_note_says_how_to_make_one(crm):
    """As before the record can choose: no past windows never make ours more trusted."""
    fc = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS)
    lead = fc.headline
    assert lead is not None and lead["method"] == choice.NAIVE_FIRST
    t = pd.Timestamp("2024-07-01")
    won = naive.won_before(load_deal_history(crm, "crm").known_before(t), None)
    expected = naive.run_rate(won, t, parse_period("2024-Q3"), SETTINGS.new_deal_window_days)
    assert expected is not None
    assert lead["forecast"] == pytest.approx(expected.sum())
    # Ours' range in proportion, ours beside it.
    ours = fc.forecast.total
    assert lead["range"] == "model" and lead["choice"]["wape"] is None
    assert lead["p90"] / lead["p10"] == pytest.approx(ours.p90 / ours.p10)
    note = next(n for n in fc.forecast.notes if "no track record yet" in n)
    assert "forecast backtest --data crm --freq quarter" in note
    assert "the run rate of recent won revenue is shown (ours beside it)" in note


@pytest.mark.parametrize("ours_went_that_way", [True, False])
def test_a_recent_change_keeps_the_run_rate_off_only_where_ours_took_it_up(
    crm, monkeypatch: pytest.MonkeyPatch, ours_went_that_way: bool
):
    from forecast.forecasting import fitted

    plain = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS)
    ours, run_rate = plain.forecast.total.expected, plain.naive["total"]["run_rate"]
    # The business went the way ours lies from the run rate, or the other way.
    toward_ours = 1 if ours > run_rate else -1
    way = toward_ours if ours_went_that_way else -toward_ours
    change = fitted.RecentChange("the deals created lately were lost ×1.50 as often", way)
    monkeypatch.setattr(fitted, "recent_change", lambda model, settings=None: change)
    lead = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS).headline
    assert lead is not None
    if ours_went_that_way:  # ours took the change up: the run rate reads the old level
        assert lead["method"] == "model+weighted_pipeline"
        assert "not the run rate: the deals created lately" in lead["choice"]["reason"]
    else:  # ours lies on the other side: the run rate is nearer where the business went
        assert lead["method"] == choice.NAIVE_FIRST
        assert "not the run rate" not in lead["choice"]["reason"]


def test_inside_its_period_without_a_record_ours_stands(crm):
    fc = forecast_against_targets(crm, "2024-Q3", as_of="2024-08-01", settings=SETTINGS)
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
    # Each team's range carries its own chance beside the method's past error: a team's share
    # of the deals is less certain than the total, so its range is wider than the total's, in
    # proportion to its forecast, on both sides.
    spread = (lead["p10"] / lead["p50"], lead["p90"] / lead["p50"])
    for line in lead["groups"].values():
        if line["forecast"] > 0:
            assert line["p10"] / line["p50"] < spread[0] and line["p90"] / line["p50"] > spread[1]


def test_before_a_record_the_run_rate_is_shown_only_once_it_reads_a_full_pipeline(
    crm,
):
    # A record of windows none of which had ended by either forecast's date: too few to choose.
    young_record(crm, "2024-06-03")
    # The data starts in January 2023: in April the run rate's last 91 days still miss wins of
    # deals the record never saw created, so the weighted pipeline hedges ours (a quarter that
    # starts on the forecast's date), and the note says why.
    early = forecast_against_targets(crm, "2023-Q2", settings=SETTINGS)
    assert early.headline is not None and early.headline["method"] == "model+weighted_pipeline"
    pipeline = early.forecast.total.weighted_pipeline
    assert early.headline["forecast"] == pytest.approx(
        (early.forecast.total.expected + pipeline) / 2, rel=1e-4
    )
    assert "not the run rate: " in early.headline["choice"]["reason"]
    assert early.headline["choice"]["reason"].startswith(
        "no past forecast 0 weeks ahead had ended by 2023-04-01 (9 are needed to choose)"
    )
    # The next quarter, weeks ahead, is not today's pipeline's to forecast: ours stands alone.
    ahead = forecast_against_targets(crm, "2023-Q3", as_of="2023-04-01", settings=SETTINGS)
    assert ahead.headline is not None and ahead.headline["method"] == "model"
    assert ahead.headline["choice"]["reason"].startswith("kept our forecast: ")
    first = load_deal_history(crm, "crm").deals["created_at"].min()
    assert (
        f"the record starts with deals created on {first.date()}"
        in early.headline["choice"]["reason"]
    )
    # A year and a half in, it reads a settled pipeline: with no record yet showing ours beats
    # it, the run rate is what users get (ours beside it), its P(target) read off its range.
    later = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS)
    assert later.headline is not None and later.headline["method"] == "run_rate"
    assert "until ours has beaten the naive forecasts" in later.headline["choice"]["reason"]
    run_rate = later.naive["total"]["run_rate"]  # type: ignore[index]
    assert later.headline["forecast"] == pytest.approx(run_rate, rel=1e-4)
    assert later.headline["range"] == "model"
    ours = later.forecast.total
    assert later.headline["p90"] / later.headline["p50"] == pytest.approx(ours.p90 / ours.p50)


def test_a_forecast_inside_its_period_keeps_ours(crm):
    track_record.save(crm, "crm", "quarter", record({"model": 0.3, "last_period": 0.05}))
    fc = forecast_against_targets(crm, "2024-Q3", as_of="2024-08-15", settings=SETTINGS)
    assert fc.headline is None
    assert any("inside its period" in n for n in fc.forecast.notes)


# --- past accuracy ----------------------------------------------------------------------------


def rows(*specs: tuple) -> pd.DataFrame:
    """Record rows from (method, horizon, window end, actual, forecast, p10, p90)."""
    nan = float("nan")
    return pd.DataFrame(
        [
            {
                "origin": pd.Timestamp(end) - pd.DateOffset(months=3) - pd.Timedelta(weeks=h),
                "horizon_weeks": float(h),
                "window": end,
                "start": pd.Timestamp(end) - pd.DateOffset(months=3),
                "end": pd.Timestamp(end),
                "sealed": False,
                "method": method,
                "actual": actual,
                "forecast": forecast,
                "p10": nan if p10 is None else p10,
                "p50": nan,
                "p90": nan if p90 is None else p90,
            }
            for method, h, end, actual, forecast, p10, p90 in specs
        ]
    )


def test_past_accuracy_reads_the_windows_ended_by_the_date_at_the_horizon():
    table = rows(
        ("model", 4, "2024-03-01", 100.0, 110.0, 90.0, 120.0),  # 10% off, inside
        ("model", 4, "2024-04-01", 200.0, 150.0, 210.0, 260.0),  # 25% off, outside
        ("model", 4, "2024-05-01", 100.0, 130.0, 80.0, 140.0),  # 30% off, inside
        ("model", 4, "2024-07-01", 100.0, 900.0, 80.0, 140.0),  # ended after the date
        ("model", 0, "2024-03-01", 100.0, 500.0, 80.0, 140.0),  # another horizon
        ("run_rate", 4, "2024-03-01", 100.0, 100.0, None, None),  # another method
    )
    past = track_record.past_accuracy(table, "model", "2024-06-01", 4)
    assert past is not None
    assert (past["n"], past["horizon_weeks"], past["horizon_weeks_used"]) == (3, 4, 4)
    assert past["median_ape"] == pytest.approx(0.25)
    assert past["wape"] == pytest.approx(90 / 400)
    assert past["bias"] == pytest.approx(-10 / 400)
    cov = past["coverage"]
    assert (cov["hits"], cov["n"]) == (2, 3)
    # 2 of 3 is anything from 21% to 94% (Wilson, 95%)
    assert cov["wilson_95"] == pytest.approx([0.2077, 0.9385], abs=1e-4)
    assert past["windows_ended_by"] == "2024-06-01" and past["label"] == "our forecast"


def test_past_accuracy_falls_back_to_the_nearest_horizon_and_says_which():
    table = rows(
        ("model", 0, "2024-01-01", 100.0, 120.0, None, None),
        ("model", 8, "2024-02-01", 100.0, 90.0, None, None),
        ("model", 8, "2024-03-01", 100.0, 70.0, None, None),
    )
    eight = track_record.past_accuracy(table, "model", "2024-06-01", 5)
    assert eight is not None and (eight["horizon_weeks"], eight["horizon_weeks_used"]) == (5, 8)
    assert eight["n"] == 2 and eight["median_ape"] == pytest.approx(0.2)
    tie = track_record.past_accuracy(table, "model", "2024-06-01", 4)  # 0 and 8 both 4 away
    assert tie is not None and tie["horizon_weeks_used"] == 0 and tie["n"] == 1
    assert tie["bias"] == pytest.approx(0.2)
    # As the choice reads the record: the nearest horizon with enough past forecasts, or none.
    enough = track_record.past_accuracy(table, "model", "2024-06-01", 0, min_past=2)
    assert enough is not None and (enough["horizon_weeks_used"], enough["n"]) == (8, 2)
    assert track_record.past_accuracy(table, "model", "2024-06-01", 0, min_past=3) is None


def test_past_accuracy_without_rows_or_ranges():
    table = rows(
        ("model", 0, "2024-03-01", 0.0, 50.0, None, None),  # nothing won: no relative error
        ("model", 0, "2024-04-01", 100.0, 150.0, None, None),
        ("run_rate", 0, "2024-09-01", 100.0, 150.0, None, None),
    )
    past = track_record.past_accuracy(table, "model", "2024-06-01", 0)
    assert past is not None and past["n"] == 2
    assert past["median_ape"] == pytest.approx(0.5)  # the window where something was won
    assert past["wape"] == pytest.approx(1.0) and past["coverage"] is None
    assert track_record.past_accuracy(table, "run_rate", "2024-06-01", 0) is None  # not ended
    assert track_record.past_accuracy(table, "last_period", "2024-06-01", 0) is None
    nothing_won = track_record.past_accuracy(table, "model", "2024-03-15", 0)
    assert nothing_won is not None and nothing_won["median_ape"] is None
    assert nothing_won["wape"] is None and nothing_won["bias"] is None


def with_chosen(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """`table` plus the rows of what users were shown: `method`'s forecast, with a range that
    held the actual in the even windows only."""
    shown = table[table["method"] == method].copy().reset_index(drop=True)
    shown["method"] = "chosen"
    held = shown.index % 2 == 0
    shown["p10"] = shown["actual"].where(held, shown["actual"] * 1.1) * 0.95
    shown["p90"] = shown["actual"].where(held, shown["actual"] * 1.1) * 1.05
    return pd.concat([table, shown], ignore_index=True)


def test_the_headline_says_how_far_what_users_see_and_ours_were_off(crm):
    table = with_chosen(record({"model": 0.3, "last_period": 0.05}), "last_period")
    track_record.save(crm, "crm", "quarter", table)
    fc = forecast_against_targets(crm, "2024-Q3", by="team", settings=SETTINGS)
    assert fc.headline is not None and fc.headline["past"] == fc.past_accuracy
    shown, ours = fc.past_accuracy["shown"], fc.past_accuracy["model"]  # type: ignore[index]
    assert shown["method"] == "chosen" and shown["n"] == 12
    assert shown["median_ape"] == pytest.approx(0.05)
    assert (shown["coverage"]["hits"], shown["coverage"]["n"]) == (6, 12)
    assert ours["method"] == "model" and ours["median_ape"] == pytest.approx(0.3)
    assert ours["coverage"] is None  # the made-up record gave ours no range
    # The method shown now (last period), on its own past forecasts.
    method = fc.past_accuracy["method"]  # type: ignore[index]
    assert method["method"] == "last_period" and method["n"] == 12
    assert method["median_ape"] == pytest.approx(0.05)


def test_the_forecast_carries_the_naive_forecasts_it_chose_among(crm):
    fc = forecast_against_targets(crm, "2024-Q3", by="team", settings=SETTINGS)
    t = pd.Timestamp("2024-07-01")
    won = naive.won_before(load_deal_history(crm, "crm").known_before(t), "team")
    last = naive.last_period(won, t, parse_period("2024-Q3"))
    assert fc.naive is not None and fc.past_accuracy is None  # no record: naive values still
    assert fc.naive["total"]["last_period"] == pytest.approx(last.sum(), abs=0.01)
    wp = fc.forecast.total.weighted_pipeline
    assert fc.naive["total"]["weighted_pipeline"] == pytest.approx(wp, abs=0.01)
    assert fc.naive["labels"]["last_year"] == "same period last year"
    for team, values in fc.naive["groups"].items():
        assert values["last_period"] == pytest.approx(last.get(team, 0.0), abs=0.01)
    team = next(iter(fc.naive["groups"]))
    one = forecast_against_targets(crm, "2024-Q3", by="team", group=team, settings=SETTINGS)
    assert one.naive is not None and list(one.naive["groups"]) == [team]
    assert one.naive["total"] == fc.naive["groups"][team]


def test_inside_its_period_ours_stands_with_its_past_error_at_the_start(crm):
    track_record.save(crm, "crm", "quarter", record({"model": 0.3, "last_period": 0.05}))
    fc = forecast_against_targets(crm, "2024-Q3", as_of="2024-08-15", settings=SETTINGS)
    assert fc.headline is None and fc.past_accuracy is not None
    assert fc.past_accuracy["shown"]["method"] == "model"
    assert fc.past_accuracy["shown"]["horizon_weeks_used"] == 0


def test_ours_recalibrated_on_its_past_errors_competes_where_the_record_allows(crm):
    # Ours always 50% over, the run rate 20% off either way: recalibrated (halved), ours is exact.
    table = record({"model": 0.0, "run_rate": 0.2})
    ours = table["method"] == "model"
    table.loc[ours, "forecast"] = table.loc[ours, "actual"] * 1.5
    recal = table[ours].assign(method="model_recalibrated")
    recal["forecast"] = recal["actual"]
    track_record.save(crm, "crm", "quarter", pd.concat([table, recal], ignore_index=True))
    fc = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS)
    lead = fc.headline
    assert lead is not None and lead["method"] == "model_recalibrated"
    assert lead["label"] == "our forecast recalibrated on its past errors"
    assert lead["forecast"] == pytest.approx(fc.forecast.total.expected / 1.5)


def test_the_headline_gives_the_chance_its_own_range_reaches_the_target(crm):
    """Where the last period's revenue leads, P(target) is read off its range (a target at its
    P50 is a coin toss, at its P90 one in ten), per team too; ours keeps its own beside it."""
    table = record({"model": 0.3, "last_period": 0.05})
    last = table["method"] == "last_period"  # off by -6% to +5%: a range with a middle
    table.loc[last, "forecast"] = table.loc[last, "actual"] * [
        1 + 0.01 * (i - 6) for i in range(12)
    ]
    track_record.save(crm, "crm", "quarter", table)
    before = forecast_against_targets(crm, "2024-Q3", by="team", settings=SETTINGS)
    lead = before.headline
    assert lead is not None and lead["method"] == "last_period" and "p_target" not in lead
    team, line = max(lead["groups"].items(), key=lambda kv: kv[1]["forecast"])
    assert line["p10"] < line["p50"] < line["p90"]
    set_targets(
        crm,
        [
            {"level": "all", "name": "total", "period": "2024-Q3", "amount": lead["p50"]},
            {"level": "team", "name": team, "period": "2024-Q3", "amount": line["p90"]},
        ],
    )
    fc = forecast_against_targets(crm, "2024-Q3", by="team", settings=SETTINGS)
    lead = fc.headline
    assert lead is not None and lead["target"] == pytest.approx(before.headline["p50"])  # type: ignore[index]
    assert lead["p_target"] == pytest.approx(0.5, abs=1e-3)
    assert lead["groups"][team]["p_target"] == pytest.approx(0.1, abs=1e-3)
    ours = fc.forecast.total
    assert ours.p_target is not None and lead["p_target"] != pytest.approx(ours.p_target)


def test_where_ours_is_chosen_the_headline_p_target_is_ours(crm):
    track_record.save(crm, "crm", "quarter", record({"model": 0.02, "last_period": 0.4}))
    set_targets(crm, [{"level": "all", "name": "total", "period": "2024-Q3", "amount": 1e6}])
    fc = forecast_against_targets(crm, "2024-Q3", settings=SETTINGS)
    lead = fc.headline
    assert lead is not None and lead["method"] == "model"
    assert fc.forecast.total.p_target is not None
    assert lead["p_target"] == pytest.approx(fc.forecast.total.p_target, abs=1e-4)


def test_before_a_record_a_run_rate_the_business_has_left_is_not_shown(engine):
    """The deals created from April 2024 are won a third as often. By July the cohort's losses
    stand clear of the older deals' at the same ages: the run rate, whose wins are mostly older
    deals', reads the old level, so the weighted pipeline (today's open deals) hedges ours for
    the quarter starting then, and the reason says why (`fitted.changed_lately`)."""
    imported(engine, generate_pipeline(3000, seed=5, win_rate_change=("2024-04-01", 0.3)))
    young_record(engine, "2024-09-02")
    shown = forecast_against_targets(engine, "2024-Q3", settings=SETTINGS)
    assert shown.headline is not None
    assert shown.headline["method"] == "model+weighted_pipeline"
    total = shown.forecast.total
    assert shown.headline["forecast"] == pytest.approx(
        (total.expected + total.weighted_pipeline) / 2, rel=1e-4
    )
    reason = shown.headline["choice"]["reason"]
    assert "not the run rate: the" in reason
    assert "deals created in the last 91 days were " in reason
    assert " as often as older deals at the same ages" in reason
    assert "two or more standard errors from no change" in reason


def test_past_accuracy_is_read_at_the_horizon_the_choice_read(crm):
    """Twelve past forecasts at 0 weeks and four at 8: a forecast 13 weeks ahead is chosen on
    the 0-week record (the nearest with the nine needed), and its past accuracy is that same
    record's, not four forecasts 8 weeks ahead."""
    zero = record({"model": 0.3, "last_period": 0.05})
    eight = synthetic.track_record({"model": 0.1, "last_period": 0.1}, "2023-01-02", windows=4)
    eight["horizon_weeks"] = 8
    track_record.save(crm, "crm", "quarter", pd.concat([zero, eight], ignore_index=True))
    fc = forecast_against_targets(crm, "2024-Q3", as_of="2024-04-01", settings=SETTINGS)
    assert fc.headline is not None
    assert fc.headline["choice"]["horizon_weeks_used"] == 0
    ours = fc.past_accuracy["model"]  # type: ignore[index]
    assert (ours["horizon_weeks"], ours["horizon_weeks_used"], ours["n"]) == (13, 0, 12)
    # With only the four 8-week forecasts, nothing is said of how far off a method was.
    track_record.save(crm, "crm", "quarter", eight)
    few = forecast_against_targets(crm, "2024-Q3", as_of="2024-04-01", settings=SETTINGS)
    assert few.past_accuracy is None or few.past_accuracy["model"] is None
