"""A lead scored with no model yet has the base rate and no grade: one rate for every lead ranks
nothing, and a grade (D at a 21% base rate) would read as "don't call". The API says why."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from forecast import scoring
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from serving.app import create_app
from serving.lead_lane import LeadLane
from serving.schemas import ScoreResponse
from tests.serving.conftest import auth, keys_of_every_role
from tests.serving.test_scores import LEAD

NO_GRADE = "no model yet: every lead has the base rate; no grade"


def _client(tmp_path: Path) -> tuple[TestClient, str]:
    # Key checks remembered, so a second plain request takes the lead lane (the fast path).
    settings = Settings(state_dir=tmp_path / "state", key_cache_seconds=60)
    key = keys_of_every_role(settings)["scorer"]
    app = create_app(settings)
    scorer = select_scorer(None, base_rate=0.21)
    app.state.models.lead = scoring.Served(scoring.LEAD, scorer, None, "fallback")
    return TestClient(app), key


def _no_grade(body: dict) -> None:
    ScoreResponse.model_validate(body)  # null is a grade the schema allows
    assert body["grade"] is None and body["method"] == "base_rate"
    assert (body["probability"], body["score"]) == (0.21, 21)
    assert NO_GRADE in body["notes"]


def test_a_lead_scored_without_a_model_has_no_grade_by_the_route_and_the_lane(tmp_path):
    client, key = _client(tmp_path)
    with client:
        [lane] = [m.kwargs["lane"] for m in client.app.user_middleware if m.kwargs.get("lane")]
        assert isinstance(lane, LeadLane)
        for _ in range(2):  # the first checks the key in the route, the second takes the lane
            response = client.post(
                "/v1/leads/score", json={"id": "l1", "fields": LEAD}, headers=auth(key)
            )
            assert response.status_code == 200
            _no_grade(response.json())
        assert lane.answered == 1


def test_a_batch_of_leads_scored_without_a_model_has_no_grades(tmp_path):
    client, key = _client(tmp_path)
    leads = [{"id": "a", "fields": LEAD}, {"id": "b", "fields": {}}]
    with client:
        response = client.post("/v1/leads/score/batch", json={"leads": leads}, headers=auth(key))
    assert response.status_code == 200
    scores = response.json()["scores"]
    assert [s["id"] for s in scores] == ["a", "b"]
    for body in scores:
        _no_grade(body)


def test_the_schema_says_when_a_score_has_no_grade(tmp_path):
    client, _ = _client(tmp_path)
    grade = client.app.openapi()["components"]["schemas"]["ScoreResponse"]["properties"]["grade"]
    assert {"type": "null"} in grade["anyOf"] and "null when" in grade["description"]
