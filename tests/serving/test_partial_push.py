"""A partial push (`PATCH /v1/opportunities/{id}`): a CRM's change event sends only what
changed; every field it leaves out keeps its stored value, `null` clears one, a change older than
the stored state is not written, and a deal the store does not hold is created by a whole push."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, keys_of_every_role

SOURCE = "Original Traffic Source"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A dataset imported with rep calls in percents and one custom feature, and deal D1 open."""
    mapping = load_mapping("canonical").model_copy(
        update={"features": {SOURCE: SOURCE}, "rep_probability_scale": 100}
    )
    deal = {
        "id": "D1",
        "stage": "Prospecting",
        "created_at": "2024-03-01",
        "updated_at": "2024-03-02",
        "expected_close_at": "2024-04-30",
        "amount": 1000.0,
        "owner": "Ana Moreau",
        "team": "East",
        "rep_probability": 20,
        SOURCE: "Paid social",
    }
    import_frame(store.get_engine(settings), pd.DataFrame([deal]), mapping, dataset="crm")
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(auth(keys_of_every_role(settings)["scorer"]))
        yield test_client


def stored(client: TestClient) -> dict:
    response = client.get("/v1/opportunities/D1")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_stage_change_alone_keeps_every_other_stored_field(client, settings):
    before = stored(client)
    response = client.patch(
        "/v1/opportunities/D1",
        json={"stage": "Qualification", "updated_at": "2024-03-10T09:00:00Z"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["stage"], body["previous_stage"]) == (
        "changed",
        "Qualification",
        "Prospecting",
    )
    assert body["stage_moved"] is True
    after = stored(client)
    assert after["stage"] == "Qualification"
    assert after["updated_at"].startswith("2024-03-10T09:00:00")
    kept = ["amount", "owner", "team", "expected_close_at", "created_at", "attributes"]
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert after["amount"] == 1000.0 and after["attributes"] == {SOURCE: "Paid social"}
    # Stored as 0.2 from the export's 20%: carried over as 20 on the dataset's scale, not 0.2%.
    assert after["rep_probability"] == pytest.approx(0.2)
    history = store.load_history(store.get_engine(settings), "crm")
    assert history.loc[history["opportunity_id"] == "D1", "stage"].tolist() == [
        "Prospecting",
        "Qualification",
    ]


def test_null_clears_a_field_and_an_attribute_and_the_rest_stay(client):
    response = client.patch(
        "/v1/opportunities/D1",
        json={"amount": None, "attributes": {SOURCE: None}, "updated_at": "2024-03-10T09:00:00Z"},
    )
    assert response.status_code == 200, response.text
    after = stored(client)
    assert after["amount"] is None and (after["attributes"] or {}).get(SOURCE) is None
    assert (after["stage"], after["owner"], after["team"]) == ("Prospecting", "Ana Moreau", "East")


def test_a_changed_value_is_read_on_the_datasets_scale_as_a_whole_push_is(client):
    response = client.patch(
        "/v1/opportunities/D1",
        json={"rep_probability": 60, "amount": 1500, "updated_at": "2024-03-10T09:00:00Z"},
    )
    assert response.status_code == 200, response.text
    after = stored(client)
    assert after["rep_probability"] == pytest.approx(0.6)
    assert after["amount"] == 1500.0 and after["owner"] == "Ana Moreau"


def test_a_change_older_than_the_stored_state_is_stale_and_writes_nothing(client, settings):
    engine = store.get_engine(settings)
    fields_before = len(store.load_field_history(engine, "crm"))
    before = stored(client)
    response = client.patch(
        "/v1/opportunities/D1", json={"amount": 9999, "updated_at": "2024-03-01T12:00:00Z"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "stale"
    assert stored(client) == before
    assert len(store.load_field_history(engine, "crm")) == fields_before


def test_a_deal_won_by_a_partial_push_closes_when_the_crm_recorded_it(client):
    response = client.patch(
        "/v1/opportunities/D1", json={"stage": "Won", "updated_at": "2024-03-20T15:00:00Z"}
    )
    assert response.status_code == 200, response.text
    after = stored(client)
    assert (after["status"], after["amount"]) == ("won", 1000.0)
    assert after["closed_at"].startswith("2024-03-20T15:00:00")


def test_a_deal_the_store_does_not_hold_is_404_saying_to_push_it_whole(client):
    response = client.patch(
        "/v1/opportunities/D404", json={"stage": "Qualification", "updated_at": "2024-03-10"}
    )
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "D404" in detail and "PUT" in detail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": None, "updated_at": "2024-03-10T09:00:00Z"}, "stage"),
        ({"created_at": None, "updated_at": "2024-03-10T09:00:00Z"}, "created_at"),
        ({"amount": 5}, "updated_at"),
        ({"stage": "Nowhere", "updated_at": "2024-03-10T09:00:00Z"}, "stage"),
        ({"colour": "red", "updated_at": "2024-03-10T09:00:00Z"}, "colour"),
        ({"closed_at": "2024-03-05", "updated_at": "2024-03-10T09:00:00Z"}, "closed_at"),
        ({"updated_at": "2024-02-01T00:00:00Z", "created_at": "2024-03-05"}, "updated_at"),
    ],
)
def test_a_bad_change_is_a_422_naming_its_field_and_nothing_is_written(client, body, field):
    before = stored(client)
    response = client.patch("/v1/opportunities/D1", json=body)
    assert response.status_code == 422, response.text
    assert field in str(response.json())
    assert stored(client) == before


def test_the_path_id_wins_and_a_contradicting_body_id_is_refused(client):
    response = client.patch(
        "/v1/opportunities/D1", json={"id": "D2", "amount": 5, "updated_at": "2024-03-10"}
    )
    assert response.status_code == 422
    assert "id" in response.json()["detail"]


def test_an_expected_close_before_the_stored_creation_is_a_422_as_in_a_whole_push(client):
    before = stored(client)
    for method in (client.patch, client.put):
        body = {"expected_close_at": "2023-12-31", "updated_at": "2024-03-10T09:00:00Z"}
        if method == client.put:
            body["stage"] = "Prospecting"
        response = method("/v1/opportunities/D1", json=body)
        assert response.status_code == 422, response.text
        assert "expected_close_at" in response.text and "created_at" in response.text
    assert stored(client) == before
