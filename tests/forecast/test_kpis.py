"""Pipeline KPIs: hand-made histories with known answers, and the shared CRM export checked
against an independent pandas computation from the raw CSV files.

As of a date t, a KPI counts only what was recorded strictly before t (a stage entered, a deal
created or closed at t is not known yet at t); with no date, every record as stored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.importing import read_export
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput, NotFound
from forecast.history import JUST_AFTER, DealHistory
from forecast.kpis import KpiReport, compute_kpis

T = pd.Timestamp
STAGES = StageSet(open_stages=("Lead", "Qualified", "Proposal"))
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CRM = SHARED / "crm_sales_opportunities"

# id, team, owner, product, amount, estimated, csat, [(stage, entered), ...]
DEALS = [
    (
        "A",
        "North",
        "ann",
        "X",
        1000.0,
        False,
        4.0,
        [
            ("Lead", "2024-01-01"),
            ("Qualified", "2024-01-11"),
            ("Proposal", "2024-01-31"),
            ("Won", "2024-03-01"),
        ],
    ),
    (
        "B",
        "North",
        "ann",
        "Y",
        3000.0,
        False,
        5.0,
        [("Lead", "2024-01-01"), ("Qualified", "2024-01-21"), ("Won", "2024-02-20")],
    ),
    ("C", "South", "bob", "X", 500.0, True, None, [("Lead", "2024-02-01"), ("Lost", "2024-02-11")]),
    (
        "D",
        "South",
        "bob",
        "Y",
        2000.0,
        False,
        None,
        [("Lead", "2024-02-01"), ("Qualified", "2024-02-06"), ("Proposal", "2024-02-16")],
    ),
    ("E", "South", "cat", "X", 800.0, True, None, [("Lead", "2024-03-01")]),
    (
        "F",
        "North",
        "cat",
        "Y",
        1500.0,
        False,
        2.0,
        [("Lead", "2024-01-15"), ("Qualified", "2024-01-25"), ("Lost", "2024-04-04")],
    ),
]


def build(deals: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical opportunities and history frames from compact deal specs."""
    rows, entries = [], []
    for id_, team, owner, product, amount, estimated, csat, steps in deals:
        last_stage, last_at = steps[-1]
        status = STAGES.status(last_stage)
        rows.append(
            {
                "id": id_,
                "account": f"acct-{id_}",
                "owner": owner,
                "team": team,
                "region": "EU",
                "product": product,
                "list_price": amount * 0.9,
                "amount": amount,
                "amount_estimated": estimated,
                "stage": last_stage,
                "status": status,
                "created_at": T(steps[0][1]),
                "closed_at": T(last_at) if status != "open" else pd.NaT,
                "csat": csat,
            }
        )
        entries += [{"opportunity_id": id_, "stage": s, "entered_at": T(at)} for s, at in steps]
    opps = pd.DataFrame(rows)
    opps["csat"] = opps["csat"].astype(float)
    return opps, pd.DataFrame(entries)


def history_of(opps: pd.DataFrame, log: pd.DataFrame, **options: bool) -> DealHistory:
    """The deals as one `DealHistory` (hand-made frames: no export-state leak check)."""
    return DealHistory.from_frames(opps, log, STAGES, options=options or None, check_leaks=False)


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return build(DEALS)


@pytest.fixture
def pipeline(frames) -> DealHistory:
    return history_of(*frames)


def stage_rows(row: dict, key: str) -> dict[str, dict]:
    return {r["stage"]: r for r in row[key]}


# --- outcomes, value, cycle, velocity -----------------------------------------------------------


def test_win_rate_counts_only_closed_deals(pipeline):
    overall = compute_kpis(pipeline).overall
    assert (overall["won"], overall["lost"], overall["open"], overall["deals"]) == (2, 2, 2, 6)
    assert overall["win_rate"] == 0.5


def test_average_sale_value_and_revenue_come_from_won_deals(pipeline):
    overall = compute_kpis(pipeline).overall
    assert overall["average_sale_value"] == 2000.0
    assert overall["won_revenue"] == 4000.0 and overall["won_revenue_estimated"] == 0.0


def test_an_estimated_won_amount_counts_in_revenue_but_not_in_the_average(frames):
    opps, log = frames
    opps.loc[opps["id"] == "B", "amount_estimated"] = True
    overall = compute_kpis(history_of(opps, log)).overall
    assert overall["average_sale_value"] == 1000.0
    assert overall["won_revenue"] == 4000.0 and overall["won_revenue_estimated"] == 3000.0


def test_time_to_close_median_and_p90_for_won_and_for_all_closed(pipeline):
    cycle = compute_kpis(pipeline).overall["time_to_close"]
    # Won: A 60 days, B 50. Closed: also C 10, F 80.
    assert cycle["won"] == {"deals": 2, "median_days": 55.0, "p90_days": 59.0}
    assert cycle["closed"]["deals"] == 4 and cycle["closed"]["median_days"] == 55.0
    assert cycle["closed"]["p90_days"] == pytest.approx(np.percentile([10, 50, 60, 80], 90))
    assert cycle["closed"]["p90_days"] == pytest.approx(74.0)


def test_p90_on_a_longer_list_is_the_90th_percentile():
    deals = [
        (
            f"W{i}",
            "T",
            "r",
            "X",
            100.0,
            False,
            None,
            [("Lead", "2024-01-01"), ("Won", str(T("2024-01-01") + pd.Timedelta(days=d)))],
        )
        for i, d in enumerate(range(10, 120, 10))
    ]
    cycle = compute_kpis(history_of(*build(deals))).overall["time_to_close"]["won"]
    assert cycle == {"deals": 11, "median_days": 60.0, "p90_days": 100.0}


def test_velocity_is_open_deals_times_win_rate_times_value_over_cycle(pipeline):
    overall = compute_kpis(pipeline).overall
    assert overall["pipeline_velocity_per_day"] == pytest.approx(2 * 0.5 * 2000.0 / 55.0)


def test_velocity_is_absent_without_a_won_deal_to_value_it(pipeline):
    report = compute_kpis(pipeline, by="team")
    assert report.row("South")["pipeline_velocity_per_day"] is None
    assert report.row("North")["pipeline_velocity_per_day"] == 0.0  # nothing open


# --- funnel and time in stage -------------------------------------------------------------------


def test_funnel_counts_deals_reaching_each_stage_including_skipped_ones(pipeline):
    funnel = stage_rows(compute_kpis(pipeline).overall, "funnel")
    # B skipped Proposal but was won, so it reached Proposal.
    assert [funnel[s]["reached"] for s in STAGES.open_stages] == [6, 4, 3]


def test_conversion_is_moved_on_over_left_the_stage_and_the_last_converts_to_won(pipeline):
    funnel = compute_kpis(pipeline).overall["funnel"]
    assert [(f["stage"], f["next_stage"]) for f in funnel] == [
        ("Lead", "Qualified"),
        ("Qualified", "Proposal"),
        ("Proposal", "Won"),
    ]
    # Lead: A, B, D, F moved on, C was lost there, E is still in it: 4 of the 5 that left.
    # Qualified: A, B, D moved on, F was lost: 3 / 4. Proposal: A, B won, D is still in it.
    assert [f["still_in_stage"] for f in funnel] == [1, 0, 1]
    assert [f["conversion"] for f in funnel] == pytest.approx([4 / 5, 3 / 4, 2 / 2])


def test_deals_still_in_a_stage_do_not_lower_a_recent_period_s_conversion():
    # March's cohort: one deal moved on, one was lost at Lead, two are still in Lead. Counting
    # those two as not converted would show 1 / 4; of the deals that left Lead, 1 of 2 moved on.
    steps = {
        "M1": [("Lead", "2024-03-01"), ("Qualified", "2024-03-05")],
        "M2": [("Lead", "2024-03-02"), ("Lost", "2024-03-06")],
        "M3": [("Lead", "2024-03-20")],
        "M4": [("Lead", "2024-03-25")],
    }
    recent = [(id_, "North", "ann", "X", 100.0, False, None, s) for id_, s in steps.items()]
    report = compute_kpis(history_of(*build(recent)), period="month")
    lead, qualified, proposal = report.row(period="2024-03")["funnel"]
    assert (lead["reached"], lead["still_in_stage"], lead["conversion"]) == (4, 2, 0.5)
    # M1 is still in Qualified: none has left it, so its conversion is unknown, not 0%.
    assert (qualified["reached"], qualified["still_in_stage"]) == (1, 1)
    assert qualified["conversion"] is None
    assert (proposal["reached"], proposal["still_in_stage"], proposal["conversion"]) == (0, 0, None)


def _lost_without_a_stage(deals: list[tuple], ids: set[str]) -> DealHistory:
    """`deals` with the lost ones in `ids` recorded as a flat export records them: created,
    then lost, with no open stage on record."""
    opps, log = build(deals)
    created = log.groupby("opportunity_id")["entered_at"].min()
    log = log[~log["opportunity_id"].isin(ids) | (log["stage"] == "Lost")]
    opps["created_at"] = opps["id"].map(created)
    return history_of(opps, log)


def test_a_funnel_without_the_stage_lost_deals_were_lost_in_gives_no_conversion():
    # A flat export says a deal was lost, not where: reading its losses as first-stage losses
    # would show a funnel that drops half its deals at the first step.
    report = compute_kpis(_lost_without_a_stage(DEALS, {"C", "F"}))
    funnel = report.overall["funnel"]
    assert [f["reached"] for f in funnel] == [6, 3, 3]  # every deal entered; won or open after
    assert [f["conversion"] for f in funnel] == [None, None, None]
    assert not any(f["estimated"] for f in funnel)
    assert any("does not say in which stage its 2 lost deals were lost" in n for n in report.notes)


def test_lost_deals_of_unknown_stage_are_spread_as_the_known_losses_were():
    # C was lost at Lead, F at Qualified; G's stage is unknown: half of it counts at each.
    g = (
        "G",
        "North",
        "ann",
        "X",
        700.0,
        False,
        None,
        [("Lead", "2024-01-05"), ("Lost", "2024-02-10")],
    )
    report = compute_kpis(_lost_without_a_stage([*DEALS, g], {"G"}))
    funnel = report.overall["funnel"]
    # E still in Lead, D still in Proposal: left out of the stage's deals that left it.
    assert [f["conversion"] for f in funnel] == pytest.approx([4.5 / 6, 3 / 4.5, 2 / 2])
    assert [f["reached"] for f in funnel][0] == 7
    assert [f["estimated"] for f in funnel] == [False, True, True]  # all entered the first
    assert any("1 of the 3 lost deals have no record" in n for n in report.notes)


def test_a_full_stage_history_gives_exact_counts_and_no_note(pipeline):
    report = compute_kpis(pipeline)
    assert not any(f["estimated"] for f in report.overall["funnel"])
    assert not any("lost deals" in n for n in report.notes)


def test_time_in_stage_is_the_median_of_completed_stays(pipeline):
    times = stage_rows(compute_kpis(pipeline).overall, "time_in_stage")
    # Lead: A 10, B 20, C 10, D 5, F 10; E is still in Lead and is not counted.
    assert times["Lead"] == {"stage": "Lead", "median_days": 10.0, "completed_stays": 5}
    # Qualified: A 20, B 30, D 10, F 70.
    assert times["Qualified"]["median_days"] == 25.0
    assert times["Qualified"]["completed_stays"] == 4
    # Proposal: only A's 30 days (Jan 31 to Mar 1, 2024); D is still there.
    assert times["Proposal"]["median_days"] == 30.0
    assert times["Proposal"]["completed_stays"] == 1


def test_a_stage_recorded_twice_in_a_row_is_one_stay():
    deals = [
        (
            "R",
            "T",
            "r",
            "X",
            100.0,
            False,
            None,
            [
                ("Lead", "2024-01-01"),
                ("Lead", "2024-01-05"),
                ("Qualified", "2024-01-11"),
                ("Won", "2024-01-12"),
            ],
        )
    ]
    times = stage_rows(compute_kpis(history_of(*build(deals))).overall, "time_in_stage")
    assert times["Lead"]["median_days"] == 10.0 and times["Lead"]["completed_stays"] == 1


def test_a_stage_with_no_completed_stay_has_no_median():
    deals = [("S", "T", "r", "X", 100.0, False, None, [("Lead", "2024-01-01")])]
    times = stage_rows(compute_kpis(history_of(*build(deals))).overall, "time_in_stage")
    assert times["Lead"] == {"stage": "Lead", "median_days": None, "completed_stays": 0}


# --- open pipeline and satisfaction -------------------------------------------------------------


def test_open_pipeline_per_stage_with_its_estimated_part(pipeline):
    overall = compute_kpis(pipeline).overall
    pipe = stage_rows(overall, "open_pipeline")
    assert pipe["Lead"] == {
        "stage": "Lead",
        "deals": 1,
        "value": 800.0,
        "estimated_value": 800.0,
        "estimated_deals": 1,
    }
    assert pipe["Qualified"]["deals"] == 0 and pipe["Qualified"]["value"] == 0.0
    assert pipe["Proposal"] == {
        "stage": "Proposal",
        "deals": 1,
        "value": 2000.0,
        "estimated_value": 0.0,
        "estimated_deals": 0,
    }
    assert overall["open_value"] == 2800.0 and overall["open_value_estimated"] == 800.0


def test_csat_is_the_mean_of_the_scores_given(pipeline):
    assert compute_kpis(pipeline).overall["csat"] == {"mean": pytest.approx(11 / 3), "count": 3}


def test_csat_is_absent_when_the_data_has_no_scores(frames):
    opps, log = frames
    assert compute_kpis(history_of(opps.drop(columns="csat"), log)).overall["csat"] is None
    opps["csat"] = np.nan
    assert compute_kpis(history_of(opps, log)).overall["csat"] is None


# --- grouping -----------------------------------------------------------------------------------


def test_grouping_by_team(pipeline):
    report = compute_kpis(pipeline, by="team")
    north, south = report.row("North"), report.row("South")
    assert (north["won"], north["lost"], north["open"]) == (2, 1, 0)
    assert north["win_rate"] == pytest.approx(2 / 3) and north["average_sale_value"] == 2000.0
    assert (south["won"], south["lost"], south["open"]) == (0, 1, 2)
    assert south["win_rate"] == 0.0 and south["average_sale_value"] is None
    assert [f["reached"] for f in south["funnel"]] == [3, 1, 1]
    assert report.overall["won"] == 2  # the overall row is there too
    assert [g["group"] for g in report.to_dict()["groups"]] == ["North", "South"]


def test_grouping_by_rep_uses_the_owner(pipeline):
    report = compute_kpis(pipeline, by="rep")
    assert {g["group"]: g["win_rate"] for g in report.to_dict()["groups"]} == {
        "ann": 1.0,
        "bob": 0.0,
        "cat": 0.0,
    }
    assert report.row("ann")["time_to_close"]["won"]["median_days"] == 55.0
    assert report.row("bob")["open"] == 1 and report.row("cat")["open"] == 1


def test_grouping_by_product_and_region(pipeline):
    by_product = compute_kpis(pipeline, by="product")
    assert by_product.row("X")["won_revenue"] == 1000.0
    assert by_product.row("Y")["won_revenue"] == 3000.0
    assert compute_kpis(pipeline, by="region").row("EU")["deals"] == 6


def test_deals_without_a_team_form_their_own_group(frames):
    opps, log = frames
    opps.loc[opps["id"] == "E", "team"] = None
    report = compute_kpis(history_of(opps, log), by="team")
    assert report.row("(none)")["open"] == 1 and report.row("South")["open"] == 1


def test_monthly_split_puts_outcomes_in_the_close_month_and_deals_in_the_created_month(pipeline):
    report = compute_kpis(pipeline, period="month")
    feb, mar, apr = (
        report.row(period="2024-02"),
        report.row(period="2024-03"),
        report.row(period="2024-04"),
    )
    assert (feb["won"], feb["lost"], feb["win_rate"]) == (1, 1, 0.5)  # B won, C lost
    assert feb["average_sale_value"] == 3000.0
    assert (mar["won"], mar["lost"]) == (1, 0) and (apr["won"], apr["lost"]) == (0, 1)
    jan = report.row(period="2024-01")
    assert (jan["deals"], jan["won"]) == (3, 0)  # A, B, F created in January, none closed then
    assert [f["reached"] for f in jan["funnel"]] == [3, 3, 2]
    assert (feb["deals"], feb["open"], mar["deals"], mar["open"]) == (2, 1, 1, 1)
    assert report.overall["win_rate"] == 0.5


def test_quarterly_split_by_team(pipeline):
    report = compute_kpis(pipeline, by="team", period="quarter")
    q1, q2 = report.row("North", "2024-Q1"), report.row("North", "2024-Q2")
    assert (q1["deals"], q1["won"], q1["lost"]) == (3, 2, 0)
    assert (q2["deals"], q2["won"], q2["lost"]) == (0, 0, 1)  # F, lost in April
    assert report.row("South", "2024-Q1")["lost"] == 1
    keys = [(g["group"], g["period"]) for g in report.to_dict()["groups"]]
    assert keys == [("North", "2024-Q1"), ("North", "2024-Q2"), ("South", "2024-Q1")]


def test_time_in_stage_by_period_falls_in_the_month_the_stay_ended(pipeline):
    report = compute_kpis(pipeline, period="month")
    jan = stage_rows(report.row(period="2024-01"), "time_in_stage")
    assert jan["Lead"]["completed_stays"] == 3  # A, B, F left Lead in January


@pytest.mark.parametrize(
    "kwargs, allowed",
    [
        ({"by": "manager"}, "team, rep, product, region"),
        ({"by": "owners"}, "team, rep, product, region"),
        ({"period": "week"}, "month, quarter"),
        ({"period": "Q"}, "month, quarter"),
    ],
)
def test_bad_grouping_values_name_the_allowed_ones(pipeline, kwargs, allowed):
    with pytest.raises(InvalidInput, match=allowed):
        compute_kpis(pipeline, **kwargs)


def test_a_bad_as_of_date_is_invalid_input(pipeline):
    with pytest.raises(InvalidInput, match="as_of"):
        compute_kpis(pipeline, as_of="not a date")


# --- as of a past date --------------------------------------------------------------------------


def test_as_of_a_past_date_reflects_only_what_was_known_then(pipeline):
    report = compute_kpis(pipeline, as_of="2024-02-15")
    overall = report.overall
    assert report.from_snapshot and report.as_of == T("2024-02-15")
    # E is not created yet; B (won 02-20) and A (won 03-01) are still open; only C has closed.
    assert (overall["deals"], overall["won"], overall["lost"], overall["open"]) == (5, 0, 1, 4)
    assert overall["win_rate"] == 0.0
    assert [f["reached"] for f in overall["funnel"]] == [5, 4, 1]
    pipe = stage_rows(overall, "open_pipeline")
    assert (pipe["Qualified"]["deals"], pipe["Qualified"]["value"]) == (3, 6500.0)
    assert (pipe["Proposal"]["deals"], pipe["Proposal"]["value"]) == (1, 1000.0)
    times = stage_rows(overall, "time_in_stage")
    assert times["Qualified"]["completed_stays"] == 1  # only A had left Qualified by then
    assert times["Proposal"]["completed_stays"] == 0


def test_an_event_dated_at_the_as_of_instant_is_not_known_yet(pipeline):
    # On 2024-03-01 (midnight) E was created and A was won: neither is known at that instant.
    at = compute_kpis(pipeline, as_of="2024-03-01").overall
    assert (at["deals"], at["won"], at["lost"], at["open"]) == (5, 1, 1, 3)  # B won, C lost
    assert stage_rows(at, "time_in_stage")["Proposal"]["completed_stays"] == 0  # A still there
    after = compute_kpis(pipeline, as_of=T("2024-03-01") + JUST_AFTER).overall
    assert (after["deals"], after["won"], after["lost"], after["open"]) == (6, 2, 1, 3)
    assert stage_rows(after, "time_in_stage")["Proposal"]["completed_stays"] == 1


def test_amounts_learnt_at_close_are_list_prices_while_open(frames):
    history = history_of(*frames, amount_known_before_close=False)
    report = compute_kpis(history, as_of="2024-02-15")
    pipe = stage_rows(report.overall, "open_pipeline")
    assert pipe["Proposal"]["value"] == 900.0 and pipe["Proposal"]["estimated_deals"] == 1
    # Once won, the amount recorded at close is the one that counts.
    assert compute_kpis(history).overall["won_revenue"] == 4000.0


def test_default_as_of_is_the_end_of_the_data(pipeline):
    report = compute_kpis(pipeline)
    assert report.as_of == T("2024-04-04") and not report.from_snapshot
    assert (report.overall["lost"], report.overall["open"]) == (2, 2)  # F lost on 2024-04-04
    later = compute_kpis(pipeline, as_of="2030-01-01")
    assert later.overall == report.overall
    # Asked for explicitly, the data's last date is an instant: F's loss on it is not known yet.
    at_end = compute_kpis(pipeline, as_of="2024-04-04")
    assert at_end.from_snapshot
    assert (at_end.overall["lost"], at_end.overall["open"]) == (1, 3)


def test_as_of_before_any_history_is_an_empty_pipeline(pipeline):
    overall = compute_kpis(pipeline, as_of="2023-01-01").overall
    assert (overall["deals"], overall["won"], overall["open"]) == (0, 0, 0)
    assert overall["win_rate"] is None


def test_no_deals_at_all_still_gives_an_overall_row(frames):
    opps, log = frames
    report = compute_kpis(history_of(opps.iloc[:0], log.iloc[:0]), by="team", period="month")
    assert report.overall["deals"] == 0 and report.to_dict()["groups"] == []
    assert [f["reached"] for f in report.overall["funnel"]] == [0, 0, 0]


# --- rendering ----------------------------------------------------------------------------------


def _plain_only(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_only(v) for v in value)
    if isinstance(value, float):
        return not math.isnan(value)
    return value is None or type(value) in (str, int, bool)


def test_to_dict_is_plain_json_with_none_for_missing(pipeline):
    report = compute_kpis(pipeline, by="team", period="month")
    data = report.to_dict()
    assert _plain_only(data)
    json.dumps(data, allow_nan=False)
    assert data["as_of"] == "2024-04-04T00:00:00" and data["by"] == "team"
    assert data["stages"]["open"] == ["Lead", "Qualified", "Proposal"]


# --- performance --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_large_pipeline_counts_every_deal():
    """200k deals, ~800k history rows; how long it takes is measured by bench/kpi_bench.py."""
    rng = np.random.default_rng(7)
    n = 200_000
    ids = np.array([f"D{i}" for i in range(n)], dtype=object)
    created = T("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    depth = rng.integers(0, 3, n)
    deal = np.repeat(np.arange(n), depth + 1)
    step = np.arange(len(deal)) - np.repeat(np.cumsum(depth + 1) - (depth + 1), depth + 1)
    at = created[deal] + pd.to_timedelta(step * 7, unit="D")
    outcome = rng.choice(["open", "won", "lost"], n)
    closed = outcome != "open"
    close_at = created + pd.to_timedelta(depth * 7 + 10, unit="D")
    history = pd.concat(
        [
            pd.DataFrame(
                {
                    "opportunity_id": ids[deal],
                    "stage": np.array(STAGES.open_stages, dtype=object)[step],
                    "entered_at": at,
                }
            ),
            pd.DataFrame(
                {
                    "opportunity_id": ids[closed],
                    "stage": np.where(outcome[closed] == "won", "Won", "Lost"),
                    "entered_at": close_at[closed],
                }
            ),
        ],
        ignore_index=True,
    )
    last = np.array(STAGES.open_stages, dtype=object)[depth]
    opps = pd.DataFrame(
        {
            "id": ids,
            "owner": rng.choice([f"r{i}" for i in range(300)], n),
            "team": "T",
            "region": "EU",
            "product": "X",
            "amount": rng.gamma(2.0, 500.0, n),
            "amount_estimated": False,
            "status": outcome,
            "stage": np.where(outcome == "won", "Won", np.where(outcome == "lost", "Lost", last)),
            "created_at": created,
            "closed_at": pd.Series(close_at).where(closed).to_numpy(),
        }
    )
    report = compute_kpis(history_of(opps, history), by="rep", period="month")
    assert {g["group"] for g in report.to_dict()["groups"]} == set(opps["owner"])
    assert report.overall["won"] == int((outcome == "won").sum())
    assert report.overall["funnel"][0]["reached"] == n


# --- the shared CRM export ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm() -> dict:
    """The export read by the importer (as its `DealHistory`, with the dataset's options), and
    the raw CSV files for independent figures."""
    if not CRM.is_dir():
        pytest.skip(f"shared CRM data not found at {CRM.resolve()}")
    export = read_export(CRM)
    history = DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options
    )
    raw = pd.read_csv(CRM / "sales_pipeline.csv", parse_dates=["engage_date", "close_date"])
    teams = pd.read_csv(CRM / "sales_teams.csv")
    products = pd.read_csv(CRM / "products.csv")
    return {"history": history, "raw": raw, "teams": teams, "products": products}


def kpis_of(crm: dict, **kwargs: object) -> KpiReport:
    return compute_kpis(crm["history"], **kwargs)


@pytest.mark.slow
def test_shared_data_outcomes_match_the_raw_file(crm):
    raw, overall = crm["raw"], kpis_of(crm).overall
    counts = raw["deal_stage"].value_counts()
    assert (counts["Won"], counts["Lost"], counts["Engaging"], counts["Prospecting"]) == (
        4238,
        2473,
        1589,
        500,
    )
    assert (overall["won"], overall["lost"], overall["open"]) == (4238, 2473, 1589 + 500)
    assert overall["win_rate"] == pytest.approx(4238 / 6711)
    pipe = stage_rows(overall, "open_pipeline")
    assert (pipe["Prospecting"]["deals"], pipe["Engaging"]["deals"]) == (500, 1589)


@pytest.mark.slow
def test_shared_data_sale_value_and_cycle_match_the_raw_file(crm):
    raw, overall = crm["raw"], kpis_of(crm).overall
    won = raw[raw["deal_stage"] == "Won"]
    closed = raw[raw["deal_stage"].isin(["Won", "Lost"])]
    assert overall["average_sale_value"] == pytest.approx(won["close_value"].mean())
    assert overall["won_revenue"] == pytest.approx(won["close_value"].sum())
    won_days = (won["close_date"] - won["engage_date"]).dt.days
    closed_days = (closed["close_date"] - closed["engage_date"]).dt.days
    cycle = overall["time_to_close"]
    assert cycle["won"]["median_days"] == won_days.median() == 57
    assert cycle["won"]["p90_days"] == pytest.approx(won_days.quantile(0.9))
    assert cycle["closed"]["median_days"] == closed_days.median() == 45
    # Engaging ends at the close, so the stay in it is the engage -> close time.
    engaging = stage_rows(overall, "time_in_stage")["Engaging"]
    assert engaging["median_days"] == closed_days.median()
    assert engaging["completed_stays"] == len(closed)
    velocity = (1589 + 500) * (4238 / 6711) * won["close_value"].mean() / won_days.median()
    assert overall["pipeline_velocity_per_day"] == pytest.approx(velocity)
    assert overall["csat"] is None  # this export has no satisfaction scores


@pytest.mark.slow
def test_shared_data_funnel_and_estimated_open_value(crm):
    raw, products, overall = crm["raw"], crm["products"], kpis_of(crm).overall
    funnel = stage_rows(overall, "funnel")
    assert funnel["Prospecting"]["reached"] == len(raw)
    assert funnel["Engaging"]["reached"] == int(raw["engage_date"].notna().sum()) == 8300
    # Of the deals that left Engaging (won or lost), those won; the 1,589 still in it aside.
    assert funnel["Engaging"]["still_in_stage"] == 1589
    assert funnel["Engaging"]["conversion"] == pytest.approx(4238 / (8300 - 1589))
    # Open deals carry no value in the export: the product's list price stands in.
    price = products.set_index("product")["sales_price"]
    prospects = raw[raw["deal_stage"] == "Prospecting"]
    listed = prospects["product"].replace({"GTXPro": "GTX Pro"}).map(price)
    pipe = stage_rows(overall, "open_pipeline")["Prospecting"]
    assert pipe["value"] == pytest.approx(listed.sum())
    assert pipe["estimated_value"] == pytest.approx(listed.sum())


@pytest.mark.slow
def test_shared_data_regional_win_rates_match_the_raw_join(crm):
    joined = crm["raw"].merge(crm["teams"], on="sales_agent", how="left")
    closed = joined[joined["deal_stage"].isin(["Won", "Lost"])]
    expected = closed.groupby("regional_office")["deal_stage"].apply(lambda s: (s == "Won").mean())
    report = kpis_of(crm, by="region")
    got = {g["group"]: g["win_rate"] for g in report.to_dict()["groups"]}
    assert set(got) == set(expected.index) == {"Central", "East", "West"}
    for region, rate in expected.items():
        assert got[region] == pytest.approx(rate)
    assert report.overall["won"] == 4238
    assert report.overall["win_rate"] == pytest.approx(4238 / (4238 + 2473))


@pytest.mark.slow
def test_shared_data_quarterly_wins_match_close_quarters(crm):
    raw = crm["raw"]
    won = raw[raw["deal_stage"] == "Won"]
    expected = won["close_date"].dt.to_period("Q").astype(str).str.replace("Q", "-Q")
    expected = expected.value_counts().to_dict()
    report = kpis_of(crm, period="quarter")
    got = {g["period"]: g["won"] for g in report.to_dict()["groups"] if g["won"]}
    assert got == expected


@pytest.mark.slow
def test_shared_data_as_of_mid_year_counts_only_closes_known_then(crm):
    raw = crm["raw"]
    as_of = T("2017-06-30")
    # Known at the instant 2017-06-30 00:00: engaged and closed on earlier days, not that day.
    engaged = raw["engage_date"] < as_of
    closed_by_then = engaged & (raw["close_date"] < as_of)
    assert (raw["close_date"] == as_of).sum() > 0  # the boundary is exercised
    won = int((closed_by_then & (raw["deal_stage"] == "Won")).sum())
    lost = int((closed_by_then & (raw["deal_stage"] == "Lost")).sum())
    overall = kpis_of(crm, as_of=as_of).overall
    assert (overall["won"], overall["lost"]) == (won, lost)
    assert overall["open"] == int((engaged & ~closed_by_then).sum())
    assert overall["win_rate"] == pytest.approx(won / (won + lost))


def test_asking_for_a_group_the_report_lacks_is_not_found(pipeline):
    with pytest.raises(NotFound, match="West"):
        compute_kpis(pipeline, by="team").row("West")
