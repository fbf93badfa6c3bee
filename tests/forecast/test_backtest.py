"""Backtests: each period forecast with only what was known at its start (recorded strictly
before it), scored honestly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.data.generator import generate_pipeline
from forecast.errors import InvalidInput
from forecast.forecasting.backtest import backtest
from forecast.history import DealHistory, observations_of
from forecast.settings import Settings

T = pd.Timestamp
SETTINGS = Settings(timing_min_closed_deals=10)


@pytest.fixture(scope="module")
def gen():
    return generate_pipeline(1500, seed=11, start="2023-01-01", end="2023-12-31")


@pytest.fixture(scope="module")
def history(gen) -> DealHistory:
    return DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)


@pytest.fixture(scope="module")
def report(history):
    return backtest(history, freq="quarter", by="team", settings=SETTINGS)


def _closed_at(opps: pd.DataFrame, history: pd.DataFrame, t: pd.Timestamp):
    """The same data but for one deal won after t, with every open stage entered before t,
    whose close is moved to exactly t."""
    entries = history[~history["stage"].isin(["Won", "Lost"])]
    last_entry = entries.groupby("opportunity_id")["entered_at"].max()
    won = opps[
        (opps["status"] == "won")
        & (opps["closed_at"] > t)
        & opps["id"].isin(last_entry.index[last_entry < t])
    ]
    deal = won["id"].iloc[0]
    opps, history = opps.copy(), history.copy()
    opps.loc[opps["id"] == deal, "closed_at"] = t
    history.loc[(history["opportunity_id"] == deal) & (history["stage"] == "Won"), "entered_at"] = t
    return opps, history


def _future_changed(opps: pd.DataFrame, history: pd.DataFrame, t: pd.Timestamp):
    """The same past, another future: every outcome at or after t flipped and moved."""
    opps = opps.copy()
    late = opps["closed_at"] >= t
    opps.loc[late, "status"] = np.where(opps.loc[late, "status"] == "won", "lost", "won")
    opps.loc[late, "closed_at"] += pd.Timedelta(days=5)
    hist = history.copy()
    moved = hist["entered_at"] >= t
    hist.loc[moved, "entered_at"] += pd.Timedelta(days=5)
    hist.loc[moved & hist["stage"].isin(["Won", "Lost"]), "stage"] = hist.loc[
        moved & hist["stage"].isin(["Won", "Lost"]), "stage"
    ].map({"Won": "Lost", "Lost": "Won"})
    return opps, hist


def test_the_forecast_at_a_period_start_ignores_everything_after_it(gen):
    t0 = T("2023-07-01")
    # One deal closes at t0 itself: not known yet at t0, so it is part of the future changed.
    opps_a, hist_a = _closed_at(gen.opportunities, gen.history, t0)

    def period(opps: pd.DataFrame, hist: pd.DataFrame):
        history = DealHistory.from_frames(opps, hist, gen.stages)
        return backtest(
            history, freq="quarter", start="2023-Q3", end="2023-Q3", settings=SETTINGS
        ).periods[0]

    a = period(opps_a, hist_a)
    b = period(*_future_changed(opps_a, hist_a, t0))
    assert a.status == b.status == "ok"
    for name in a.forecasts:  # our forecast, the weighted pipeline and the baseline
        assert a.forecasts[name] == pytest.approx(b.forecasts[name], rel=1e-9)
    assert (a.p10, a.p90) == pytest.approx((b.p10, b.p90), rel=1e-9)
    assert a.actual != b.actual  # ...while what happened did change


def test_actual_is_revenue_won_inside_the_period_including_new_deals(gen, report):
    opps = gen.opportunities
    for p in report.scored:
        won = opps[
            (opps["status"] == "won")
            & (opps["closed_at"] >= p.period.start)
            & (opps["closed_at"] < p.period.end)
        ]
        assert p.actual == pytest.approx(won["amount"].sum())
        assert p.actual == pytest.approx(p.actual_pipeline + p.actual_new)
        assert p.actual_new > 0


def test_a_period_without_history_is_skipped_with_the_reason(report):
    first = report.periods[0]
    assert first.period.label == "2023-Q1" and first.status == "skipped"
    assert "closed" in first.reason


def test_overall_scores_compare_our_forecast_with_the_weighted_pipeline(report):
    overall = report.overall()
    assert overall["periods_scored"] == len(report.scored) >= 2
    for name in ("model", "weighted_pipeline", "stage_km"):
        assert overall[name]["wape"] >= 0
    actual = sum(p.actual for p in report.scored)
    errors = sum(abs(p.forecasts["model"] - p.actual) for p in report.scored)
    assert overall["model"]["wape"] == pytest.approx(errors / actual)
    assert 0 <= overall["coverage_p10_p90"] <= 1
    assert overall["groups"]["forecasts"] == sum(len(p.groups) for p in report.scored)


@pytest.fixture(scope="module")
def called(gen) -> DealHistory:
    """The generated deals with their calls observed when each deal was created (as a CRM
    pushing each deal from its creation records them): calls known before each origin."""
    opps = gen.opportunities
    seen = observations_of(opps.assign(updated_at=opps["created_at"]))
    return DealHistory.from_frames(opps, gen.history, gen.stages, field_log=seen)


def test_reps_own_calls_are_scored_beside_the_model_on_the_same_deals(called):
    report = backtest(called, freq="quarter", settings=SETTINGS)
    for p in report.scored:
        assert sum(r["actual"] for r in p.reps) == pytest.approx(p.actual_pipeline)
    scores = report.rep_scores()
    assert scores and {"rep_call_bias", "commit_bias", "best_case_bias", "model_bias"} <= set(
        scores[0]
    )
    data = report.to_dict()
    json.dumps(data)  # plain types only
    assert data["reps"] == scores
    assert not any("reps' calls not scored" in n for n in report.notes)


def test_calls_known_only_from_a_flat_export_are_not_scored_and_it_says_why(report):
    # The fixture's export holds each deal's final call, observed at the export: hindsight.
    assert all(p.reps == [] for p in report.scored)
    assert report.rep_scores() == []
    assert any("reps' calls not scored" in n for n in report.notes)


def test_bad_input_is_refused(history):
    with pytest.raises(InvalidInput, match="--freq"):
        backtest(history, freq="week")
    with pytest.raises(InvalidInput, match="group by"):
        backtest(history, by="city")


@pytest.mark.slow
def test_shared_data_quarterly_backtest_beats_the_weighted_pipeline(shared_opportunities):
    from forecast.data.importing import read_export

    export = read_export(shared_opportunities)
    assert export.options["amount_known_before_close"] is False
    history = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    rep = backtest(history, freq="quarter", start="2017-01-01", end="2017-12-31")
    overall = rep.overall()
    # Deals first closed in March 2017: a quarter is forecast once a full quarter of outcomes
    # is known (from June on), so Q1 and Q2 are skipped, saying why.
    assert [p.status for p in rep.periods] == ["skipped", "skipped", "ok", "ok"]
    assert "less than a quarter of outcomes before 2017-04-01" in rep.periods[1].reason
    assert overall["model"]["wape"] < overall["weighted_pipeline"]["wape"]
    # The export leaves the account blank on most deals still open (never on closed ones): the
    # report says the leak check left it out of the models.
    raw = pd.read_csv(shared_opportunities / "sales_pipeline.csv")
    closed = raw["deal_stage"].isin(["Won", "Lost"])
    assert raw.loc[~closed, "account"].isna().mean() > 0.5
    assert raw.loc[closed, "account"].notna().all()
    assert any(n.startswith("account:") and "left out" in n for n in rep.notes)
    assert rep.to_dict()["notes"] == rep.notes


# --- horizons, weekly origins, naive forecasts, bounds ------------------------------------------


def _summer_weeks(history, **options):
    """Monthly windows starting every Monday from June to September, forecast 0 and 4 weeks
    ahead."""
    return backtest(
        history,
        freq="month",
        every="week",
        horizons=(0, 4),
        start="2023-06-01",
        end="2023-09-30",
        settings=SETTINGS,
        **options,
    )


@pytest.fixture(scope="module")
def weekly(history):
    return _summer_weeks(history)


def test_weekly_origins_give_many_forecasts_per_horizon_with_one_fit_per_origin(weekly):
    for h in (0, 4):
        done = [p for p in weekly.scored if p.horizon_weeks == h]
        assert len(done) >= 12
        for p in done:
            assert p.origin == p.period.start - pd.Timedelta(weeks=h)
            assert p.period.start.weekday() == 0  # windows start on Mondays
            assert p.period.end == p.period.start + pd.DateOffset(months=1)
    origins = {p.origin for p in weekly.periods}
    assert weekly.origins_fitted == len(origins) < len(weekly.periods)
    scores = {s["horizon_weeks"]: s for s in weekly.horizon_scores()}
    assert set(scores) == {0, 4}
    assert scores[0]["coverage_p10_p90"]["n"] == len(
        [p for p in weekly.scored if p.horizon_weeks == 0]
    )


def test_horizon_scores_hold_every_method_coverage_with_its_interval_and_the_naive_bar(weekly):
    done = [p for p in weekly.scored if p.horizon_weeks == 4]
    [s4] = [s for s in weekly.horizon_scores() if s["horizon_weeks"] == 4]
    methods = s4["methods"]
    assert {"model", "weighted_pipeline", "stage_km", "run_rate", "last_period"} <= set(methods)
    actual = np.array([p.actual for p in done])
    ours = np.array([p.forecasts["model"] for p in done])
    assert methods["model"]["wape"] == pytest.approx(np.abs(ours - actual).sum() / actual.sum())
    assert methods["model"]["bias"] == pytest.approx((ours - actual).sum() / actual.sum())
    run = np.array([p.forecasts["run_rate"] for p in done])
    assert methods["run_rate"]["pinball_p50"] == pytest.approx(np.abs(run - actual).mean() / 2)
    p10 = np.array([p.p10 for p in done])
    below = actual - p10
    assert methods["model"]["pinball_p10"] == pytest.approx(
        np.mean(np.where(below >= 0, 0.1 * below, -0.9 * below))
    )
    cov = s4["coverage_p10_p90"]
    inside = sum(p.p10 <= p.actual <= p.p90 for p in done)
    assert (cov["n"], cov["hits"]) == (len(done), inside)
    assert cov["wilson_95"][0] <= cov["share"] <= cov["wilson_95"][1]
    wins = 0
    for p in done:
        best = min(
            abs(p.forecasts[m] - p.actual)
            for m in ("run_rate", "last_period", "last_year", "weighted_pipeline")
            if m in p.forecasts
        )
        wins += abs(p.forecasts["model"] - p.actual) < best
    assert s4["beats_best_naive"]["hits"] == wins
    # One row per origin, horizon and method: what a choice of method by past error reads.
    table = weekly.forecast_table()
    assert len(table) == sum(len(p.forecasts) for p in weekly.scored)
    assert {"origin", "horizon_weeks", "method", "actual", "forecast"} <= set(table.columns)
    json.dumps(weekly.to_dict())  # plain types only


def test_a_forecast_weeks_ahead_uses_only_what_was_known_at_its_origin(gen):
    origin = T("2023-07-03")  # a Monday; the window starts four weeks later
    opps_a, hist_a = _closed_at(gen.opportunities, gen.history, origin)

    def forecast(opps: pd.DataFrame, hist: pd.DataFrame):
        history = DealHistory.from_frames(opps, hist, gen.stages)
        rep = backtest(
            history,
            freq="month",
            every="week",
            horizons=(4,),
            start="2023-07-31",
            end="2023-08-31",
            settings=SETTINGS,
        )
        [p] = rep.periods
        return p

    a = forecast(opps_a, hist_a)
    b = forecast(*_future_changed(opps_a, hist_a, origin))
    assert a.status == b.status == "ok" and a.origin == origin
    assert {"model", "weighted_pipeline", "run_rate", "last_period"} <= set(a.forecasts)
    assert a.forecasts.keys() == b.forecasts.keys()
    for name in a.forecasts:
        assert a.forecasts[name] == pytest.approx(b.forecasts[name], rel=1e-9), name
    assert (a.p10, a.p90) == pytest.approx((b.p10, b.p90), rel=1e-9)
    assert a.actual != b.actual


def test_naive_forecasts_do_not_change_when_the_data_is_cut_at_the_origin(gen, history):
    from forecast.forecasting import naive
    from forecast.periods import parse_period

    origin = T("2023-10-01")
    opps, hist = gen.opportunities, gen.history
    # Cut at the origin: deals created later gone, later outcomes and stage entries unknown.
    cut = opps[opps["created_at"] < origin].copy()
    later = cut["closed_at"] >= origin
    cut.loc[later, ["status", "closed_at"]] = ["open", pd.NaT]
    log = hist[(hist["entered_at"] < origin) & hist["opportunity_id"].isin(cut["id"])]
    last = log.sort_values("entered_at").groupby("opportunity_id")["stage"].last()
    cut.loc[later, "stage"] = cut.loc[later, "id"].map(last).fillna("Prospecting").to_numpy()
    truncated = DealHistory.from_frames(cut, log, gen.stages, check_leaks=False)
    window = parse_period("2023-Q4")
    for column in (None, "team"):
        full = naive.won_before(history.known_before(origin), column)
        short = naive.won_before(truncated.known_before(origin), column)
        for got, want in (
            (naive.run_rate(full, origin, window, 91), naive.run_rate(short, origin, window, 91)),
            (naive.last_period(full, origin, window), naive.last_period(short, origin, window)),
        ):
            assert got is not None and want is not None
            pd.testing.assert_series_equal(got, want)
        assert naive.same_period_last_year(full, origin, window) is None  # 2022 is not covered


def _tiny_history() -> DealHistory:
    from forecast.data.stages import StageSet

    rows = [  # id, status, closed_at, amount
        ("A", "won", "2022-04-15", 100.0),  # last year's Q2
        ("B", "won", "2022-06-30", 50.0),  # last year's Q2
        ("C", "won", "2023-01-10", 200.0),  # last quarter, not in the last 60 days
        ("D", "won", "2023-03-31", 300.0),  # last quarter and the last 60 days
        ("E", "won", "2022-12-15", 400.0),  # before both
        ("F", "won", "2023-04-05", 1000.0),  # after the origin: unknown
        ("G", "lost", "2023-02-01", 999.0),  # lost
        ("H", "open", None, 700.0),  # open
        ("I", "lost", "2022-03-15", 10.0),  # the first close: where the record starts
    ]
    deals = pd.DataFrame(rows, columns=["id", "status", "closed_at", "amount"])
    deals["closed_at"] = pd.to_datetime(deals["closed_at"])
    deals["created_at"] = T("2022-03-01")
    deals["updated_at"] = T("2023-06-30")
    deals["team"] = ["East", "West", "East", "West", "East", "East", "West", "East", "West"]
    deals["stage"] = deals["status"].map({"won": "Won", "lost": "Lost", "open": "Talk"})
    closed = deals[deals["status"] != "open"]
    log = pd.DataFrame(
        {
            "opportunity_id": closed["id"],
            "stage": closed["stage"],
            "entered_at": closed["closed_at"],
        }
    )
    return DealHistory.from_frames(deals, log, StageSet(("Talk",)), check_leaks=False)


def test_naive_forecasts_on_a_tiny_hand_made_history():
    from forecast.forecasting import naive
    from forecast.periods import parse_period

    history = _tiny_history()
    origin, q2 = T("2023-04-01"), parse_period("2023-Q2")  # Q2 has 91 days
    won = naive.won_before(history.known_before(origin))
    assert naive.run_rate(won, origin, q2, 60).sum() == pytest.approx(300 * 91 / 60)
    assert naive.last_period(won, origin, q2).sum() == pytest.approx(500)
    assert naive.same_period_last_year(won, origin, q2).sum() == pytest.approx(150)
    by_team = naive.won_before(history.known_before(origin), "team")
    assert naive.last_period(by_team, origin, q2).to_dict() == {"East": 200.0, "West": 300.0}
    # Next year's Q2: its copy a year back ends after the origin, so it is not known yet.
    assert naive.same_period_last_year(won, origin, parse_period("2024-Q2")) is None
    # Too early: the quarter before the origin starts before the first close on record.
    early = T("2022-05-01")
    assert naive.last_period(naive.won_before(history.known_before(early)), early, q2) is None


def test_the_run_rate_says_while_it_reads_a_pipeline_still_filling_up():
    from forecast.forecasting import naive

    history = _tiny_history()  # every deal created on 2022-03-01, when the record starts
    origin = T("2023-04-01")
    won = naive.won_before(history.known_before(origin))
    # The wins known then took 45, 121, 289, 315 and 395 days: 90% within 363 days, so wins of
    # deals created before the record would still be closing until 2023-02-27. The run rate's
    # last 60 days start on 2023-01-31, before that: it reads a pipeline still filling up.
    said = naive.still_filling(won, origin, 60)
    assert said is not None
    for fact in ("2023-01-31", "2022-03-01", "363 days", "2023-02-27"):
        assert fact in said
    # Later, with F's 400 days known too (90% within 397.5 days: until 2023-04-02 noon), the
    # last 60 days start on 2023-04-16: every win they hold is one the record could see.
    later = T("2023-06-15")
    assert naive.still_filling(naive.won_before(history.known_before(later)), later, 60) is None
    assert naive.still_filling(naive.won_before(history.known_before(later)), later, 91) is not None


@pytest.mark.parametrize(
    ("hits", "n", "low", "high"),
    [(2, 3, 0.2077, 0.9385), (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (8, 8, 0.6756, 1.0)],
)
def test_the_wilson_interval_has_its_known_values(hits, n, low, high):
    from forecast.forecasting.accuracy import wilson_interval

    assert wilson_interval(hits, n) == pytest.approx((low, high), abs=1e-4)


def test_windows_ending_after_the_export_date_are_not_scored(history):
    rep = backtest(
        history,
        freq="month",
        every="week",
        horizons=(0,),
        start="2023-05-01",
        export_date="2023-09-15",
        settings=SETTINGS,
    )
    assert rep.periods and all(p.period.end <= T("2023-09-16") for p in rep.periods)
    # The last two complete months (July, August) are the sealed check, apart.
    assert rep.sealed_from == T("2023-07-01")
    assert all(p.sealed == (p.period.end > T("2023-07-01")) for p in rep.periods)
    [head], [sealed] = rep.horizon_scores(), rep.horizon_scores(sealed=True)
    assert head["forecasts"] == sum(not p.sealed for p in rep.scored) > 0
    assert sealed["forecasts"] == sum(p.sealed for p in rep.scored) > 0
    quarters = backtest(
        history, freq="quarter", end="2023-Q4", export_date="2023-10-15", settings=SETTINGS
    )
    status = {p.period.label: p.status for p in quarters.periods}
    assert status["2023-Q3"] == "ok" and status["2023-Q4"] == "skipped"
    assert "export date" in quarters.periods[-1].reason


def test_close_dates_on_open_deals_do_not_extend_the_backtest(gen):
    opps = gen.opportunities.copy()
    open_ = opps["status"] == "open"
    opps.loc[open_, "closed_at"] = T("2025-06-30")  # a CRM's expected close on open deals
    history = DealHistory.from_frames(opps, gen.history, gen.stages)
    assert history.end <= T("2024-01-01")
    rep = backtest(history, freq="quarter", start="2023-Q4", settings=SETTINGS)
    assert [p.period.label for p in rep.periods] == ["2023-Q4"]


def test_bad_horizons_and_origins_are_refused(history):
    with pytest.raises(InvalidInput, match="--every"):
        backtest(history, every="day")
    with pytest.raises(InvalidInput, match="--horizons"):
        backtest(history, horizons=(0, 200))
    with pytest.raises(InvalidInput, match="--horizons"):
        backtest(history, horizons=())
    with pytest.raises(InvalidInput, match="--sealed"):
        backtest(history, sealed=-1)
    with pytest.raises(InvalidInput, match="--export-date"):
        backtest(history, export_date="soon")


@pytest.mark.slow
def test_shared_data_weekly_backtest_gives_dozens_of_forecasts(shared_opportunities):
    from forecast.data.importing import read_export

    export = read_export(shared_opportunities)
    history = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    rep = backtest(history, freq="quarter", every="week", horizons=(0, 4, 8, 13))
    assert rep.export_date == T("2017-12-31")
    assert all(p.period.end <= T("2018-01-01") for p in rep.periods)
    # A year of closes, the first in March: quarter-long windows are forecast from June (a
    # quarter of outcomes known), so 43 forecasts over the four horizons, fewer the further ahead.
    assert len(rep.scored) >= 30
    for h in (0, 4, 8, 13):
        done = [p for p in rep.scored if p.horizon_weeks == h]
        assert len(done) >= 4
        assert all("weighted_pipeline" in p.forecasts for p in done)
        # The record of closes starts in March 2017: the naive forecasts need a week of it
        # (run rate) or a whole quarter (last period) before the origin.
        assert sum("run_rate" in p.forecasts for p in done) >= len(done) - 1
        assert any("last_period" in p.forecasts for p in done)
    assert rep.sealed_from == T("2017-07-01")
    assert rep.horizon_scores(sealed=True)[0]["forecasts"] > 0


# --- the choosing, backtested ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chosen_runs(history):
    """Monthly windows starting every Monday from April, forecast at their start: through
    mid-September, and the same cut at the end of August (the later windows never forecast)."""

    def run(end: str):
        return backtest(
            history,
            freq="month",
            every="week",
            horizons=(0,),
            start="2023-04-03",
            end=end,
            settings=SETTINGS,
        )

    return run("2023-09-15"), run("2023-08-31")


def test_the_chosen_forecast_reads_only_windows_ended_by_its_origin(chosen_runs):
    from forecast.forecasting.choice import MIN_PAST_FORECASTS

    full, cut = chosen_runs
    assert len(cut.scored) < len(full.scored)
    by_origin = {(p.origin, p.horizon_weeks): p for p in full.scored}
    # The record starts on 2023-01-01: the first origins' run rate reads a pipeline still
    # filling up, so the weighted pipeline hedges ours there (a window that starts at its
    # origin); the run rate follows (but where the recent cohort stands clear of the older
    # deals: `fitted.changed_lately`), then the choice.
    assert "runs low" in (cut.scored[0].no_hedge or "")
    assert any(not p.no_hedge for p in cut.scored)
    assert {"model+weighted_pipeline", "run_rate"} <= {p.chosen["method"] for p in cut.scored}
    for p in cut.scored:
        q = by_origin[(p.origin, p.horizon_weeks)]
        # The full run knows more windows, all ending after this origin: nothing changes.
        assert p.chosen == q.chosen
        assert p.model_empirical == q.model_empirical
        ended = sum(o.period.end <= p.origin for o in full.scored)
        if ended < MIN_PAST_FORECASTS:  # too few outcomes known: no method chosen on them
            # The run rate alone (naive until ours has beaten it), or where it cannot be shown
            # (and why), the mean of ours and the weighted pipeline; with ours' range in
            # proportion either way.
            if p.no_hedge:
                assert "not the run rate: " + p.no_hedge in p.chosen["reason"]
                shown = (p.forecasts["model"] + p.forecasts["weighted_pipeline"]) / 2
                assert p.chosen["method"] == "model+weighted_pipeline"
            else:
                assert "until ours has beaten the naive forecasts" in p.chosen["reason"]
                shown = p.forecasts["run_rate"]
                assert p.chosen["method"] == "run_rate"
            scale = shown / p.p50
            assert p.chosen["range"] == "model"
            assert p.chosen["forecast"] == pytest.approx(shown)
            assert (p.chosen["p10"], p.chosen["p90"]) == pytest.approx(
                (p.p10 * scale, p.p90 * scale)
            )
            assert p.model_empirical is None
            assert "model_recalibrated" not in p.forecasts
        else:
            assert p.chosen["past_forecasts"] >= MIN_PAST_FORECASTS
            assert p.model_empirical is not None
            if p.chosen["method"] == "model":  # ours chosen: with its own range, as shown
                assert p.chosen["range"] == "model"
                assert (p.chosen["p10"], p.chosen["p90"]) == (p.p10, p.p90)
            else:
                assert p.chosen["range"] == "empirical"
            # Ours recalibrated on its past errors competes: ours times its past median
            # actual / forecast, the middle of ours' empirical range.
            assert p.forecasts["model_recalibrated"] == pytest.approx(p.model_empirical[1])
    # Not vacuous: later origins had enough ended windows to choose among the methods and to
    # measure ours' range from its past errors.
    assert sum(p.model_empirical is not None for p in cut.scored) >= 3
    assert sum(p.chosen["past_forecasts"] >= MIN_PAST_FORECASTS for p in cut.scored) >= 3


def test_the_chosen_forecast_is_scored_like_the_others_with_its_own_range(chosen_runs):
    full, _ = chosen_runs
    for p in full.scored:
        c = p.chosen
        parts = c["method"].split("+")
        assert c["forecast"] == pytest.approx(np.mean([p.forecasts[m] for m in parts]))
        assert p.forecasts["chosen"] == c["forecast"]
        assert c["p10"] <= c["p50"] <= c["p90"]
    [s0] = full.horizon_scores()
    done = full.scored
    assert s0["methods"]["chosen"]["n"] == len(done)
    cov = s0["coverage_p10_p90_chosen"]
    assert (cov["n"], cov["hits"]) == (
        len(done),
        sum(p.chosen["p10"] <= p.actual <= p.chosen["p90"] for p in done),
    )
    recal = [p for p in done if p.model_empirical is not None]
    emp = s0["coverage_p10_p90_empirical"]
    assert (emp["n"], emp["hits"]) == (
        len(recal),
        sum(p.model_empirical[0] <= p.actual <= p.model_empirical[2] for p in recal),
    )
    assert sum(s0["chosen_methods"].values()) == len(done)
    total = full.coverage()
    assert total["chosen"]["n"] == total["model"]["n"] == len(done)
    table = full.forecast_table()
    chosen_rows = table[table["method"] == "chosen"]
    assert len(chosen_rows) == len(done)
    assert set(chosen_rows["chosen_method"]) == set(s0["chosen_methods"])
    data = full.to_dict()
    json.dumps(data)
    assert data["coverage"]["chosen"]["n"] == len(done)
    assert {"method", "reason", "range"} <= set(data["periods"][-1]["chosen"])


def test_refitting_every_few_weeks_replays_a_scheduled_retraining(history, weekly):
    monthly = _summer_weeks(history, refit_weeks=4)
    origins = sorted({p.origin for p in monthly.scored})
    assert monthly.origins_fitted <= -(-len(origins) // 4) + 1 < weekly.origins_fitted
    assert len(monthly.scored) == len(weekly.scored)  # the same forecasts, fewer fits
    # At the first origin both fitted there: the same forecast.
    first = {(p.period.label, p.horizon_weeks): p for p in weekly.scored if p.origin == origins[0]}
    for p in monthly.scored:
        if p.origin == origins[0]:
            assert p.forecasts["model"] == pytest.approx(
                first[(p.period.label, p.horizon_weeks)].forecasts["model"]
            )
    with pytest.raises(InvalidInput, match="--refit-weeks"):
        backtest(history, every="week", refit_weeks=0)


def test_a_baseline_users_are_never_shown_is_never_the_chosen_forecast():
    """The per-stage close-time baseline is scored, but a served forecast does not make it: the
    backtested choosing must be the one users get, so it never picks it, however well it did."""
    from forecast.forecasting.backtest import SCORED_ONLY, _choose_all
    from forecast.forecasting.backtest_report import PeriodResult
    from forecast.periods import Period

    rng = np.random.default_rng(4)
    results = []
    for week in range(60):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=week)
        actual = 100.0 + rng.normal(0, 5)
        results.append(
            PeriodResult(
                Period(
                    f"{start.date()} +1 quarter", start, start + pd.DateOffset(months=3), "quarter"
                ),
                "ok",
                actual=actual,
                forecasts={
                    "model": actual * rng.uniform(0.6, 1.4),
                    "run_rate": actual * rng.uniform(0.7, 1.3),
                    "stage_km": actual,  # perfect: would win every choice it could enter
                },
                p10=50.0,
                p50=100.0,
                p90=150.0,
                horizon_weeks=0,
                origin=start,
            )
        )
    _choose_all(results)
    picked = {r.chosen["method"] for r in results if r.chosen}
    assert picked and not picked & set(SCORED_ONLY)
    assert any(m != "model" for m in picked)  # a choice was made: not ours kept by default
