"""CSAT over the API: a push or a deal scored with a satisfaction score on no scale (below 0,
above 100) is a 422 naming the field and the scales a score is given on; a score on one is
stored as sent, for the KPIs to average."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data import store
from forecast.data.importing import import_export, import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from tests.forecast.test_import_csat import HEADER, SCORED, _won
from tests.forecast.test_import_options import mapping, write
from tests.serving.conftest import auth


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(
        state_dir=tmp_path / "state", key_cache_seconds=0, mlflow_tracking_uri=mlflow_uri
    )


@pytest.fixture
def scorer(client, api_keys, settings):
    frame = pd.DataFrame(
        [{"id": "D1", "stage": "Prospecting", "created_at": "2024-03-01", "amount": 1000.0}]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    client.headers.update(auth(api_keys["scorer"]))
    return client


WON = {
    "stage": "Won",
    "updated_at": "2024-04-10T09:00:00Z",
    "created_at": "2024-03-01T00:00:00Z",
    "amount": 1000.0,
}


@pytest.mark.parametrize("csat", [-1, 100.5, 450])
def test_a_pushed_csat_on_no_scale_is_422_naming_the_field(scorer, settings, csat):
    response = scorer.put("/v1/opportunities/D1", json={**WON, "csat": csat})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body.csat" and error["type"] == "csat_scale"
    assert error["problem"] == (
        f"{csat:g} is on no satisfaction scale: a CSAT score is 1–5, 0–10 or 0–100 (a percent); "
        "send the score as the survey gave it, or leave the field out"
    )
    stored = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert stored.loc["D1", "stage"] == "Prospecting"  # nothing written


@pytest.mark.parametrize("csat", [0, 4, 9.5, 100])
def test_a_pushed_csat_on_a_scale_is_stored_as_sent(scorer, csat):
    response = scorer.put("/v1/opportunities/D1", json={**WON, "csat": csat})
    assert response.status_code == 200, response.text
    assert scorer.get("/v1/opportunities/D1").json()["csat"] == csat


def test_a_deal_scored_with_a_csat_on_no_scale_is_422_naming_it(scorer):
    deal = {"stage": "Prospecting", "created_at": "2024-03-01", "csat": -3}
    response = scorer.post("/v1/deals/score", json=deal)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.csat"]


def test_a_pushed_batch_keeps_each_score_on_a_scale_as_sent(scorer, settings):
    """A push is no survey file: a 9 among twenty 4s is stored as sent, not judged a stray of
    a 1–5 scale (an export's import would leave it out, saying so)."""
    deals = [{"id": f"P{i}", **WON, "csat": 4} for i in range(20)]
    deals.append({"id": "P20", **WON, "csat": 9})
    response = scorer.post("/v1/opportunities/batch", json={"opportunities": deals})
    assert response.status_code == 200, response.text
    stored = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert stored.loc["P20", "csat"] == 9.0 and stored.loc["P0", "csat"] == 4.0


def test_a_push_is_held_to_the_csat_scale_its_datasets_export_was_read_on(
    client, api_keys, settings, tmp_path
):
    """An export scored 1–5: a pushed 4 is stored, a 9 (whole or PATCH) is a 422 naming the
    field and the scale, nothing written."""
    export = write(tmp_path, "deals.csv", HEADER + _won(["5", "4", "1", "3"]))
    engine = store.get_engine(settings)
    import_export(engine, export, mapping(tmp_path, base=SCORED))
    client.headers.update(auth(api_keys["scorer"]))
    at = {"params": {"dataset": "acme"}}
    deal = {"stage": "Won", "updated_at": "2024-03-01T00:00:00Z", "amount": 100.0}

    stored = client.put("/v1/opportunities/D1", **at, json={**deal, "csat": 4})
    assert stored.status_code == 200, stored.text
    later = {"updated_at": "2024-03-02T00:00:00Z", "csat": 9}
    for response in (
        client.put("/v1/opportunities/D1", **at, json={**deal, **later}),
        client.patch("/v1/opportunities/D1", **at, json=later),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == (
            "csat: 9 is outside this dataset's CSAT scale 1–5 (its import read the export's "
            "scores on it); nothing was written"
        )
    assert client.get("/v1/opportunities/D1", **at).json()["csat"] == 4
