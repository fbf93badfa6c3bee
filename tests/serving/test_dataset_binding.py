"""A key bound to one dataset scores, pushes to and reads that dataset only, by default."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from starlette.datastructures import State

from forecast import keys, scoring
from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.errors import ModelNotReady
from forecast.model_set import Problem
from forecast.settings import Settings
from serving import freshness
from serving.deps import of_dataset
from tests.serving.conftest import auth


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        max_body_bytes=20_000,
        key_cache_seconds=0,
        mlflow_tracking_uri=mlflow_uri,
    )


DEAL = {
    "id": "D1",
    "stage": "Prospecting",
    "created_at": "2024-03-01",
    "updated_at": "2024-03-01",
    "amount": 1000.0,
    "team": "East",
}
STATE = {
    "stage": "Qualification",
    "updated_at": "2024-03-10T09:00:00Z",
    "created_at": "2024-03-01T00:00:00Z",
    "amount": 1000.0,
    "team": "East",
}
TARGET = {"level": "all", "period": "2024-Q2", "amount": 5000}
#: What describing a served model reads of its scorer.
SCORER = SimpleNamespace(label="per-stage win rate", method="stage_win_rate")


@pytest.fixture
def bound(settings: Settings) -> dict[str, str]:
    """Two datasets, `demo` and `other`, and a key of each role bound to `demo`."""
    engine = store.get_engine(settings)
    for name in ("demo", "other"):
        import_frame(engine, pd.DataFrame([DEAL]), load_mapping("canonical"), dataset=name)
    with engine.begin() as conn:
        return {
            role: keys.create_key(conn, role, f"demo {role}", dataset="demo")[1]
            for role in ("scorer", "viewer", "admin")
        }


#: Every route that reads or writes a dataset: (role, method, path, body).
ROUTES = [
    ("scorer", "PUT", "/v1/opportunities/N9", STATE),
    ("scorer", "POST", "/v1/opportunities/batch", {"opportunities": [{"id": "N9", **STATE}]}),
    ("admin", "PUT", "/v1/targets", TARGET),
    ("viewer", "GET", "/v1/targets", None),
    ("viewer", "GET", "/v1/forecast", None),
    ("viewer", "GET", "/v1/forecast/history?period=2024-Q2", None),
    ("viewer", "GET", "/v1/forecast/waterfall", None),
    ("viewer", "GET", "/v1/pipeline/waterfall", None),
    ("viewer", "GET", "/v1/kpis", None),
    ("viewer", "GET", "/v1/deals/at-risk", None),
]


def other_dataset(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "dataset=other"


@pytest.mark.parametrize(("role", "method", "path", "body"), ROUTES)
def test_a_bound_key_is_refused_another_dataset_and_nothing_is_written(
    client, settings, bound, role, method, path, body
):
    response = client.request(method, other_dataset(path), json=body, headers=auth(bound[role]))

    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert "bound to dataset 'demo'" in detail and "dataset 'other'" in detail
    engine = store.get_engine(settings)
    assert store.load_opportunities(engine, "other")["id"].tolist() == ["D1"]
    assert (
        client.get("/v1/targets?dataset=other", headers=auth(keys_any(settings))).json()["targets"]
        == []
    )


def keys_any(settings: Settings) -> str:
    with store.get_engine(settings).begin() as conn:
        return keys.create_key(conn, "viewer", "unbound viewer")[1]


def test_a_bound_key_pushes_to_its_own_dataset_by_default(client, settings, bound):
    one = client.put("/v1/opportunities/N9", json=STATE, headers=auth(bound["scorer"]))
    batch = client.post(
        "/v1/opportunities/batch",
        json={"opportunities": [{"id": "N8", **STATE}]},
        headers=auth(bound["scorer"]),
    )

    assert one.status_code == 200, one.text
    assert one.json()["dataset"] == "demo"
    assert batch.status_code == 200, batch.text
    engine = store.get_engine(settings)
    assert sorted(store.load_opportunities(engine, "demo")["id"]) == ["D1", "N8", "N9"]
    assert store.load_opportunities(engine, "other")["id"].tolist() == ["D1"]


def test_a_bound_key_reads_and_writes_targets_of_its_own_dataset_by_default(client, bound):
    written = client.put("/v1/targets", json=TARGET, headers=auth(bound["admin"]))
    read = client.get("/v1/targets", headers=auth(bound["viewer"]))

    assert written.status_code == 200, written.text
    assert read.json()["dataset"] == "demo"
    assert [t["amount"] for t in read.json()["targets"]] == [5000]


def test_a_bound_key_may_name_its_own_dataset(client, bound):
    response = client.get("/v1/targets?dataset=demo", headers=auth(bound["viewer"]))

    assert response.status_code == 200, response.text


def test_a_bound_scorer_is_still_refused_scoring_another_dataset(client, bound):
    response = client.post(
        "/v1/deals/score?dataset=other",
        json={"stage": "Prospecting"},
        headers=auth(bound["scorer"]),
    )

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "this key is bound to dataset 'demo'; it may not score dataset 'other'"
    )


def test_a_bound_key_is_shown_only_its_datasets_models_and_their_monitoring(client, bound):
    served = [{"dataset": "demo"}, {"dataset": "other"}, {"dataset": None}]
    assert of_dataset(served, "demo") == [{"dataset": "demo"}, {"dataset": None}]
    assert of_dataset(served, None) == served
    for path in ("/v1/models", "/v1/models/monitoring"):
        response = client.get(path, headers=auth(bound["viewer"]))
        assert response.status_code == 200, response.text
        assert {m["dataset"] for m in response.json()["models"]} <= {"demo", None}


def test_a_bound_admin_key_manages_keys_of_its_dataset_only(client, settings, bound):
    admin = auth(bound["admin"])
    with store.get_engine(settings).begin() as conn:
        record, _ = keys.create_key(conn, "viewer", "someone else's", dataset="other")
        unbound, _ = keys.create_key(conn, "admin", "every dataset")

    made = client.post("/v1/keys", json={"role": "admin", "name": "escape"}, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["dataset"] == "demo"  # not a key for every dataset
    refused = client.post(
        "/v1/keys", json={"role": "viewer", "name": "x", "dataset": "other"}, headers=admin
    )
    assert refused.status_code == 403
    assert "may not create keys for dataset 'other'" in refused.json()["detail"]

    listed = client.get("/v1/keys", headers=admin)
    assert listed.status_code == 200
    assert {k["dataset"] for k in listed.json()} == {"demo"}
    for other in (record.id, unbound.id):  # as unknown to it as a key that is not there
        assert client.delete(f"/v1/keys/{other}", headers=admin).status_code == 404
    with store.get_engine(settings).connect() as conn:
        assert all(k["revoked_at"] is None for k in keys.list_keys(conn))

    reload = client.post("/v1/admin/reload", headers=admin)
    assert reload.status_code == 403
    assert "may not reload every dataset's models" in reload.json()["detail"]


def test_a_bound_key_is_not_told_of_other_datasets_problems_or_models(client, bound):
    """`problems` (GET /v1/models, /readyz) and the models /readyz lists name datasets: a key
    bound to one hears of its own and of none other; an unbound key of every one."""
    with client.app.state.engine.begin() as conn:
        admin = keys.create_key(conn, "admin", "unbound admin")[1]
    models = client.app.state.models
    for name in ("demo", "other"):  # a fallback of each dataset's, as a load would serve
        models.deals[name] = scoring.Served(
            scoring.DEAL,
            SCORER,
            None,
            "fallback",
            dataset=name,  # type: ignore[arg-type]
        )
    models.problems.extend(
        [
            Problem("deals: dataset 'other': the champion would not load", "other"),
            Problem("deals: dataset 'demo': the champion would not load", "demo"),
            "leads: the registry did not answer",
        ]
    )
    unbound = admin
    for path in ("/v1/models", "/readyz"):
        seen = client.get(path, headers=auth(bound["viewer"])).json()
        assert not any("'other'" in p for p in seen["problems"]), seen
        assert any("'demo'" in p for p in seen["problems"])
        assert "leads: the registry did not answer" in seen["problems"]
        everyone = client.get(path, headers=auth(unbound)).json()
        assert any("'other'" in p for p in everyone["problems"])
    ready = client.get("/readyz", headers=auth(bound["viewer"])).json()
    assert not any(name.endswith(":other") for name in ready["models"]), ready["models"]
    everyone = client.get("/readyz", headers=auth(unbound)).json()
    assert any(name.endswith(":other") for name in everyone["models"]), everyone


def test_a_dataset_not_served_is_refused_without_naming_those_that_are(client, bound):
    response = client.post(
        "/v1/leads/score",
        json={"fields": {"source": "web"}},
        headers=auth(bound["scorer"]),
    )

    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "dataset 'demo'" in detail and "other" not in detail


def test_a_refused_reload_keeps_each_problem_with_its_dataset():
    """A reload that would serve worse is refused and says why; each of its reasons stays with
    its dataset, so a bound key still reads only its own."""
    serving = scoring.ModelSet(problems=["leads: kept"])
    serving.deals["demo"] = scoring.Served(scoring.DEAL, SCORER, None, "fallback", dataset="demo")  # type: ignore[arg-type]
    worse = scoring.ModelSet(
        degraded=["deals: a champion would not load"],
        problems=[Problem("deals: dataset 'other': would not load", "other")],
    )
    state = State({"models": serving})

    with pytest.raises(ModelNotReady):
        freshness.swap(state, worse)

    said = state.models.problems_for("demo")
    assert any(p.startswith(freshness.NOT_APPLIED) for p in said)
    assert not any("'other'" in p for p in said)
    assert any("'other'" in p for p in state.models.problems_for(None))
