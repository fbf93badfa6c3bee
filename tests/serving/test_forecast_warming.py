"""A forecast asked for while the server warms up (reading the deal dataset at start-up) and
that cannot wait for it answers 503 saying the server is not ready yet and what it is doing,
with Retry-After; once the warm-up is done a 503 no longer says so. Every 503 (busy or not
ready) says when to retry."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecast.settings import Settings
from serving import datasets
from serving.app import create_app
from tests.serving.conftest import auth, import_generated, keys_of_every_role


@pytest.fixture
def slow_read(monkeypatch):
    """The dataset's read held until the test lets it go (the warm-up's read of a large CRM)."""
    go = threading.Event()
    read = datasets._read

    def held(*args):  # noqa: ANN002, ANN202
        assert go.wait(60), "the test never let the read go"
        return read(*args)

    monkeypatch.setattr(datasets, "_read", held)
    yield go
    go.set()


def test_a_forecast_during_the_warm_up_is_503_saying_so_with_retry_after(tmp_path: Path, slow_read):
    settings = Settings(
        state_dir=tmp_path / "state",
        key_cache_seconds=0,
        warm_up_on_start=True,
        forecast_processes=False,  # the forecast waits for the warm-up's read of the dataset
        heavy_budget_seconds=0.5,
        retry_after_seconds=7,
        track_every_hours=0,
    )
    import_generated(settings, deals=300)
    viewer = auth(keys_of_every_role(settings)["viewer"])
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["warming"] is True
        early = client.get("/v1/forecast", params={"period": "2024-Q3"}, headers=viewer)
        assert early.status_code == 503, early.text
        assert early.headers["Retry-After"] == "7"
        said = early.json()
        assert said["type"] == "Busy"
        assert said["detail"].startswith(
            "the server is warming up (at start-up and after each tracking run): it reads the "
            "deal dataset and builds the first dashboard views ("
        )
        assert (
            "waits for that read; the server's time budget for this request (0.5 s) "
            in (said["detail"])
        )
        slow_read.set()
        deadline = time.monotonic() + 120
        while client.get("/readyz").json().get("warming"):
            assert time.monotonic() < deadline, "the warm-up did not end"
            time.sleep(0.2)
        later = client.get("/v1/forecast", params={"period": "2024-Q3"}, headers=viewer)
    # Warmed up: answered, or (a fit past its tiny budget) busy, no longer said as warming.
    assert later.status_code in (200, 503), later.text
    if later.status_code == 503:
        assert later.headers["Retry-After"] == "7"
        assert later.json()["detail"].startswith("the server's time budget for this request")


def test_a_503_for_no_model_yet_says_when_to_retry(client, api_keys):
    """Nothing imported: no deal dataset to score against, a 503 saying so, with Retry-After."""
    response = client.post(
        "/v1/deals/score",
        json={"stage": "Prospecting", "created_at": "2024-03-01"},
        headers=auth(api_keys["scorer"]),
    )
    assert response.status_code == 503, response.text
    assert response.json()["type"] == "ModelNotReady" and response.json()["detail"]
    assert response.headers["Retry-After"] == "5"
