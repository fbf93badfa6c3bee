"""GET /v1/forecast when a CRM pushes one deal far bigger than the rest: the range still shows
what the other open deals bring, not zero."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, import_generated, keys_of_every_role

QUERY = {"dataset": "crm", "period": "2024-Q3", "as_of": "2024-07-01"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(state_dir=tmp_path_factory.mktemp("forecast-big-deal"), key_cache_seconds=0)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    import_generated(settings)
    api_keys = keys_of_every_role(settings)
    with TestClient(create_app(settings)) as test_client:
        yield test_client, api_keys


def test_a_huge_deal_does_not_zero_the_range_of_the_open_pipeline(client):
    api, api_keys = client
    before = api.get("/v1/forecast", params=QUERY, headers=auth(api_keys["viewer"]))
    assert before.status_code == 200, before.text
    usual = before.json()["total"]
    assert usual["p10"] > 0
    # open at the as-of date (created before it), won inside the period: the largest amount a
    # deal may have
    deal = {
        "stage": "Won",
        "amount": 1e15,
        "team": "Team Haddad",
        "created_at": "2024-06-03T00:00:00",
        "updated_at": "2024-08-15T00:00:00",
        "closed_at": "2024-08-15T00:00:00",
    }
    pushed = api.put(
        "/v1/opportunities/enterprise-1",
        params={"dataset": "crm"},
        json=deal,
        headers=auth(api_keys["scorer"]),
    )
    assert pushed.status_code == 200, pushed.text
    after = api.get("/v1/forecast", params=QUERY, headers=auth(api_keys["viewer"]))
    assert after.status_code == 200, after.text
    total = after.json()["total"]
    assert total["expected"] > usual["expected"] + 1e12  # the huge deal is in the forecast
    assert total["p10"] > 0
    # below the huge deal's chance, the range is what the other deals bring
    assert total["p10"] == pytest.approx(usual["p10"], rel=0.5)
    assert total["p10"] <= total["p50"] <= total["p90"]
