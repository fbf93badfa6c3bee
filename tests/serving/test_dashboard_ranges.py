"""The dashboard says what its figures mean in a manager's words: a range ("P10 – P90" is where
the revenue should land 8 times out of 10), a missing target (none set, and how to set one), a
deal's earlier probability (only when it moved, and when), the team table's total (All teams)."""

from __future__ import annotations

import re

import pytest

from tests.dashboard_env import TEAM
from tests.serving.test_dashboard import app, client, env, viewer  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def section(html: str, name: str) -> str:
    part = html[html.index(f'id="{name}"') :]
    return part[: part.index("</section>")]


@pytest.mark.parametrize("name", ["forecast", "teams"])
def test_the_p10_p90_range_says_what_it_means(viewer, name):  # noqa: F811
    text = re.sub(r"<[^>]+>", " ", section(viewer.get("/").text, name))
    assert "P10" in text and "8 times out of 10" in text, text[:400]


def test_a_period_without_a_target_says_none_is_set_and_how_to_set_one(viewer):  # noqa: F811
    without = section(viewer.get("/", params={"period": "2018-Q1", "team": TEAM}).text, "forecast")
    assert 'id="no-target"' in without and "forecast targets import" in without
    with_target = section(viewer.get("/", params={"period": "2017-Q4"}).text, "forecast")
    assert 'id="no-target"' not in with_target


def test_a_deals_earlier_probability_is_shown_only_when_it_moved_and_says_when(
    viewer,  # noqa: F811
    monkeypatch,
):
    from serving.dashboard import page as overview

    real = overview.deals_at_risk

    def moved_and_unmoved(*args, **kwargs):
        report = real(*args, **kwargs)
        unmoved, moved = report.deals[0], report.deals[1]
        unmoved["probability_before"] = unmoved["probability"]
        moved["probability_before"] = round(moved["probability"] + 0.2, 4)
        return report

    monkeypatch.setattr(overview, "deals_at_risk", moved_and_unmoved)
    risk = section(viewer.get("/", params={"period": "2017-Q2"}).text, "risk")
    rows = re.findall(r"<tr data-deal=.*?</tr>", risk, re.S)
    probability = [re.search(r'data-field="probability".*?</td>', r, re.S).group(0) for r in rows]
    assert "was" not in probability[0] and "ago" not in probability[0], probability[0]
    assert re.search(r"\d+ days ago: \d", probability[1]), probability[1]


def test_the_team_tables_total_row_reads_all_teams(viewer):  # noqa: F811
    table = section(viewer.get("/").text, "teams")
    total = re.search(r'<tr class="total" data-group="total"><td>([^<]*)</td>', table)
    assert total and total.group(1) == "All teams", total and total.group(1)
