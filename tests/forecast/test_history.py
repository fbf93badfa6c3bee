"""DealHistory: the pipeline as it was known at t, every field at its value then, one rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import features as F
from forecast import timing as tm
from forecast.data.importing import read_export
from forecast.data.stages import DEFAULT_STAGES, StageSet
from forecast.errors import InvalidInput
from forecast.history import JUST_AFTER, DealHistory, last_before

T = pd.Timestamp


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    opps = pd.DataFrame(
        {
            "id": ["A", "B", "C"],
            "stage": ["Won", "Demonstration", "Lost"],
            "status": ["won", "open", "lost"],
            "created_at": [T("2024-01-01"), T("2024-02-01"), T("2024-03-15")],
            "closed_at": [T("2024-03-01"), pd.NaT, T("2024-04-01")],
            "updated_at": [T("2024-05-01")] * 3,
            "owner": ["Ann", "Bob", "Cy"],
            "amount": [1000.0, 500.0, float("nan")],
            "list_price": [900.0, 450.0, 300.0],
            "amount_estimated": [False, False, True],
        }
    )
    log = pd.DataFrame(
        {
            "opportunity_id": ["A", "A", "A", "B", "B", "C", "C"],
            "stage": [
                "Prospecting",
                "Qualification",
                "Won",
                "Prospecting",
                "Demonstration",
                "Prospecting",
                "Lost",
            ],
            "entered_at": [
                T("2024-01-01"),
                T("2024-01-20"),
                T("2024-03-01"),
                T("2024-02-01"),
                T("2024-02-20"),
                T("2024-03-15"),
                T("2024-04-01"),
            ],
        }
    )
    return opps, log


def history_of(frames, **kw) -> DealHistory:
    opps, log = frames
    return DealHistory.from_frames(opps, log, DEFAULT_STAGES, check_leaks=False, **kw)


# --- the as-of rule -----------------------------------------------------------------------------


def test_a_deal_won_later_is_open_in_an_earlier_view(frames):
    snap = history_of(frames).as_of("2024-02-10").set_index("id")
    assert snap.loc["A", "stage"] == "Qualification" and snap.loc["A", "is_open"]
    assert pd.isna(snap.loc["A", "closed_at"])  # the close is not known yet
    assert snap.loc["A", "days_in_stage"] == 21 and snap.loc["A", "age_days"] == 40


def test_a_deal_created_later_is_absent(frames):
    assert set(history_of(frames).as_of("2024-02-10")["id"]) == {"A", "B"}


def test_closed_deals_show_their_outcome_after_the_close(frames):
    snap = history_of(frames).as_of("2024-04-02").set_index("id")
    assert snap.loc["A", "status"] == "won" and snap.loc["C", "status"] == "lost"
    assert snap.loc["B", "stage"] == "Demonstration" and snap.loc["B", "is_open"]


def test_what_happens_at_t_is_not_known_at_t_but_just_after(frames):
    h = history_of(frames)
    at = h.as_of("2024-02-20").set_index("id")
    assert at.loc["B", "stage"] == "Prospecting"
    after = h.as_of(T("2024-02-20") + JUST_AFTER).set_index("id")
    assert after.loc["B", "stage"] == "Demonstration" and after.loc["B", "days_in_stage"] < 1e-6
    # A deal that closes on a period's first day is open in the pipeline as of that day.
    assert h.as_of("2024-03-01").set_index("id").loc["A", "is_open"]
    # A deal created at t is not in the pipeline as of t.
    assert "C" not in set(h.as_of("2024-03-15")["id"])


def test_amounts_only_known_at_close_are_the_list_price_while_open(frames):
    h = history_of(frames, options={"amount_known_before_close": False})
    snap = h.as_of("2024-02-10").set_index("id")
    assert snap.loc["A", "amount"] == 900.0 and snap.loc["A", "amount_estimated"]
    assert h.as_of("2024-03-02").set_index("id").loc["A", "amount"] == 1000.0


def test_open_at_keeps_only_open_deals(frames):
    assert set(history_of(frames).open_at("2024-03-20")["id"]) == {"B", "C"}


def test_a_date_before_any_stage_entry_gives_deals_in_the_first_stage(frames):
    opps, log = frames
    late = log.assign(entered_at=log["entered_at"] + pd.Timedelta(days=30))
    snap = DealHistory.from_frames(opps, late, DEFAULT_STAGES, check_leaks=False).as_of(
        "2024-01-15"
    )
    assert list(snap["stage"]) == ["Prospecting"] and snap["is_open"].all()


def test_known_before_drops_later_entries_and_reopens_later_closes(frames):
    known = history_of(frames).known_before("2024-02-25")
    assert set(known.deals["id"]) == {"A", "B"}
    a = known.deals.set_index("id").loc["A"]
    assert a["status"] == "open" and pd.isna(a["closed_at"]) and a["stage"] == "Qualification"
    assert (known.stage_log["entered_at"] < T("2024-02-25")).all()


# --- field history ------------------------------------------------------------------------------


def test_a_field_holds_the_value_observed_before_t(frames):
    opps, log = frames
    fields = pd.DataFrame(
        {
            "opportunity_id": ["B", "B", "B"],
            "observed_at": [T("2024-02-01"), T("2024-03-01"), T("2024-04-10")],
            "owner": ["Bob", "Bob", "Dee"],
            "amount": [200.0, 500.0, 500.0],
        }
    )
    h = DealHistory.from_frames(opps, log, DEFAULT_STAGES, field_log=fields, check_leaks=False)
    at = {
        t: h.as_of(t).set_index("id").loc["B"]
        for t in ("2024-02-15", "2024-03-01", "2024-03-02", "2024-04-11")
    }
    assert at["2024-02-15"]["amount"] == 200.0 and at["2024-03-01"]["amount"] == 200.0
    assert at["2024-03-02"]["amount"] == 500.0 and at["2024-03-02"]["owner"] == "Bob"
    assert at["2024-04-11"]["owner"] == "Dee"


def test_before_its_first_observation_a_deal_shows_what_was_first_seen(frames):
    opps, log = frames
    fields = pd.DataFrame(
        {
            "opportunity_id": ["B", "B"],
            "observed_at": [T("2024-04-01"), T("2024-05-01")],
            "owner": ["Eve", "Fay"],
        }
    )
    h = DealHistory.from_frames(opps, log, DEFAULT_STAGES, field_log=fields, check_leaks=False)
    assert h.as_of("2024-02-10").set_index("id").loc["B", "owner"] == "Eve"


def test_csat_is_blank_while_a_deal_is_open(frames):
    opps, log = frames
    h = DealHistory.from_frames(
        opps.assign(csat=[4.0, None, 2.0]), log, DEFAULT_STAGES, check_leaks=False
    )
    assert pd.isna(h.as_of("2024-02-10").set_index("id").loc["A", "csat"])
    assert h.as_of("2024-03-02").set_index("id").loc["A", "csat"] == 4.0


def test_left_out_fields_are_blank_for_models_only(frames):
    h = history_of(frames).leaving_out(["owner"], ["owner: left out"])
    assert h.as_of("2024-02-10")["owner"].notna().all()
    assert h.as_of("2024-02-10", for_models=True)["owner"].isna().all()
    assert h.leak_notes == ("owner: left out",)
    assert h.keeping_all().left_out == frozenset()


# --- one kernel ---------------------------------------------------------------------------------


def test_the_kernel_finds_the_last_event_strictly_before():
    e_key = np.array([0, 0, 1, 0])
    e_time = np.array(
        ["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-05"], dtype="datetime64[us]"
    )
    q_key = np.array([0, 0, 0, 1, 2])
    q_time = np.array(
        ["2024-01-01", "2024-01-05", "2024-01-06", "2024-01-03", "2024-01-09"],
        dtype="datetime64[us]",
    )
    # Same-instant events: the later recorded one (index 3) wins.
    assert list(last_before(e_key, e_time, q_key, q_time)) == [-1, 0, 3, 2, -1]


def _naive_stage(log: pd.DataFrame, deal: str, t: pd.Timestamp, first: str) -> str:
    """Reference: a plain loop over the deal's entries, the last one strictly before t."""
    stage = first
    for _, row in log[log["opportunity_id"] == deal].iterrows():
        if row["entered_at"] < t:
            stage = row["stage"]
    return stage


STAGES3 = StageSet(open_stages=("S1", "S2", "S3"))


@st.composite
def random_histories(draw: st.DrawFn) -> tuple[DealHistory, pd.Timestamp]:
    n = draw(st.integers(2, 6))
    base = T("2024-01-01")
    opps, log, fields = [], [], []
    for i in range(n):
        created = base + pd.Timedelta(days=draw(st.integers(0, 20)))
        steps = draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
        t = created
        stage = "S1"
        for k, s in enumerate(steps):
            t = t + pd.Timedelta(days=draw(st.integers(0, 5)))  # same-day moves too
            stage = [*STAGES3.open_stages, "Won", "Lost"][s]
            log.append((f"D{i}", stage, t))
            if stage in ("Won", "Lost"):
                break
            if k > 3:
                break
        status = {"Won": "won", "Lost": "lost"}.get(stage, "open")
        closed = t if status != "open" else pd.NaT
        opps.append((f"D{i}", stage, status, created, closed))
        for j in range(draw(st.integers(1, 3))):
            fields.append(
                (
                    f"D{i}",
                    created + pd.Timedelta(days=draw(st.integers(0, 30))),
                    float(draw(st.integers(1, 9)) * 100),
                    f"rep{j}{i % 2}",
                )
            )
    deals = pd.DataFrame(opps, columns=["id", "stage", "status", "created_at", "closed_at"])
    log_f = pd.DataFrame(log, columns=["opportunity_id", "stage", "entered_at"])
    field_f = pd.DataFrame(fields, columns=["opportunity_id", "observed_at", "amount", "owner"])
    field_f = field_f.drop_duplicates(["opportunity_id", "observed_at"])
    h = DealHistory.from_frames(deals, log_f, STAGES3, field_log=field_f, check_leaks=False)
    t = base + pd.Timedelta(days=draw(st.integers(0, 50)), hours=draw(st.sampled_from([0, 12])))
    return h, t


@settings(max_examples=60, deadline=None)
@given(random_histories())
def test_every_caller_sees_the_same_stage_and_fields(case):
    h, t = case
    view = h.as_of(t).set_index("id")
    # Independent reference for the stage: a plain loop.
    for deal, row in view.iterrows():
        assert row["stage"] == _naive_stage(h.stage_log, deal, t, "S1")
    # Feature rows (training, scoring), the timing/forecast pipeline and the models' view.
    points = pd.DataFrame(
        {
            "id": view.index.to_numpy(),
            "as_of": np.full(len(view), t.to_datetime64(), "datetime64[us]"),
        }
    )
    rows = F.deal_rows_at(h, points).set_index("id")
    pipeline = tm.pipeline_rows(h, t).set_index("id")
    known = h.known_before(t)
    known_view = known.as_of(t).set_index("id")
    for deal, row in view.iterrows():
        assert rows.loc[deal, "stage"] == row["stage"]
        assert rows.loc[deal, "amount"] == row["amount"]
        assert rows.loc[deal, "owner"] == row["owner"]
        assert known_view.loc[deal, "stage"] == row["stage"]
        assert known_view.loc[deal, "amount"] == row["amount"]
        assert known.deals.set_index("id").loc[deal, "status"] == row["status"]
        if row["is_open"]:
            assert pipeline.loc[deal, "stage"] == row["stage"]
            assert pipeline.loc[deal, "amount"] == row["amount"]
    assert set(pipeline.index) == set(view.index[view["is_open"]])
    # Fields: the last observation strictly before t, else the first one.
    obs = h.field_log
    for deal, row in view.iterrows():
        mine = obs[obs["opportunity_id"] == deal].sort_values("observed_at", kind="stable")
        before = mine[mine["observed_at"] < t]
        expect = (before if len(before) else mine.head(1)).iloc[-1]
        assert row["amount"] == expect["amount"] and row["owner"] == expect["owner"]


# --- the export-state leak check ----------------------------------------------------------------


def _with_open_blanks(history: DealHistory, field: str) -> DealHistory:
    deals = history.deals.copy()
    deals[field] = deals[field].astype(object)
    deals.loc[deals["status"] == "open", field] = None
    return DealHistory.from_frames(
        deals, history.stage_log, history.stages, options=history.options
    )


def test_a_field_blank_on_open_deals_only_is_left_out():
    from tests.forecast.synthetic import deals as synthetic_deals

    opps, log, stages, _ = synthetic_deals(n=1200, seed=3)
    clean = DealHistory.from_frames(opps, log, stages)
    assert "account" not in clean.left_out and "product" not in clean.left_out
    leaky = _with_open_blanks(clean, "account")
    assert "account" in leaky.left_out
    note = next(n for n in leaky.leak_notes if n.startswith("account"))
    assert "blank on 100% of open deals, 0% of closed" in note


def test_a_category_that_names_the_outcome_is_left_out():
    from tests.forecast.synthetic import deals as synthetic_deals

    opps, log, stages, _ = synthetic_deals(n=1200, seed=4)
    rng = np.random.default_rng(0)
    category = np.where(
        opps["status"] == "open", rng.choice(["Pipeline", "Commit"], len(opps)), "Closed"
    )
    leaky = DealHistory.from_frames(opps.assign(forecast_category=category), log, stages)
    assert "forecast_category" in leaky.left_out


@pytest.mark.parametrize("n", [12, 60, 150])
def test_a_small_clean_export_leaves_nothing_out_and_warns_of_nothing(n, recwarn):
    from forecast.data.generator import generate_pipeline

    g = generate_pipeline(n, seed=3)
    h = DealHistory.from_frames(g.opportunities, g.history, g.stages)
    assert h.left_out == frozenset()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_fields_known_before_the_close_are_not_export_leaks():
    """The same blanks, but the field history dates each value from the deal's creation: the
    values were known while the deals were open, so nothing leaks."""
    from tests.forecast.synthetic import deals as synthetic_deals

    opps, log, stages, _ = synthetic_deals(n=1200, seed=3)
    deals = opps.copy()
    deals["account"] = deals["account"].astype(object)
    deals.loc[deals["status"] == "open", "account"] = None
    fields = pd.DataFrame(
        {
            "opportunity_id": deals["id"],
            "observed_at": deals["created_at"],
            "account": deals["account"],
        }
    )
    h = DealHistory.from_frames(deals, log, stages, field_log=fields)
    assert "account" not in h.left_out


def _with_stalled_deals(n: int, seed: int) -> DealHistory:
    """Synthetic deals where a quarter of the older ones never closed (still open at the export,
    as in real CRMs), so a field blank on open deals would tell the models which never close."""
    from tests.forecast.synthetic import deals as synthetic_deals

    opps, log, stages, end = synthetic_deals(n=n, seed=seed, days=540)
    rng = np.random.default_rng(seed)
    pick = (rng.uniform(size=len(opps)) < 0.25) & (
        opps["created_at"] < end - pd.Timedelta(days=120)
    ).to_numpy()
    ids = set(opps.loc[pick, "id"])
    log = log[~(log["opportunity_id"].isin(ids) & log["stage"].isin([stages.won, stages.lost]))]
    last = log.sort_values("entered_at").groupby("opportunity_id")["stage"].last()
    opps = opps.copy()
    opps.loc[pick, "status"] = "open"
    opps.loc[pick, "closed_at"] = pd.NaT
    opps.loc[pick, "stage"] = opps.loc[pick, "id"].map(last).fillna(stages.open_stages[0])
    return DealHistory.from_frames(opps, log.reset_index(drop=True), stages)


@pytest.mark.slow
def test_a_leaking_blank_does_not_change_the_backtest():
    from forecast.forecasting.backtest import backtest

    clean = _with_stalled_deals(1000, seed=5)
    assert "account" not in clean.left_out
    leaky = _with_open_blanks(clean, "account")
    assert leaky.left_out == clean.left_out | {"account"}

    def wape(h: DealHistory) -> float:
        return backtest(h, freq="quarter").overall()["model"]["wape"]

    without_account = wape(clean.leaving_out(["account"]))
    # With the check on, the export artefact changes nothing ...
    assert wape(leaky) == pytest.approx(without_account, rel=1e-12)
    # ... and it is the check that does it: read as it stands, the blank moves the forecast.
    assert wape(leaky.keeping_all()) != pytest.approx(without_account, rel=1e-3)


@pytest.mark.slow
def test_shared_data_account_blankness_is_caught(shared_opportunities):
    export = read_export(shared_opportunities)
    h = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    assert "account" in h.left_out
    assert not {"product", "owner", "team", "region"} & h.left_out
    note = next(n for n in h.leak_notes if n.startswith("account:"))
    assert "blank on 68% of open deals, 0% of closed" in note


@pytest.mark.slow
def test_shared_data_view_reopens_deals_closed_after_the_date(shared_opportunities):
    export = read_export(shared_opportunities)
    h = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    as_of = T("2017-07-01")
    snap = h.as_of(as_of).set_index("id")
    opps = export.opportunities
    closed_later = opps[(opps["closed_at"] >= as_of) & (opps["created_at"] < as_of)]["id"]
    assert len(closed_later) > 500
    assert snap.loc[closed_later, "is_open"].all()
    # Independent count from the raw file: engaged before the date, not closed before it.
    raw = pd.read_csv(
        shared_opportunities / "sales_pipeline.csv", parse_dates=["engage_date", "close_date"]
    )
    engaged = raw["engage_date"] < as_of
    still_open = engaged & ~(raw["close_date"] < as_of)
    assert int(snap["is_open"].sum()) == int(still_open.sum())
    won_before = engaged & (raw["close_date"] < as_of) & (raw["deal_stage"] == "Won")
    assert int((snap["status"] == "won").sum()) == int(won_before.sum())
    assert "Prospecting" not in set(snap["stage"])  # undated prospects appear at the export


def _export_as_it_stood(source, day: pd.Timestamp, folder):
    """The shared export rebuilt as it stood on `day`: deals engaged before it, those closed on
    or after it back in Engaging with no close date or value; every other field as exported."""
    import shutil

    raw = pd.read_csv(source / "sales_pipeline.csv")
    engaged = pd.to_datetime(raw["engage_date"])
    closed = pd.to_datetime(raw["close_date"])
    out = raw[engaged < day].copy()
    later = (closed[engaged < day] >= day) | closed[engaged < day].isna()
    out.loc[later, "deal_stage"] = "Engaging"
    out.loc[later, ["close_date", "close_value"]] = None
    for f in source.iterdir():
        if f.name != "sales_pipeline.csv":
            shutil.copy(f, folder / f.name)
    out.to_csv(folder / "sales_pipeline.csv", index=False)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    "day,period", [("2017-04-01", "2017-Q2"), ("2017-07-01", "2017-Q3"), ("2017-10-01", "2017-Q4")]
)
def test_a_truncated_export_forecasts_like_the_full_data_as_of_its_date(
    shared_opportunities, tmp_path, day, period
):
    """The as-of replay of the full export equals what the export said on that day, to the
    cent, with the leak check on in both (it leaves out the same fields)."""
    from forecast.forecasting.revenue import forecast_revenue

    full_export = read_export(shared_opportunities)
    full = DealHistory.from_frames(
        full_export.opportunities,
        full_export.history,
        full_export.stages,
        options=full_export.options,
    )
    cut = read_export(_export_as_it_stood(shared_opportunities, T(day), tmp_path), export_date=day)
    then = DealHistory.from_frames(cut.opportunities, cut.history, cut.stages, options=cut.options)
    assert "account" in full.left_out and then.left_out == full.left_out
    a = forecast_revenue(full, period, as_of=day).total
    b = forecast_revenue(then, period, as_of=day).total
    assert a.deals == b.deals > 1000
    for name in ("expected", "expected_new", "p10", "p50", "p90", "weighted_pipeline"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), abs=0.01), name


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_the_leak_check_over_slices_finds_what_the_whole_check_finds(parts):
    """`export_leaks.leaks_from_counts` over slices of the deals (a partitioned read on a
    cluster) gives the same findings, figures and notes as `find_export_leaks` on them all."""
    from forecast import export_leaks as el
    from forecast.dask_rows import split_history
    from tests.forecast.synthetic import deals as synthetic_deals

    opps, log, stages, _ = synthetic_deals(n=1500, seed=5)
    rng = np.random.default_rng(1)
    is_open = (opps["status"] == "open").to_numpy()
    # A category that is "Won" on most closed deals (an AUC under 1, ties in every band) and an
    # account blank on a third of open deals only.
    named = is_open | (rng.random(len(opps)) < 0.12)
    category = rng.choice(["Pipeline", "Commit", "Best case"], len(opps))
    opps = opps.assign(
        forecast_category=np.where(named, category, "Won"),
        account=opps["account"].astype(object).where(~is_open | (rng.random(len(opps)) < 0.5)),
    )
    history = DealHistory.from_frames(opps, log, stages, check_leaks=False)
    whole = el.find_export_leaks(history)
    assert [(f.field, f.kind) for f in whole] == [
        ("account", "blank"),
        ("forecast_category", "values"),
    ]
    assert 0.9 < whole[1].open_share < 1.0
    pieces = split_history(history, parts)
    dates = [el.slice_dates(p) for p in pieces]
    bands = el.slice_bands(dates)
    counts = [el.slice_counts(p, el.bands_of(bands, i)) for i, p in enumerate(pieces)]
    assert el.leaks_from_counts([el.without_dates(d) for d in dates], counts) == whole


def test_a_date_given_as_text_leads_with_its_year_or_is_refused():
    """01/02/2024 is the 1st of February to some users and the 2nd of January to others: the
    product does not guess (a wrong guess moves a forecast by a month, silently)."""
    from forecast.history import as_timestamp

    assert as_timestamp("2024-02-01") == pd.Timestamp("2024-02-01")
    assert as_timestamp("2024-02-01T09:30:00+01:00") == pd.Timestamp("2024-02-01 08:30")
    for text in ("01/02/2024", "13/02/2024", "02.10.2024"):
        with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
            as_timestamp(text)


def test_a_deal_reopened_after_a_loss_is_seen_closed_at_its_loss_in_its_lost_spell():
    """Lost on 9 January, reopened on 13 March, won on 18 May: seen on 1 February it was lost
    on 9 January, not closed at a date still ahead (its final close). A history file's outcome
    entry is when the deal closed, whatever the export's close date column says."""
    opps = pd.DataFrame(
        {
            "id": ["R"],
            "stage": ["Won"],
            "status": ["won"],
            "created_at": [T("2023-01-02")],
            "closed_at": [T("2023-05-20")],  # the export's close date: two days off
            "updated_at": [T("2023-05-20")],
        }
    )
    log = pd.DataFrame(
        {
            "opportunity_id": ["R"] * 4,
            "stage": ["Prospecting", "Lost", "Qualification", "Won"],
            "entered_at": [T("2023-01-02"), T("2023-01-09"), T("2023-03-13"), T("2023-05-18")],
        }
    )
    history = DealHistory.from_frames(opps, log, DEFAULT_STAGES, check_leaks=False)
    points = pd.DataFrame(
        {"id": ["R"] * 3, "as_of": [T("2023-02-01"), T("2023-04-01"), T("2023-06-01")]}
    )
    rows = history.rows_at(points)
    assert rows["status"].tolist() == ["lost", "open", "won"]
    assert rows["closed_at"].tolist()[0] == T("2023-01-09")
    assert pd.isna(rows["closed_at"].tolist()[1])
    assert rows["closed_at"].tolist()[2] == T("2023-05-18")
