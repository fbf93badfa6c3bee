"""GET /v1/forecast: managers read the revenue forecast per group against the stored targets."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.data import store
from forecast.forecasting import naive, track_record
from forecast.forecasting.targets import set_targets
from forecast.history import load_deal_history
from forecast.periods import parse_period
from forecast.settings import Settings
from serving.app import create_app
from tests.forecast import synthetic
from tests.serving.conftest import auth, import_generated, keys_of_every_role


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(state_dir=tmp_path_factory.mktemp("forecast-api"), key_cache_seconds=0)


@pytest.fixture(scope="module")
def api_keys(settings: Settings) -> dict[str, str]:
    import_generated(settings)
    set_targets(
        store.get_engine(settings),
        [
            {"level": "team", "name": "Team Haddad", "period": "2024-Q3", "amount": 120_000},
            {"level": "all", "period": "2024-Q3", "amount": 800_000},
        ],
    )
    return keys_of_every_role(settings)


@pytest.fixture(scope="module")
def viewer(settings: Settings, api_keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(api_keys["viewer"]))
        yield client


def test_the_forecast_per_team_shows_each_target_and_its_chance(viewer):
    response = viewer.get("/v1/forecast", params={"period": "2024-Q3", "by": "team"})
    assert response.status_code == 200
    body = response.json()
    assert (body["dataset"], body["by"], body["as_of"]) == ("crm", "team", "2024-07-01")
    assert body["period"] == {
        "label": "2024-Q3",
        "start": "2024-07-01",
        "end": "2024-10-01",
        "freq": "quarter",
    }
    lines = {g["group"]: g for g in body["groups"]}
    assert len(lines) > 1
    haddad = lines["Team Haddad"]
    assert haddad["target"] == 120_000.0 and 0 <= haddad["p_target"] <= 1
    assert haddad["p10"] <= haddad["p50"] <= haddad["p90"]
    assert body["total"]["group"] == "total" and body["total"]["target"] == 800_000.0
    assert body["total"]["deals"] == sum(g["deals"] for g in body["groups"])
    assert {(t["level"], t["name"]) for t in body["targets"]} == {
        ("all", "total"),
        ("team", "Team Haddad"),
    }


def test_one_group_is_its_own_line(viewer):
    body = viewer.get(
        "/v1/forecast", params={"period": "2024-Q3", "by": "team", "group": "Team Haddad"}
    ).json()
    assert body["group"] == "Team Haddad"
    assert [g["group"] for g in body["groups"]] == ["Team Haddad"]
    assert body["total"] == body["groups"][0] and body["total"]["target"] == 120_000.0


def test_the_total_alone_and_an_explicit_as_of(viewer):
    body = viewer.get(
        "/v1/forecast", params={"period": "2024-08", "as_of": "2024-08-15T00:00:00Z"}
    ).json()
    assert body["by"] is None and body["groups"] == []
    assert body["as_of"] == "2024-08-15" and body["total"]["target"] is None


def test_an_unknown_period_is_422_naming_it(viewer):
    response = viewer.get("/v1/forecast", params={"period": "2024-Q5"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("unknown period '2024-Q5'")


def test_a_group_with_no_deals_is_404_naming_it(viewer):
    response = viewer.get(
        "/v1/forecast", params={"period": "2024-Q3", "by": "team", "group": "Team Nobody"}
    )
    assert response.status_code == 404
    assert "no deals for team 'Team Nobody' in dataset 'crm'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"period": "2024-Q3", "group": "Team Haddad"}, 422, "needs `by`"),
        ({"period": "2024-Q3", "by": "colour"}, 422, None),
        ({"period": "2024-Q3", "as_of": "yesterday"}, 422, None),
        ({"period": "2024-Q3", "dataset": "nope"}, 404, "no dataset named 'nope'"),
        ({"period": "1999"}, 409, "no deal had closed before 1999-01-01"),
        (
            {"period": "2017-07", "as_of": "5197-08-29T18:51:43Z"},
            422,
            "as_of (5197-08-29) is more than 730 days after the data ends",
        ),
        ({"period": "2263-Q1"}, 422, "period 2263-Q1 (2263-01-01) is more than 730 days"),
        ({}, 422, None),
    ],
)
def test_bad_requests_are_clear_4xx(viewer, params, status, says):
    response = viewer.get("/v1/forecast", params=params)
    assert response.status_code == status
    if says:
        assert says in response.json()["detail"]


def test_only_viewers_and_admins_read_forecasts(viewer, api_keys):
    scorer = viewer.get(
        "/v1/forecast", params={"period": "2024-Q3"}, headers=auth(api_keys["scorer"])
    )
    assert scorer.status_code == 403
    admin = viewer.get(
        "/v1/forecast", params={"period": "2024-Q3"}, headers=auth(api_keys["admin"])
    )
    assert admin.status_code == 200


def test_the_forecast_says_how_far_it_was_off_before_and_gives_the_naive_forecasts(
    viewer, settings
):
    """After a backtest kept a track record, the response carries, beside the forecast users
    get, how far it and ours were off at this horizon, and the naive forecasts now."""
    engine = store.get_engine(settings)
    record = synthetic.track_record({"model": 0.3, "last_period": 0.05}, "2023-01-02")
    shown = record[record["method"] == "last_period"].assign(method="chosen")
    held = [i % 4 != 0 for i in range(len(shown))]  # the range missed every fourth window
    shown["p10"] = shown["actual"].where(held, shown["actual"] * 2) * 0.9
    shown["p90"] = shown["actual"].where(held, shown["actual"] * 2) * 1.1
    track_record.save(engine, "crm", "quarter", pd.concat([record, shown]))
    try:
        body = viewer.get("/v1/forecast", params={"period": "2024-Q3", "by": "team"}).json()
    finally:
        track_record.save(engine, "crm", "quarter", record.iloc[:0])
    past = body["past_accuracy"]
    assert body["headline"]["method"] == "last_period" and body["headline"]["past"] == past
    assert past["shown"]["method"] == "chosen" and past["shown"]["n"] == 12
    assert past["shown"]["median_ape"] == pytest.approx(0.05)
    assert past["shown"]["coverage"]["hits"] == 9 and past["shown"]["coverage"]["n"] == 12
    lo, hi = past["shown"]["coverage"]["wilson_95"]
    assert 0.4 < lo < 0.75 < hi < 0.95
    assert past["model"]["median_ape"] == pytest.approx(0.3)
    t = pd.Timestamp("2024-07-01")
    history = load_deal_history(engine, "crm").known_before(t)
    last = naive.last_period(naive.won_before(history, "team"), t, parse_period("2024-Q3"))
    assert body["naive"]["total"]["last_period"] == pytest.approx(last.sum(), abs=0.01)
    assert body["headline"]["forecast"] == pytest.approx(last.sum(), abs=0.01)
    assert body["naive"]["total"]["weighted_pipeline"] == body["total"]["weighted_pipeline"]
    for g in body["groups"]:
        mine = body["naive"]["groups"][g["group"]]
        assert mine["last_period"] == pytest.approx(last.get(g["group"], 0.0), abs=0.01)
    assert set(body["naive"]["labels"]) == {
        "run_rate",
        "last_period",
        "last_year",
        "weighted_pipeline",
    }


def test_a_period_over_is_shown_beside_what_it_won_as_the_kpis_count_it(viewer):
    """2024-Q3 is over in the data (it ends on 2024-12-31): its forecast, made as of its start,
    comes with what it won, per team and in total, as GET /v1/kpis counts it; one team's
    forecast with that team's. A forecast as of the data's end has none."""
    body = viewer.get("/v1/forecast", params={"period": "2024-Q3", "by": "team"}).json()
    kpis = viewer.get("/v1/kpis", params={"period": "quarter", "by": "team"}).json()
    won = {g["group"]: g["won_revenue"] for g in kpis["groups"] if g["period"] == "2024-Q3"}
    actual = body["actual"]
    assert (actual["through"], actual["complete"]) == ("2024-09-30", True)
    assert actual["groups"] == pytest.approx({g: v for g, v in won.items() if v})
    assert actual["total"] == pytest.approx(sum(won.values()))
    one = viewer.get(
        "/v1/forecast", params={"period": "2024-Q3", "by": "team", "group": "Team Haddad"}
    ).json()["actual"]
    assert one["total"] == one["groups"]["Team Haddad"] == pytest.approx(won["Team Haddad"])
    assert viewer.get("/v1/forecast", params={"period": "2025-Q1"}).json()["actual"] is None


def test_without_a_track_record_the_run_rate_leads_with_no_past_accuracy(viewer):
    body = viewer.get("/v1/forecast", params={"period": "2024-Q3"}).json()
    assert body["headline"]["method"] == "run_rate" and body["past_accuracy"] is None
    assert body["headline"]["forecast"] == pytest.approx(body["naive"]["total"]["run_rate"])
    assert body["naive"]["total"]["run_rate"] > 0 and body["naive"]["groups"] == {}
    assert any("forecast backtest --data crm" in n for n in body["notes"])


def test_an_as_of_date_past_the_datas_end_forecasts_as_of_its_end_and_says_so(viewer):
    """The generated deals end on 2024-12-31. Weeks after it are not weeks in which nothing
    was won: a forecast asked as of 2025-02-15 is made as of the data's end (2025-01-01, its
    "now"), the same forecast, and its notes say why."""
    at_end = viewer.get("/v1/forecast", params={"period": "2025-Q1"}).json()
    later = viewer.get("/v1/forecast", params={"period": "2025-Q1", "as_of": "2025-02-15"})
    assert later.status_code == 200, later.text
    body = later.json()
    assert at_end["as_of"] == body["as_of"] == "2025-01-01"
    assert body["total"]["expected"] == pytest.approx(at_end["total"]["expected"])
    assert (
        "as of 2025-01-01, not 2025-02-15: the data ends on 2024-12-31 and what happened since "
        "is not in it" in " ".join(body["notes"])
    )
    assert not any("not 2025" in n for n in at_end["notes"])


def test_a_period_over_before_the_as_of_date_is_refused_naming_as_of(viewer):
    response = viewer.get("/v1/forecast", params={"period": "2024-Q2", "as_of": "2024-08-01"})
    assert response.status_code == 422, response.text
    said = response.text
    assert "as_of (2024-08-01) is not before the end of 2024-Q2 (2024-07-01)" in said
    assert "leave as_of out to see its forecast as made at its start" in said
    # Left out: the period's forecast as made at its start, beside what it won.
    made = viewer.get("/v1/forecast", params={"period": "2024-Q2"})
    assert made.status_code == 200 and made.json()["as_of"] == "2024-04-01"


def test_owner_is_the_rep_in_every_route_that_groups(viewer):
    """Imports and CRMs call a deal's rep its `owner`: `by=owner` gives what `by=rep` gives,
    said as `rep`, in the forecast, its history, the KPIs and the pipeline waterfall."""
    for path, params in [
        ("/v1/forecast", {"period": "2024-Q3"}),
        ("/v1/kpis", {"period": "quarter"}),
        ("/v1/pipeline/waterfall", {"from": "2024-07-01", "to": "2024-10-01"}),
    ]:
        rep = viewer.get(path, params={**params, "by": "rep"})
        owner = viewer.get(path, params={**params, "by": "owner"})
        assert owner.status_code == rep.status_code == 200, (path, owner.text)
        said, expected = owner.json(), rep.json()
        assert said["by"] == "rep"
        said.pop("tracking", None), expected.pop("tracking", None)
        assert said == expected, path
    history = viewer.get(
        "/v1/forecast/history", params={"period": "2024-Q3", "by": "owner", "group": "nobody"}
    )
    assert history.status_code == 404 and "rep 'nobody'" in history.json()["detail"]
