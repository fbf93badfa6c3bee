"""A lead's `created_at` as the API reads it: a date the store would read is scored from, one
that is no date (or lies ahead of now) is a 422 naming the field and the value, whatever model
serves the lead and whichever way the request takes (the lead lane or the route)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast import scoring
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth


def _leads(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    """Leads whose conversion depends strongly on coming in at a weekend."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    channel = rng.choice(["web", "event", "referral"], n)
    logit = -1.0 + 2.5 * (created.dayofweek >= 5) + 0.8 * (channel == "referral")
    converted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": converted,
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Channel": channel,
        }
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A lead model that reads the creation date, and one that does not."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("fit"), min_converted_leads=50)
    dated = train_leads(_leads(), settings=settings, cross_validate=False).model
    undated = train_leads(
        _leads().drop(columns=["created_at"]), settings=settings, cross_validate=False
    ).model
    return dated, undated


def _client(settings, api_keys, model) -> TestClient:
    application = create_app(settings)
    application.state.models.lead = scoring.Served(
        scoring.LEAD, select_scorer(model), "1", "registry"
    )
    client = TestClient(application)
    client.headers.update(auth(api_keys["scorer"]))
    return client


@pytest.fixture(params=["dated", "undated"])
def client(request, settings, api_keys, models):
    dated, undated = models
    with _client(settings, api_keys, dated if request.param == "dated" else undated) as c:
        yield c


TOMORROW_AND_MORE = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "32/13/2024",
        12345,
        "2024-02-30",
        "02/10/2024",
        TOMORROW_AND_MORE,
        "0001-01-01",  # a CRM's placeholder for no date (it was scored, as a Monday)
        "0001-01-01T00:00:00+01:00",  # the same with an offset (converting it overflowed: a 500)
        "1899-12-31T23:00:00Z",
    ],
)
def test_a_created_at_that_is_no_date_is_refused_naming_the_field_and_value(client, value):
    body = {"id": "lead-1", "fields": {"Channel": "web", "created_at": value}}
    for _ in range(2):  # the route's answer, then the lane's (the key is remembered by then)
        response = client.post("/v1/leads/score", json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "created_at" in detail
        assert repr(value) in detail


def test_a_batch_with_one_unreadable_created_at_is_refused_saying_which_row(client):
    leads = [
        {"fields": {"Channel": "web", "created_at": "2024-05-04T10:00:00Z"}},
        {"fields": {"Channel": "web", "created_at": "yesterday"}},
    ]
    response = client.post("/v1/leads/score/batch", json={"leads": leads})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "row 1" in detail and "created_at" in detail and "'yesterday'" in detail


@pytest.mark.parametrize(
    "value", ["2025-03-08T10:00:00Z", "2025-03-08 10:00:00", "2025-03-08", "", None]
)
def test_a_readable_or_blank_created_at_is_scored(client, value):
    body = {"fields": {"Channel": "web", "created_at": value}}
    response = client.post("/v1/leads/score", json=body)
    assert response.status_code == 200, response.text


def test_the_weekday_is_read_from_an_iso_date_as_the_model_learnt_it(settings, api_keys, models):
    dated, _ = models
    with _client(settings, api_keys, dated) as c:
        saturday, monday = (
            c.post(
                "/v1/leads/score", json={"fields": {"Channel": "web", "created_at": when}}
            ).json()["probability"]
            for when in ("2025-03-08T10:00:00Z", "2025-03-10T10:00:00+00:00")
        )
    assert saturday > monday + 0.2  # weekend leads converted far more often in training
