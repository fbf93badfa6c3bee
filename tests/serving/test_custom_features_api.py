"""A dataset's own columns (its mapping's `features:`) through the API: a CRM pushes them as
`attributes` and sends them with a deal to score; a name the dataset does not keep is a 422
naming it."""

from __future__ import annotations

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
STATE = {
    "stage": "Qualification",
    "updated_at": "2024-03-10T09:00:00Z",
    "created_at": "2024-03-01T00:00:00Z",
    "amount": 1000.0,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings):
    mapping = load_mapping("canonical").model_copy(update={"features": {SOURCE: SOURCE}})
    frame = pd.DataFrame(
        [
            {
                "id": "D1",
                "stage": "Prospecting",
                "created_at": "2024-03-01",
                "updated_at": "2024-03-01",
                SOURCE: "Paid social",
            },
            *(
                {
                    "id": f"C{i}",
                    "stage": "Won" if i % 2 else "Lost",
                    "created_at": "2024-01-01",
                    "closed_at": "2024-02-01",
                    "updated_at": "2024-02-01",
                    SOURCE: "Organic search" if i % 2 else "Paid social",
                }
                for i in range(10)
            ),
        ]
    )
    import_frame(store.get_engine(settings), frame, mapping, dataset="crm")
    keys = keys_of_every_role(settings)
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(auth(keys["scorer"]))
        yield test_client


def test_a_push_stores_the_attributes_the_dataset_keeps(client, settings):
    body = {**STATE, "attributes": {SOURCE: "Organic search"}}
    response = client.put("/v1/opportunities/D1", json=body)
    assert response.status_code == 200, response.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert deals.loc["D1", SOURCE] == "Organic search"


def test_a_push_of_an_attribute_the_dataset_does_not_keep_is_422_naming_it(client, settings):
    body = {**STATE, "attributes": {"Deal Temperature": "hot"}}
    response = client.put("/v1/opportunities/D1", json=body)
    assert response.status_code == 422
    assert "Deal Temperature" in response.text and SOURCE in response.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert deals.loc["D1", "stage"] == "Prospecting"  # nothing was written


def test_a_deal_is_scored_with_its_attributes_and_an_unknown_one_is_422(client):
    deal = {"stage": "Qualification", "created_at": "2024-03-01T00:00:00"}
    ok = client.post("/v1/deals/score", json={**deal, "attributes": {SOURCE: "Referral"}})
    assert ok.status_code == 200, ok.text
    bad = client.post("/v1/deals/score", json={**deal, "attributes": {"Deal Temperature": 1}})
    assert bad.status_code == 422 and "Deal Temperature" in bad.text
