"""The score log, through the API: every score served becomes a row naming the request, the model
that scored it and the probability the caller got, written by the time the app stops."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from forecast import features, scoring
from forecast.data import store
from forecast.data.generator import generate_leads
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from serving.app import create_app
from tests.serving.conftest import auth

LEAD = {
    "Lead Origin": "Lead Add Form",
    "Lead Source": "Reference",
    "TotalVisits": 3,
    "Total Time Spent on Website": 800,
}
OTHER = {**LEAD, "Lead Source": "Olark Chat", "Total Time Spent on Website": 20}


@pytest.fixture(scope="module")
def lead_model() -> BoostedClassifier:
    leads = generate_leads(800, seed=3)
    X, _ = features.prepare_leads(leads, ["Tags"])
    return BoostedClassifier(n_estimators=100, n_jobs=2, random_state=1).fit(
        X, features.lead_labels(leads)
    )


@pytest.fixture
def app(settings, lead_model, monkeypatch) -> FastAPI:
    """The app serving `lead_model`; the registry is not consulted (loading is not under test
    here, and an empty MLflow store costs seconds to create)."""
    monkeypatch.setattr(
        scoring,
        "load_model_set",
        lambda settings, engine: scoring.ModelSet(),
    )
    application = create_app(settings)
    application.state.models.lead = scoring.Served(
        scoring.LEAD, select_scorer(lead_model), "4", "registry"
    )
    return application


def logged(settings) -> list[dict]:  # noqa: ANN001
    with store.get_engine(settings).connect() as conn:
        query = select(store.score_log).order_by(store.score_log.c.pk)
        return [dict(r) for r in conn.execute(query).mappings()]


def test_every_score_served_is_logged_with_its_request_model_and_probability(
    app, settings, api_keys
):
    with TestClient(app, headers=auth(api_keys["scorer"])) as client:
        one = client.post(
            "/v1/leads/score",
            json={"id": "L1", "fields": LEAD},
            headers={"X-Request-ID": "req-one"},
        ).json()
        batch = client.post(
            "/v1/leads/score/batch",
            json={"leads": [{"id": "L2", "fields": OTHER}, {"id": "L3", "fields": LEAD}]},
            headers={"X-Request-ID": "req-batch"},
        ).json()["scores"]
        refused = client.post(
            "/v1/leads/score",
            json={"fields": {"a": [1, 2]}},
            headers={"X-Request-ID": "req-refused"},
        )
        assert refused.status_code == 422
    # The app has stopped: what it had queued is written by now.
    rows = logged(settings)
    assert [(r["request_id"], r["kind"], r["model"], r["model_version"]) for r in rows] == [
        ("req-one", "lead", "lead-qualification", "4"),
        ("req-batch", "lead", "lead-qualification", "4"),
        ("req-batch", "lead", "lead-qualification", "4"),
    ]
    served = [one, *batch]
    assert one["probability"] != batch[0]["probability"]  # the rows can tell the leads apart
    assert [r["probability"] for r in rows] == pytest.approx(
        [s["probability"] for s in served], rel=1e-12
    )
    assert [r["score"] for r in rows] == [s["score"] for s in served]
    fingerprints = [r["inputs_fingerprint"] for r in rows]
    assert fingerprints[0] == fingerprints[2] != fingerprints[1]  # same fields, same print


def test_a_request_refused_before_scoring_logs_nothing(app, settings, api_keys):
    with TestClient(app) as client:
        unknown = client.post(
            "/v1/leads/score", json={"fields": LEAD}, headers={"X-API-Key": "not a key"}
        )
        viewer = client.post(
            "/v1/leads/score", json={"fields": LEAD}, headers=auth(api_keys["viewer"])
        )
    assert (unknown.status_code, viewer.status_code) == (401, 403)
    assert logged(settings) == []


def test_a_numeric_lead_id_is_scored_echoed_and_logged_as_its_text(app, settings, api_keys):
    """HubSpot's "Record ID" and Marketo's "Id" are numbers, and a CRM sends them as JSON
    numbers: the lead is scored (it was a 422), its id echoed and logged as the text the store
    keeps lead ids as, so its score meets its outcome; in a single score and a batch alike."""
    with TestClient(app, headers=auth(api_keys["scorer"])) as client:
        one = client.post("/v1/leads/score", json={"id": 131842, "fields": LEAD})
        batch = client.post(
            "/v1/leads/score/batch",
            json={"leads": [{"id": 7, "fields": LEAD}, {"id": "7", "fields": OTHER}]},
        )
    assert one.status_code == 200, one.text
    assert one.json()["id"] == "131842"
    assert batch.status_code == 200, batch.text
    assert [s["id"] for s in batch.json()["scores"]] == ["7", "7"]
    assert sorted(row["subject_id"] for row in logged(settings)) == ["131842", "7", "7"]
