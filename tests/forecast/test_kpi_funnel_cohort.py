"""The funnel's last step counts the same deals as the stages above it: per period, the deals
created in it that were won (`won_of_created`), whenever they closed; `won` stays the deals won
in the period, whenever created (the outcome figures count by close)."""

from __future__ import annotations

from forecast.kpis import compute_kpis
from serving.dashboard.figures import funnel_figure
from serving.dashboard.page import Section
from tests.forecast.test_kpis import frames, pipeline  # noqa: F401 - fixtures

# Created in January: A (won 1 March), B (won 20 February), F (lost in April); in February:
# C (lost), D (open); in March: E (open).


def test_per_month_the_funnel_ends_in_the_cohort_s_wins_not_the_month_s(pipeline):  # noqa: F811
    report = compute_kpis(pipeline, period="month")
    jan, feb, mar = (report.row(period=p) for p in ("2024-01", "2024-02", "2024-03"))
    assert (jan["won_of_created"], jan["won"]) == (2, 0)  # A and B, won in later months
    assert (feb["won_of_created"], feb["won"]) == (0, 1)  # B won in February, created in January
    assert (mar["won_of_created"], mar["won"]) == (0, 1)  # A
    # The last step never exceeds the last open stage's count, as the old Won bar could.
    assert jan["funnel"][-1]["reached"] == 2 and feb["funnel"][-1]["reached"] == 1


def test_without_a_period_both_counts_are_every_won_deal(pipeline):  # noqa: F811
    overall = compute_kpis(pipeline).overall
    assert overall["won_of_created"] == overall["won"] == 2


def test_grouped_and_split_rows_and_json_carry_the_cohort_count(pipeline):  # noqa: F811
    report = compute_kpis(pipeline, by="team", period="quarter")
    north = report.row("North", "2024-Q2")  # F lost in April: a close-period row, no creations
    assert (north["deals"], north["won_of_created"]) == (0, 0)
    groups = {(g["group"], g["period"]): g for g in report.to_dict()["groups"]}
    assert groups[("North", "2024-Q1")]["won_of_created"] == 2


def test_the_dashboard_funnel_chart_ends_in_the_cohort_s_wins(pipeline):  # noqa: F811
    row = compute_kpis(pipeline, period="month").row(period="2024-02")
    trace = funnel_figure(Section({"row": row}))["data"][0]
    # February: C and D entered, D reached Proposal, neither won; B's win is not this funnel's.
    assert trace["y"] == ["Lead", "Qualified", "Proposal", "Won"]
    assert trace["x"] == [2, 1, 1, 0]
    assert trace["text"][-1] == "0 won"
