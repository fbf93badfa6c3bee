"""A dataset imported with exchange rates converts a CRM's later pushes the same way: a deal
pushed in euros is stored in the dataset's currency, as the import stored its deals."""

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


def _deals(prefix: str, other: str) -> pd.DataFrame:
    """Four open deals of 100: every other one in euros, the rest in `other`."""
    rows = [
        {
            "id": f"{prefix}{i}",
            "stage": "Prospecting",
            "amount": 100.0,
            "currency": "EUR" if i % 2 else other,
            "created_at": "2024-03-01",
            "updated_at": "2024-03-01",
        }
        for i in range(4)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings):
    mapping = load_mapping("canonical").model_copy(
        update={"currency": "GBP", "exchange_rates": {"EUR": 0.5}}
    )
    report = import_frame(store.get_engine(settings), _deals("D", "GBP"), mapping, dataset="crm")
    assert "amounts converted to GBP by the mapping's exchange_rates: 2 from EUR at 0.5" in (
        report.notes
    )
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(auth(keys_of_every_role(settings)["scorer"]))
        yield test_client


def test_a_deal_pushed_in_a_converted_currency_is_stored_converted(client, settings):
    body = {
        "stage": "Qualification",
        "created_at": "2024-03-01T00:00:00Z",
        "updated_at": "2024-03-10T09:00:00Z",
        "amount": 1000.0,
        "currency": "EUR",
    }
    response = client.put("/v1/opportunities/D0", json=body)
    assert response.status_code == 200, response.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert deals.loc["D0", "amount"] == 500.0 and deals.loc["D0", "currency"] == "GBP"
    assert deals.loc["D1", "amount"] == 50.0 and deals.loc["D1", "currency"] == "GBP"


def test_kpis_of_a_dataset_in_several_currencies_say_they_are_added_unconverted(settings):
    frame = _deals("M", "USD")
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="mixed")
    viewer = keys_of_every_role(settings)["viewer"]
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/kpis", params={"dataset": "mixed"}, headers=auth(viewer))
    assert response.status_code == 200, response.text
    [note] = response.json()["notes"]
    assert "2 currencies" in note and "unconverted" in note
