"""GET /v1/forecast: managers read the revenue forecast per group against the stored targets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast.data import store
from forecast.forecasting.targets import set_targets
from forecast.settings import Settings
from serving.app import create_app
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
