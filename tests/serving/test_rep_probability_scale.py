"""A CRM sends the rep's own probability as its export writes it: for a dataset imported with
`rep_probability_scale: 100` (percents), 75 is a call of 75%, scored and pushed alike, and a
value outside the dataset's scale is a 422 naming the field and the range it accepts."""

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

DEAL = {"stage": "Qualification", "created_at": "2024-03-01T00:00:00Z", "amount": 1000.0}


def _deals() -> pd.DataFrame:
    """Deals whose rep probabilities are written in percents, two closed, two open."""
    rows = [
        {
            "id": f"D{i}",
            "stage": stage,
            "amount": 100.0,
            "rep_probability": percent,
            "created_at": "2024-03-01",
            "updated_at": "2024-03-05",
            "closed_at": "2024-03-05" if stage in ("Won", "Lost") else None,
        }
        for i, (stage, percent) in enumerate(
            [("Won", 100), ("Lost", 0), ("Prospecting", 20), ("Qualification", 40)]
        )
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", key_cache_seconds=0)


def _client(settings: Settings, scale: float) -> TestClient:
    mapping = load_mapping("canonical").model_copy(update={"rep_probability_scale": scale})
    frame = _deals()
    if scale == 1:
        frame["rep_probability"] = frame["rep_probability"] / 100
    import_frame(store.get_engine(settings), frame, mapping, dataset="crm")
    client = TestClient(create_app(settings))
    client.headers.update(auth(keys_of_every_role(settings)["scorer"]))
    return client


def test_a_percent_is_scored_and_pushed_on_a_dataset_imported_in_percents(settings):
    with _client(settings, 100) as client:
        scored = client.post("/v1/deals/score", json={**DEAL, "rep_probability": 75})
        assert scored.status_code == 200, scored.text
        batch = client.post(
            "/v1/deals/score/batch", json={"deals": [{**DEAL, "rep_probability": 75}]}
        )
        assert batch.status_code == 200, batch.text
        body = {**DEAL, "updated_at": "2024-03-10T09:00:00Z", "rep_probability": 75}
        pushed = client.put("/v1/opportunities/D3", json=body)
        assert pushed.status_code == 200, pushed.text
    deals = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert deals.loc["D3", "rep_probability"] == pytest.approx(0.75)  # read as the import read 40
    assert deals.loc["D2", "rep_probability"] == pytest.approx(0.20)


def test_a_call_beyond_the_datasets_percents_is_422_naming_the_field_and_range(settings):
    with _client(settings, 100) as client:
        scored = client.post("/v1/deals/score", json={**DEAL, "rep_probability": 150})
        batch = client.post(
            "/v1/deals/score/batch", json={"deals": [DEAL, {**DEAL, "rep_probability": 150}]}
        )
        body = {**DEAL, "updated_at": "2024-03-10T09:00:00Z", "rep_probability": 150}
        pushed = client.put("/v1/opportunities/D3", json=body)
    assert scored.status_code == 422
    assert "rep_probability: 150" in scored.json()["detail"]
    assert "outside 0–100" in scored.json()["detail"]
    assert batch.status_code == 422 and "row 1" in batch.json()["detail"]
    assert "rep_probability: 150" in batch.json()["detail"]
    assert pushed.status_code == 422
    assert "rep_probability: probability outside 0–100" in pushed.json()["detail"]


def test_a_percent_sent_for_a_dataset_on_a_0_to_1_scale_is_422_naming_the_range(settings):
    with _client(settings, 1) as client:
        scored = client.post("/v1/deals/score", json={**DEAL, "rep_probability": 75})
        fine = client.post("/v1/deals/score", json={**DEAL, "rep_probability": 0.75})
        negative = client.post("/v1/deals/score", json={**DEAL, "rep_probability": -0.1})
    assert fine.status_code == 200, fine.text
    assert scored.status_code == 422
    detail = scored.json()["detail"]
    assert "rep_probability: 75 is outside 0–1" in detail
    assert "rep_probability_scale: 100" in detail  # what a dataset of percents needs
    assert negative.status_code == 422
    assert [e["field"] for e in negative.json()["errors"]] == ["body.rep_probability"]
