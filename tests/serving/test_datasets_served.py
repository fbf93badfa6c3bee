"""One model per dataset, all served at once: a request scores the dataset it names (or its
key's, or the default), the response says which, and a second dataset trained beside the first
leaves the first one's champion and scores as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecast.data import store
from forecast.data.generator import generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.history import load_deal_history
from forecast.modeling import registry
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings
from serving.app import create_app
from tests.forecast import synthetic
from tests.serving.conftest import auth, keys_of_every_role

A, B = "crm-a", "web-b"
LEAD = {"Lead Source": "Reference", "TotalVisits": 5, "Country": "India", "Do Not Email": "No"}
DEAL = {"stage": "Demonstration", "created_at": "2024-11-01T00:00:00", "amount": 5000}


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        max_body_bytes=10_000,
        key_cache_seconds=0,
        lgbm_threads=2,
        min_converted_leads=50,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        **changes,
    )


def _train(dataset: str, seed: int) -> TrainingResult:
    return train_leads(
        synthetic.leads(1200, seed=seed),
        leak_columns=["Tags"],
        cross_validate=False,
        settings=Settings(lgbm_threads=2, min_converted_leads=50),
        dataset=dataset,
    )


@pytest.fixture(scope="module")
def trained() -> dict[str, TrainingResult]:
    """Two lead datasets' models, fitted on different leads."""
    return {A: _train(A, seed=0), B: _train(B, seed=1)}


@pytest.fixture
def env(tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    settings = _settings(tmp_path)
    return settings, keys_of_every_role(settings)


def _score(client: TestClient, key: str, dataset: str | None = None) -> dict:
    query = f"?dataset={dataset}" if dataset else ""
    response = client.post(f"/v1/leads/score{query}", json={"fields": LEAD}, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_second_lead_dataset_trained_beside_the_first_leaves_its_champion_and_scores(
    env, trained
):
    settings, api_keys = env
    registry.log_training(trained[A], settings)
    scorer = api_keys["scorer"]
    with TestClient(create_app(settings)) as client:
        before = _score(client, scorer)  # the only dataset served: the default
        assert before["dataset"] == A and before["model"] == "lead-qualification.crm-a"
        assert _score(client, scorer, A) == before

        registry.log_training(trained[B], settings)
        reloaded = client.post("/v1/admin/reload", headers=auth(api_keys["admin"]))
        assert reloaded.status_code == 200, reloaded.text
        served = {(m["kind"], m["dataset"]): m for m in reloaded.json()["models"]}
        assert served[("leads", A)]["version"] == "1" and served[("leads", B)]["version"] == "1"

        after = _score(client, scorer, A)
        assert after == before  # same request, same model, same probability and reasons
        other = _score(client, scorer, B)
        assert other["dataset"] == B and other["model"] == "lead-qualification.web-b"
        assert other["version"] == "1" and other["probability"] != before["probability"]

        # Two served, no default: a request naming none is told to name one.
        unnamed = client.post("/v1/leads/score", json={"fields": LEAD}, headers=auth(scorer))
        assert unnamed.status_code == 422
        assert A in unnamed.json()["detail"] and B in unnamed.json()["detail"]
        assert "?dataset=" in unnamed.json()["detail"]
        missing = client.post(
            "/v1/leads/score?dataset=nowhere", json={"fields": LEAD}, headers=auth(scorer)
        )
        assert missing.status_code == 404
        assert (
            "nowhere" in missing.json()["detail"] and "GET /v1/models" in missing.json()["detail"]
        )
    assert registry.champion_version("leads", settings, dataset=A) == "1"


def test_the_default_lead_dataset_scores_a_request_that_names_none(env, trained):
    settings, api_keys = env
    for dataset in (A, B):
        registry.log_training(trained[dataset], settings)
    with TestClient(create_app(settings.model_copy(update={"lead_dataset": B}))) as client:
        assert _score(client, api_keys["scorer"])["dataset"] == B
        assert _score(client, api_keys["scorer"], A)["dataset"] == A
        assert client.get("/readyz").status_code == 200


def test_a_key_bound_to_a_dataset_scores_that_one_only(env, trained):
    settings, api_keys = env
    for dataset in (A, B):
        registry.log_training(trained[dataset], settings)
    admin = auth(api_keys["admin"])
    with TestClient(create_app(settings)) as client:
        made = client.post(
            "/v1/keys", json={"role": "scorer", "name": "B", "dataset": B}, headers=admin
        )
        assert made.status_code == 201 and made.json()["dataset"] == B
        bound = made.json()["key"]
        assert _score(client, bound)["dataset"] == B  # no parameter: its own dataset
        assert _score(client, bound, B)["dataset"] == B
        refused = client.post(
            f"/v1/leads/score?dataset={A}", json={"fields": LEAD}, headers=auth(bound)
        )
        assert refused.status_code == 403
        assert A in refused.json()["detail"] and B in refused.json()["detail"]
        batch = client.post(
            f"/v1/leads/score/batch?dataset={A}",
            json={"leads": [{"fields": LEAD}]},
            headers=auth(bound),
        )
        assert batch.status_code == 403
        listed = {k["name"]: k for k in client.get("/v1/keys", headers=admin).json()}
        assert listed["B"]["dataset"] == B and listed["test scorer"]["dataset"] is None
        unknown = client.post(
            "/v1/keys", json={"role": "scorer", "name": "C", "dataset": "nowhere"}, headers=admin
        )
        assert unknown.status_code == 422 and "nowhere" in unknown.json()["detail"]


# --- deals ----------------------------------------------------------------------------------------


def _import_deals(settings: Settings, dataset: str, seed: int, deals: int = 400) -> None:
    pipeline = generate_pipeline(deals, seed=seed)
    frame = pipeline.opportunities.drop(columns=["status"])
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset=dataset)


@pytest.fixture
def deals_client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = _settings(tmp_path, deal_dataset="north")
    api_keys = keys_of_every_role(settings)
    _import_deals(settings, "north", seed=1)
    _import_deals(settings, "south", seed=2)
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(api_keys["scorer"]))
        yield client, api_keys


def test_deals_score_against_the_default_or_the_named_dataset(deals_client):
    client, _ = deals_client
    default = client.post("/v1/deals/score", json=DEAL).json()
    north = client.post("/v1/deals/score?dataset=north", json=DEAL).json()
    south = client.post("/v1/deals/score?dataset=south", json=DEAL).json()
    assert default == north and north["dataset"] == "north" and south["dataset"] == "south"
    assert north["method"] == south["method"] == "stage_win_rate"
    # Each dataset's own stage win rates: different deals, different rates.
    assert north["probability"] != south["probability"]
    batch = client.post("/v1/deals/score/batch?dataset=south", json={"deals": [DEAL]}).json()
    assert batch["scores"][0] == south
    missing = client.post("/v1/deals/score?dataset=west", json=DEAL)
    assert missing.status_code == 404
    assert "west" in missing.json()["detail"] and "north" not in missing.json()["detail"]


def test_every_score_is_logged_with_the_dataset_it_scored(deals_client):
    client, _ = deals_client
    client.post("/v1/deals/score", json={"id": "n1", **DEAL})
    client.post("/v1/deals/score?dataset=south", json={"id": "s1", **DEAL})
    client.app.state.recorder.flush()
    with client.app.state.engine.connect() as conn:
        rows = conn.execute(store.score_log.select()).mappings().all()
    assert {(r["subject_id"], r["dataset"]) for r in rows} == {("n1", "north"), ("s1", "south")}


def test_the_models_route_lists_every_datasets_model(deals_client):
    client, api_keys = deals_client
    body = client.get("/v1/models", headers=auth(api_keys["viewer"])).json()
    assert {(m["kind"], m["dataset"]) for m in body["models"]} == {
        ("deals", "north"),
        ("deals", "south"),
    }


def test_the_dataset_parameter_is_in_the_spec_and_checked_as_it_says(deals_client):
    client, _ = deals_client
    spec = client.get("/openapi.json").json()
    for path in ("/v1/leads/score", "/v1/leads/score/batch", "/v1/deals/score"):
        param, *more = spec["paths"][path]["post"]["parameters"]
        assert (param["name"], param["in"], param["required"]) == ("dataset", "query", False)
        # A deal is scored as of a date too (default now).
        assert [p["name"] for p in more] == (["as_of"] if "deals" in path else [])
    assert "dataset" in spec["components"]["schemas"]["ScoreResponse"]["required"]
    for bad in ("", "x" * 101):
        response = client.post(f"/v1/deals/score?dataset={bad}", json=DEAL)
        assert response.status_code == 422 and "dataset" in response.json()["detail"]


def test_a_deal_champion_serves_its_own_dataset_beside_anothers_fallback(tmp_path):
    settings = _settings(tmp_path, deal_dataset="north", min_won_deals=50, min_lost_deals=50)
    api_keys = keys_of_every_role(settings)
    _import_deals(settings, "north", seed=1)
    _import_deals(settings, "south", seed=2, deals=700)
    engine = store.get_engine(settings)
    trained = train_deals(load_deal_history(engine, "south"), settings=settings, dataset="south")
    assert registry.log_training(trained, settings).promoted
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(api_keys["scorer"]))
        north = client.post("/v1/deals/score", json=DEAL).json()
        south = client.post("/v1/deals/score?dataset=south", json=DEAL).json()
    assert (north["dataset"], north["method"]) == ("north", "stage_win_rate")
    assert (south["dataset"], south["method"]) == ("south", "model")
    assert south["model"] == "close-probability.south" and south["version"] == "1"
