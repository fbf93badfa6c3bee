"""Scores are logged off the request path, in batches, and none is lost when the app stops: what
is still queued at shutdown is written then."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forecast.data import store
from forecast.monitoring import ScoreRecorder
from tests.serving.conftest import auth
from tests.serving.test_score_log import LEAD, app, lead_model, logged  # noqa: F401 - fixtures


def test_scores_queued_when_the_app_stops_are_written_then(app, settings, api_keys):  # noqa: F811
    # A writer that would wait an hour between batches: only the shutdown can write these.
    app.state.recorder = ScoreRecorder(
        store.get_engine(settings), batch_size=1_000_000, flush_seconds=3600
    )
    with TestClient(app, headers=auth(api_keys["scorer"])) as client:
        for i in range(5):
            response = client.post("/v1/leads/score", json={"id": f"L{i}", "fields": LEAD})
            assert response.status_code == 200
        assert logged(settings) == []  # not written on the request path
    assert [r["subject_id"] for r in logged(settings)] == [f"L{i}" for i in range(5)]
