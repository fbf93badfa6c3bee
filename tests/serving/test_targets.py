"""Targets over HTTP: an admin sets them (one or a batch), viewers read them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.forecasting import targets
from forecast.settings import Settings
from tests.serving.conftest import auth


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
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
                "created_at": "2017-05-01",
                "owner": "Ann Lee",
                "team": "Team East",
                "region": "East",
                "product": "GTX Pro",
            },
            {
                "id": "D2",
                "stage": "Closing",
                "created_at": "2017-05-02",
                "owner": "Bob Ray",
                "team": "Team West",
                "region": "West",
                "product": "MG Special",
            },
        ]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    return "crm"


@pytest.fixture
def admin(client, api_keys, crm):
    client.headers.update(auth(api_keys["admin"]))
    return client


EAST = {"level": "team", "name": "Team East", "period": "2017-Q3", "amount": 250000}


def test_an_admin_sets_one_target_and_a_viewer_reads_it(admin, api_keys):
    response = admin.put("/v1/targets", json=EAST)
    assert response.status_code == 200
    body = response.json()
    assert (body["dataset"], body["inserted"], body["changed"]) == ("crm", 1, 0)
    assert body["targets"][0] | {"updated_at": None} == {
        "level": "team",
        "name": "Team East",
        "period": "2017-Q3",
        "amount": 250000.0,
        "currency": "USD",
        "updated_at": None,
    }
    listed = admin.get("/v1/targets", headers=auth(api_keys["viewer"]))
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["targets"]] == ["Team East"]
    assert listed.json()["targets"][0]["updated_at"].endswith("Z")


def test_a_batch_is_set_together_and_can_be_filtered(admin):
    response = admin.put(
        "/v1/targets",
        json={
            "targets": [
                EAST,
                {"level": "all", "period": "2017-Q3", "amount": 900000},
                {"level": "rep", "name": "Bob Ray", "period": "2017-07", "amount": 1000},
            ]
        },
    )
    assert response.status_code == 200 and response.json()["inserted"] == 3
    q3 = admin.get("/v1/targets", params={"period": "2017q3"}).json()["targets"]
    assert [(t["level"], t["name"]) for t in q3] == [("all", "total"), ("team", "Team East")]
    reps = admin.get("/v1/targets", params={"level": "rep"}).json()["targets"]
    assert [t["name"] for t in reps] == ["Bob Ray"]
    again = admin.put("/v1/targets", json={**EAST, "amount": 1}).json()
    assert (again["inserted"], again["changed"]) == (0, 1)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({**EAST, "name": "Team Nowhere"}, "targets[0]: unknown team 'Team Nowhere'"),
        ({**EAST, "period": "2017-Q9"}, "targets[0]: unknown period '2017-Q9'"),
        ({**EAST, "currency": "EUR"}, "targets[0]: currency EUR differs from the deals"),
    ],
)
def test_a_bad_target_is_422_naming_it(admin, target, message):
    response = admin.put("/v1/targets", json=target)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert admin.get("/v1/targets").json()["targets"] == []


def test_a_negative_amount_is_422_on_its_field(admin):
    response = admin.put("/v1/targets", json={"targets": [EAST, {**EAST, "amount": -1}]})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.targets.1.amount"}
    one = admin.put("/v1/targets", json={**EAST, "amount": -1})
    assert {e["field"] for e in one.json()["errors"]} == {"body.targets.0.amount"}


def test_a_batch_over_the_limit_is_422(admin):
    response = admin.put("/v1/targets", json={"targets": [EAST] * 4})
    assert response.status_code == 422
    assert "batch of 4 targets: the limit is 3" in response.json()["detail"]


def test_a_bad_filter_is_422(admin):
    response = admin.get("/v1/targets", params={"period": "soon"})
    assert response.status_code == 422 and "unknown period 'soon'" in response.json()["detail"]


def test_only_admins_set_targets_and_viewers_read_them(client, api_keys, crm):
    for role in ("viewer", "scorer"):
        response = client.put("/v1/targets", json=EAST, headers=auth(api_keys[role]))
        assert response.status_code == 403 and "needs admin" in response.json()["detail"]
    assert client.get("/v1/targets", headers=auth(api_keys["scorer"])).status_code == 403
    assert client.get("/v1/targets").status_code == 401


def test_a_target_names_its_rep_however_the_unicode_of_the_name_was_sent(
    client, settings, api_keys
):
    """A rep imported as "Zoë Fischer" (NFC) gets the target an admin sends for the same name
    in NFD, with a no-break space and a zero-width space (a name copied from a web page or a
    macOS file): one rep, not an unknown one, stored and read back as the deals name her."""
    frame = pd.DataFrame(
        [{"id": "D1", "stage": "Prospecting", "created_at": "2017-05-01", "owner": "Zoë Fischer"}]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    sent = "\u200bZoe\u0308\u00a0Fischer "
    assert sent != "Zoë Fischer"
    response = client.put(
        "/v1/targets",
        json={"level": "rep", "name": sent, "period": "2017-Q3", "amount": 5000},
        headers=auth(api_keys["admin"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["targets"][0]["name"] == "Zoë Fischer"
    with store.get_engine(settings).connect() as conn:
        assert targets.targets_for(conn, "crm", "2017-Q3", "rep") == {"Zoë Fischer": 5000.0}
