"""The CRM sync API: a CRM pushes deal states, one or a batch, with the scorer role."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from serving.datasets import dataset_version
from tests.serving.conftest import auth


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        max_body_bytes=20_000,
        key_cache_seconds=0,
        max_batch_size=3,
        mlflow_tracking_uri=mlflow_uri,
    )


@pytest.fixture
def crm(settings: Settings) -> str:
    frame = pd.DataFrame(
        [
            {
                "id": "D1",
                "stage": "Prospecting",
                "created_at": "2024-03-01",
                "updated_at": "2024-03-01",
                "amount": 1000.0,
                "team": "East",
            }
        ]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    return "crm"


@pytest.fixture
def scorer(client, api_keys, crm):
    client.headers.update(auth(api_keys["scorer"]))
    return client


STATE = {
    "stage": "Qualification",
    "updated_at": "2024-03-10T09:00:00Z",
    "created_at": "2024-03-01T00:00:00Z",
    "amount": 1000.0,
    "team": "East",
}


def stages_of(settings: Settings, deal: str) -> list[str]:
    history = store.load_history(store.get_engine(settings), "crm")
    return history.loc[history["opportunity_id"] == deal, "stage"].tolist()


def test_a_stage_change_is_upserted_and_reported(scorer, settings):
    response = scorer.put("/v1/opportunities/D1", json=STATE)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "dataset": "crm",
        "id": "D1",
        "outcome": "changed",
        "stage": "Qualification",
        "status": "open",
        "previous_stage": "Prospecting",
        "stage_moved": True,
        "history_added": 1,
        "updated_at": "2024-03-10T09:00:00Z",
        "kept_stored": [],
    }
    assert stages_of(settings, "D1") == ["Prospecting", "Qualification"]


def test_the_same_push_twice_changes_nothing(scorer, settings):
    scorer.put("/v1/opportunities/D1", json=STATE)
    again = scorer.put("/v1/opportunities/D1", json=STATE).json()
    assert (again["outcome"], again["stage_moved"], again["history_added"]) == (
        "unchanged",
        False,
        0,
    )
    assert stages_of(settings, "D1") == ["Prospecting", "Qualification"]


def test_an_older_push_is_stale_and_changes_no_state(scorer):
    scorer.put("/v1/opportunities/D1", json={**STATE, "stage": "Closing"})
    late = scorer.put(
        "/v1/opportunities/D1",
        json={**STATE, "stage": "Prospecting", "amount": 5.0, "updated_at": "2024-03-05T00:00:00Z"},
    ).json()
    assert (late["outcome"], late["stage"], late["updated_at"]) == (
        "stale",
        "Closing",
        "2024-03-10T09:00:00Z",
    )


def test_won_is_recorded_with_its_close_date(scorer, settings):
    body = scorer.put(
        "/v1/opportunities/D1", json={**STATE, "stage": "Won", "closed_at": "2024-03-09"}
    ).json()
    assert (body["status"], body["stage"]) == ("won", "Won")
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert str(deals.loc["D1", "closed_at"]) == "2024-03-09 00:00:00"


def test_a_batch_reports_each_deal_and_the_totals(scorer):
    response = scorer.post(
        "/v1/opportunities/batch",
        json={
            "opportunities": [{"id": "D1", **STATE}, {"id": "N1", **STATE, "stage": "Prospecting"}]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["inserted"], body["changed"], body["unchanged"], body["stale"]) == (1, 1, 0, 0)
    assert [(d["id"], d["outcome"]) for d in body["deals"]] == [
        ("D1", "changed"),
        ("N1", "inserted"),
    ]


def test_an_unknown_stage_is_422_naming_the_field_and_value(scorer, settings):
    one = scorer.put("/v1/opportunities/D1", json={**STATE, "stage": "Haggling"})
    assert one.status_code == 422
    assert one.json()["type"] == "UnknownStage"
    assert one.json()["detail"].startswith("stage: unknown stage 'Haggling'")
    batch = scorer.post(
        "/v1/opportunities/batch",
        json={"opportunities": [{"id": "D1", **STATE}, {"id": "D2", **STATE, "stage": "Haggling"}]},
    )
    assert batch.status_code == 422
    assert "opportunities[1].stage: unknown stage 'Haggling'" in batch.json()["detail"]
    assert stages_of(settings, "D1") == ["Prospecting"]  # nothing was written


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rep_probability": -0.5}, "body.rep_probability"),  # below any scale
        ({"amount": -1}, "body.amount"),
        ({"updated_at": None}, "body.updated_at"),
        ({"updated_at": "2017-02-30T00:00:00"}, "body.updated_at"),
        ({"forecast_category": "Maybe"}, "body.forecast_category"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_a_malformed_field_is_422_with_its_path(scorer, change, field):
    response = scorer.put("/v1/opportunities/D1", json={**STATE, **change})
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


def test_a_close_after_the_crms_last_change_or_a_date_ahead_is_422_and_moves_nothing(
    scorer, settings
):
    """A close dated after the CRM last changed the deal, or a change dated ahead of now, would
    move the data's end (and every KPI, forecast and at-risk list read as of it) to that date:
    refused naming the field, and the stored deal is as it was."""
    late_close = scorer.put(
        "/v1/opportunities/D1",
        json={**STATE, "stage": "Won", "updated_at": "2025-01-02", "closed_at": "2026-01-01"},
    )
    assert late_close.status_code == 422, late_close.text
    assert "closed_at (2026-01-01T00:00:00) is after updated_at" in late_close.text
    for field in ("updated_at", "closed_at", "created_at"):
        ahead = scorer.put("/v1/opportunities/D1", json={**STATE, field: "2999-01-01"})
        assert ahead.status_code == 422, ahead.text
        assert f"body.{field}" in {e["field"] for e in ahead.json()["errors"]}
        assert "lies in the future" in ahead.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert deals.loc["D1", "stage"] == "Prospecting" and pd.isna(deals.loc["D1", "closed_at"])


def test_spaces_around_a_team_or_rep_name_are_not_part_of_it(scorer, settings):
    """A CRM that sends " East " (or a rep with a trailing space) names the team East, as an
    import reads it, not a team of its own that no target can name; spaces alone are blank."""
    pushed = scorer.put(
        "/v1/opportunities/D1", json={**STATE, "team": " East ", "owner": "Ana Moreau  "}
    )
    assert pushed.status_code == 200, pushed.text
    blank = scorer.put(
        "/v1/opportunities/N2",
        json={**STATE, "team": "   ", "updated_at": "2024-03-11T09:00:00Z"},
    )
    assert blank.status_code == 200, blank.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert (deals.loc["D1", "team"], deals.loc["D1", "owner"]) == ("East", "Ana Moreau")
    assert pd.isna(deals.loc["N2", "team"])


def test_a_new_deal_without_its_creation_date_is_422(scorer):
    state = {k: v for k, v in STATE.items() if k != "created_at"}
    response = scorer.put("/v1/opportunities/NEW", json=state)
    assert response.status_code == 422
    assert (
        "created_at: required for a deal the store does not hold yet" in response.json()["detail"]
    )


def test_a_batch_over_the_limit_is_422_with_the_limit(scorer):
    deals = [{"id": f"N{i}", **STATE} for i in range(4)]
    response = scorer.post("/v1/opportunities/batch", json={"opportunities": deals})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "batch of 4 opportunities: the limit is 3 per call; split it"
    )


def test_a_body_over_the_size_limit_is_413(scorer):
    deals = [{"id": f"N{i}", **STATE, "account": "x" * 190} for i in range(100)]
    assert scorer.post("/v1/opportunities/batch", json={"opportunities": deals}).status_code == 413


def test_only_scorer_and_admin_keys_may_push(client, api_keys, crm):
    assert client.put("/v1/opportunities/D1", json=STATE).status_code == 401
    viewer = client.put("/v1/opportunities/D1", json=STATE, headers=auth(api_keys["viewer"]))
    assert viewer.status_code == 403 and "needs scorer" in viewer.json()["detail"]
    admin = client.put("/v1/opportunities/D1", json=STATE, headers=auth(api_keys["admin"]))
    assert admin.status_code == 200


def test_an_unknown_or_ambiguous_dataset_is_a_clear_error(scorer, settings):
    missing = scorer.put("/v1/opportunities/D1", params={"dataset": "nope"}, json=STATE)
    assert missing.status_code == 404 and "no dataset named 'nope'" in missing.json()["detail"]
    import_frame(
        store.get_engine(settings),
        pd.DataFrame([{"id": "Z", "stage": "Prospecting"}]),
        load_mapping("canonical"),
        dataset="other",
    )
    several = scorer.put("/v1/opportunities/D1", json=STATE)
    assert several.status_code == 404 and "several" in several.json()["detail"]
    named = scorer.put("/v1/opportunities/D1", params={"dataset": "crm"}, json=STATE)
    assert named.status_code == 200


def test_an_empty_store_says_to_import_first(client, api_keys):
    response = client.put("/v1/opportunities/D1", json=STATE, headers=auth(api_keys["scorer"]))
    assert response.status_code == 404
    assert "no opportunities yet" in response.json()["detail"]


def test_concurrent_http_pushes_for_one_deal_lose_no_stage(scorer, settings):
    moves = ["Qualification", "Presentation", "Demonstration", "Closing", "Won"]
    start = threading.Barrier(len(moves))
    statuses: list[int] = []

    def send(i: int, stage: str) -> None:
        start.wait()
        response = scorer.put(
            "/v1/opportunities/D1",
            json={**STATE, "stage": stage, "updated_at": f"2024-03-{i + 2:02d}T00:00:00Z"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate(moves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(moves)
    assert stages_of(settings, "D1") == ["Prospecting", *moves]
    final = scorer.put(
        "/v1/opportunities/D1", json={**STATE, "stage": "Won", "updated_at": "2024-03-06T00:00:00Z"}
    ).json()
    assert (final["outcome"], final["status"]) == ("unchanged", "won")


def test_a_push_while_an_import_holds_the_store_is_503_with_retry_after(tmp_path, mlflow_uri):
    """SQLite has one writer: a push that waited `sqlite_busy_seconds` behind an import is
    told to come back (503, Retry-After), not handed a 500; the push then lands."""
    from fastapi.testclient import TestClient

    from forecast import keys
    from serving.app import create_app

    settings = Settings(
        state_dir=tmp_path / "state",
        key_cache_seconds=0,
        mlflow_tracking_uri=mlflow_uri,
        sqlite_busy_seconds=0.2,
        retry_after_seconds=3,
    )
    engine = store.get_engine(settings)
    frame = pd.DataFrame([{**STATE, "id": "D1", "stage": "Prospecting"}])
    import_frame(engine, frame, load_mapping("canonical"), dataset="crm")
    with engine.begin() as conn:
        key = keys.create_key(conn, "scorer", "crm")[1]
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(key))
        with store.transaction(engine) as conn:  # a long import, say
            store.lock_dataset(conn, "crm")
            busy = client.put("/v1/opportunities/D1", json=STATE)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "3"
        assert "busy" in busy.json()["detail"]
        assert client.put("/v1/opportunities/D1", json=STATE).status_code == 200


@pytest.mark.parametrize(
    ("label", "stored"),
    [("best_case", "Best Case"), ("Not forecasted", "Omitted"), ("COMMIT", "Commit")],
)
def test_a_crms_own_forecast_category_label_is_read_as_an_import_reads_it(
    scorer, settings, label, stored
):
    response = scorer.put("/v1/opportunities/D1", json={**STATE, "forecast_category": label})
    assert response.status_code == 200, response.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert deals.loc["D1", "forecast_category"] == stored


def test_the_body_a_crm_scores_with_may_be_pushed_with_its_id(scorer):
    """The same body serves `/v1/deals/score` and the push: its id, where sent, is the path's;
    another id is a 422 naming both."""
    same = scorer.put("/v1/opportunities/D1", json={**STATE, "id": "D1"})
    assert same.status_code == 200 and same.json()["id"] == "D1"
    other = scorer.put("/v1/opportunities/D1", json={**STATE, "id": "D2"})
    assert other.status_code == 422
    assert "id: the body's id 'D2' is not the path's 'D1'" in other.text


@pytest.fixture
def tracking_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each call of a push route for a tracking run (`serving.tracking.data_changed`)."""
    calls: list[object] = []
    monkeypatch.setattr("serving.routes.sync.data_changed", calls.append)
    return calls


def test_a_push_sent_twice_keeps_the_datasets_version_and_tracks_once(
    scorer, settings, tracking_calls
):
    """The same body PUT again stores nothing new: the dataset keeps the version its caches and
    stored forecasts are keyed on, and no tracking run is called for."""
    engine = store.get_engine(settings)
    assert scorer.put("/v1/opportunities/D1", json=STATE).json()["outcome"] == "changed"
    first = dataset_version(engine, "crm")[1]
    assert len(tracking_calls) == 1
    again = scorer.put("/v1/opportunities/D1", json=STATE)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    batch = scorer.post("/v1/opportunities/batch", json={"opportunities": [{**STATE, "id": "D1"}]})
    assert batch.status_code == 200 and batch.json()["unchanged"] == 1
    assert dataset_version(engine, "crm")[1] == first
    assert len(tracking_calls) == 1


def test_a_push_that_changes_a_value_gives_a_new_version_and_tracks(
    scorer, settings, tracking_calls
):
    engine = store.get_engine(settings)
    scorer.put("/v1/opportunities/D1", json=STATE)
    first = dataset_version(engine, "crm")[1]
    raised = {**STATE, "amount": 1500.0, "updated_at": "2024-03-11T09:00:00Z"}
    assert scorer.put("/v1/opportunities/D1", json=raised).json()["outcome"] == "changed"
    assert dataset_version(engine, "crm")[1] != first
    assert len(tracking_calls) == 2
