"""GET /v1/pipeline/waterfall: managers read how the pipeline moved between two dates, per
group, with the deals behind each bar, and download every deal as CSV; bad input is a 422 that
names the field."""

from __future__ import annotations

import csv
import io

import pytest

from tests.serving.conftest import auth, import_generated

URL = "/v1/pipeline/waterfall"


@pytest.fixture
def viewer(settings, client, api_keys):
    import_generated(settings)
    return auth(api_keys["viewer"])


def _moved(line: dict, bars: list[dict]) -> float:
    return sum(line[b["bar"]] * (1 if b["sign"] == "+" else -1) for b in bars)


def test_the_waterfall_balances_per_team_and_lists_the_deals_behind_each_bar(client, viewer):
    got = client.get(
        URL, params={"from": "2024-04-01", "to": "2024-05-01", "by": "team"}, headers=viewer
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["dataset"] == "crm" and body["from"] == "2024-04-01"
    for line in [body["total"], *body["groups"]]:
        assert line["start"] + _moved(line, body["bars"]) == pytest.approx(line["end"], abs=0.005)
    assert body["total"]["created"] > 0 and body["total"]["won"] > 0
    won = body["deals"]["won"]
    assert 0 < len(won) <= 20 and body["deals_total"]["won"] >= len(won)
    assert [d["amount"] for d in won] == sorted((d["amount"] for d in won), reverse=True)
    assert {"id", "group", "stage_start", "stage_end", "closed_at"} <= set(won[0])


def test_one_group_and_its_deals_as_csv(client, viewer):
    params = {"from": "2024-04-01", "to": "2024-05-01", "by": "team"}
    teams = [g["group"] for g in client.get(URL, params=params, headers=viewer).json()["groups"]]
    one = client.get(URL, params={**params, "group": teams[0]}, headers=viewer).json()
    assert [g["group"] for g in one["groups"]] == [teams[0]]
    assert all(d["group"] == teams[0] for bar in one["deals"].values() for d in bar)
    got = client.get(URL, params={**params, "group": teams[0], "format": "csv"}, headers=viewer)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert len(rows) == sum(one["deals_total"].values())
    assert {r["group"] for r in rows} == {teams[0]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2024-05-01", "to": "2024-04-01"}, "to"),
        ({"from": "not a date"}, "from"),
        ({"from": "2024-04-01", "period": "2024-Q9"}, "period"),
        ({"from": "2024-04-01", "by": "colour"}, "by"),
        ({"from": "2024-04-01", "group": "Team A"}, "group"),
        ({"from": "2024-04-01", "deals_per_bar": 10**9}, "deals_per_bar"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(client, viewer, params, field):
    got = client.get(URL, params=params, headers=viewer)
    assert got.status_code == 422, got.text
    assert field in got.text


def test_an_unknown_group_is_a_404_and_no_key_is_a_401(client, viewer):
    params = {"from": "2024-04-01", "to": "2024-05-01", "by": "team", "group": "Nobody"}
    assert client.get(URL, params=params, headers=viewer).status_code == 404
    assert client.get(URL, params={"from": "2024-04-01"}).status_code == 401


def test_why_the_forecast_moved_adds_up(client, viewer):
    got = client.get(
        "/v1/forecast/waterfall",
        params={"period": "2024-Q3", "from": "2024-07-08", "to": "2024-07-22"},
        headers=viewer,
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["expected_from"] + sum(body["bars"].values()) == pytest.approx(
        body["expected_to"], abs=0.1
    )
    assert set(body["deals"]) == set(body["bars"]) - {"not_yet_created"}
    assert {"won_before_period", "lost_before_period", "slipped"} <= set(body["bars"])
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    described = schema["ForecastWaterfallResponse"]["properties"]["bars"]["description"]
    assert "won_before_period / lost_before_period: closed before the period" in described
    bad = client.get(
        "/v1/forecast/waterfall",
        params={"period": "2024-Q3", "from": "2024-07-22", "to": "2024-07-08"},
        headers=viewer,
    )
    assert bad.status_code == 422 and "to: must be after from" in bad.text
