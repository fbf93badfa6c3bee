"""Degraded is not ready: `/readyz` answers 503 when a fallback stands in for a champion that
should serve (the registry unreachable, its store not there) or deals cannot be scored, says so
in plain words to anyone and in full only to a viewer's key; an admin reload against a registry
that is away returns, and does not swap a good set for a worse one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast import scoring
from forecast.data import store
from forecast.data.generator import generate_leads, generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from serving.app import create_app
from tests.forecast.test_mlflow_timeouts import RegistryStub
from tests.serving.conftest import auth

DEAL = {"stage": "Demonstration", "created_at": "2024-11-01T00:00:00", "amount": 5000}
NOT_READY = {"store": True, "models": False}


@pytest.fixture(scope="module")
def pipeline():  # noqa: ANN201 - generated deals: what the per-stage fallback scores by
    return generate_pipeline(400, seed=7)


def _import(settings: Settings, pipeline, dataset: str = "crm") -> None:  # noqa: ANN001
    frame = pipeline.opportunities.drop(columns=["status"])
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset=dataset)


def _import_leads(settings: Settings) -> None:
    """Labelled leads: what the base-rate fallback scores by."""
    frame = generate_leads(300, seed=2).drop(columns=["created_at"])
    frame = frame.rename(columns={"id": "Prospect ID", "converted": "Converted"})
    import_frame(
        store.get_engine(settings), frame, load_mapping("x_education_leads"), dataset="web"
    )


def _with(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"mlflow_timeout_seconds": 1.0, **changes})


@pytest.fixture
def silent() -> Iterator[RegistryStub]:
    with RegistryStub(silent=True) as stub:
        yield stub


def _leaks(text: str, *secrets: str) -> list[str]:
    words = ["http://", "127.0.0.1", "mlflow", "sqlite", "select", "timed out", *secrets]
    return [w for w in words if w.lower() in text.lower()]


# --- the registry away at start-up --------------------------------------------------------------


def test_a_registry_away_at_start_up_leaves_the_instance_not_ready_saying_why_in_plain_words(
    settings, api_keys, pipeline, silent
):
    settings = _with(settings, mlflow_tracking_uri=silent.uri)
    _import(settings, pipeline)
    _import_leads(settings)
    with TestClient(create_app(settings)) as client:
        assert silent.requests == 1  # one wait for the whole start-up
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "ready": False,
            "checks": NOT_READY,
            "problems": [f"leads: {scoring.REGISTRY_DOWN}", f"deals: {scoring.REGISTRY_DOWN}"],
        }
        assert _leaks(response.text, silent.uri) == []
        # The fallback still answers a request sent to this instance, and says what it is.
        scored = client.post("/v1/deals/score", json=DEAL, headers=auth(api_keys["scorer"]))
        assert scored.status_code == 200 and scored.json()["method"] == "stage_win_rate"


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_a_viewer_or_admin_key_sees_which_server_failed_and_how(
    settings, api_keys, pipeline, silent, role
):
    settings = _with(settings, mlflow_tracking_uri=silent.uri)
    _import(settings, pipeline)
    with TestClient(create_app(settings)) as client:
        body = client.get("/readyz", headers=auth(api_keys[role])).json()
    assert body["ready"] is False and body["checks"] == NOT_READY
    assert any(silent.uri in p and "timed out" in p for p in body["problems"])
    assert body["models"]["deals"]["source"] == "fallback"


@pytest.mark.parametrize("key", [None, "scorer", "fk_not-a-key"])
def test_without_a_viewer_key_no_url_or_path_is_shown(settings, api_keys, pipeline, key):
    missing = settings.state_dir.parent / "elsewhere" / "mlflow.db"
    settings = _with(settings, mlflow_tracking_uri=f"sqlite:///{missing}")
    _import(settings, pipeline)
    headers = auth(api_keys.get(key, key)) if key else {}
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz", headers=headers)
    assert response.status_code == 503
    assert _leaks(response.text, str(missing), "elsewhere") == []


def test_a_tracking_store_named_in_the_settings_that_is_not_there_is_degraded_and_not_made(
    settings, api_keys, pipeline
):
    missing = settings.state_dir.parent / "new-folder" / "mlflow.db"
    settings = _with(settings, mlflow_tracking_uri=f"sqlite:///{missing}")
    _import(settings, pipeline)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert f"deals: {scoring.REGISTRY_DOWN}" in response.json()["problems"]
        detailed = client.get("/readyz", headers=auth(api_keys["viewer"])).json()
        assert any(str(missing) in p for p in detailed["problems"])
    assert not missing.parent.exists()


def test_a_fallback_because_nothing_was_trained_yet_is_ready(settings, api_keys, pipeline):
    _import(settings, pipeline)  # the default embedded store, not made yet: nothing trained
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {
            "ready": True,
            "checks": {"store": True, "models": True},
            "problems": [],
        }
        served = client.get("/v1/models", headers=auth(api_keys["viewer"])).json()
        assert [m["source"] for m in served["models"]] == ["fallback"]
    assert not (settings.state_dir / "mlflow.db").exists()


# --- a dataset that cannot be scored ------------------------------------------------------------


def test_several_deal_datasets_and_none_chosen_serve_each_by_name(settings, api_keys, pipeline):
    """Each dataset has its own models, so several are all served: ready. A request naming
    none, when there is no default, is told which to name (and the public probe names none)."""
    _import_leads(settings)
    _import(settings, pipeline, "north-secret")
    _import(settings, pipeline, "south-secret")
    scorer = auth(api_keys["scorer"])
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["problems"] == []
        assert _leaks(response.text, "secret") == []
        scored = client.post("/v1/deals/score", json=DEAL, headers=scorer)
        assert scored.status_code == 422
        detail = scored.json()["detail"]
        assert "north-secret" in detail and "south-secret" in detail and "?dataset=" in detail
        for name in ("north-secret", "south-secret"):
            named = client.post(f"/v1/deals/score?dataset={name}", json=DEAL, headers=scorer)
            assert named.status_code == 200 and named.json()["dataset"] == name
        detailed = client.get("/readyz", headers=auth(api_keys["viewer"])).json()
        assert {"deals:north-secret", "deals:south-secret"} <= set(detailed["models"])


def test_choosing_the_deal_dataset_makes_it_ready(settings, pipeline):
    _import(settings, pipeline, "north")
    _import(settings, pipeline, "south")
    with TestClient(create_app(settings.model_copy(update={"deal_dataset": "south"}))) as client:
        assert client.get("/readyz").status_code == 200


def test_a_chosen_deal_dataset_that_is_not_in_the_store_is_not_ready(settings, pipeline):
    _import_leads(settings)
    _import(settings, pipeline, "north")
    with TestClient(create_app(settings.model_copy(update={"deal_dataset": "west"}))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == [scoring.DATASET_MISSING]


# --- an admin reload against a registry that is away --------------------------------------------


def test_a_reload_against_a_silent_registry_returns_and_keeps_the_set_that_serves(
    settings, api_keys, pipeline
):
    with RegistryStub(silent=False) as registry:  # answers: no champion registered yet
        settings = _with(settings, mlflow_tracking_uri=registry.uri)
        _import(settings, pipeline)
        with TestClient(create_app(settings)) as client:
            assert client.get("/readyz").status_code == 200  # the fallback, rightly
            serving = client.app.state.models
            registry.silent = True
            before = registry.requests
            response = client.post("/v1/admin/reload", headers=auth(api_keys["admin"]))
            assert registry.requests == before + 1
            assert response.status_code == 503
            assert "reload not applied" in response.json()["detail"]
            assert scoring.REGISTRY_DOWN in response.json()["detail"]
            assert client.app.state.models.deal is serving.deal
            assert client.get("/readyz").status_code == 200
            detailed = client.get("/readyz", headers=auth(api_keys["viewer"])).json()
            assert any(p.startswith("reload not applied") for p in detailed["problems"])


def test_a_reload_of_a_degraded_instance_swaps_in_the_fresh_set(
    settings, api_keys, pipeline, silent
):
    settings = _with(settings, mlflow_tracking_uri=silent.uri)
    _import(settings, pipeline)
    with TestClient(create_app(settings)) as client:
        old = client.app.state.models
        response = client.post("/v1/admin/reload", headers=auth(api_keys["admin"]))
        assert response.status_code == 200 and silent.requests == 2  # one wait per load
        assert client.app.state.models is not old
        assert any(silent.uri in p for p in response.json()["problems"])


def test_a_second_reload_while_one_runs_is_told_to_retry(settings, api_keys, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def slow_load(settings, engine):  # noqa: ANN001, ANN202 - stands in for the registry
        started.set()
        release.wait(30)
        return scoring.ModelSet()

    with TestClient(create_app(settings)) as client:
        monkeypatch.setattr(scoring, "load_model_set", slow_load)
        admin = auth(api_keys["admin"])
        first: list[int] = []
        worker = threading.Thread(
            target=lambda: first.append(client.post("/v1/admin/reload", headers=admin).status_code)
        )
        worker.start()
        assert started.wait(30)
        second = client.post("/v1/admin/reload", headers=admin)
        release.set()
        worker.join(30)
    assert second.status_code == 503 and "already running" in second.json()["detail"]
    assert second.headers["retry-after"] == str(settings.retry_after_seconds)
    assert first == [200]


def test_scoring_with_no_champion_and_nothing_stored_says_what_to_do(settings, api_keys):
    """A walkthrough trained a lead model from a file (not imported) that was kept as a
    candidate, then scored a lead: 503 "no leads model is ready to score: nothing is loaded
    yet", as if a wait would help. Nothing will load until a model is promoted or leads are
    imported, and the answer now says so."""
    with TestClient(create_app(settings)) as client:
        body = {"id": "l1", "fields": {"Lead Source": "Web"}}
        response = client.post("/v1/leads/score", json=body, headers=auth(api_keys["scorer"]))
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "nothing is loaded yet" not in detail
    assert "no champion" in detail and "forecast models list" in detail
    assert "forecast import" in detail
