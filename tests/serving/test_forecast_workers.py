"""Forecasts in worker processes (the served default): the same answer as in the server's
threads, library errors mapped as ever, and a request that ends early kills its child: the work
stops for real and a fresh child takes the slot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, import_generated, keys_of_every_role

SAFETY = 120.0
DEAL = {"id": "w-1", "stage": "Demonstration", "created_at": "2024-11-02", "amount": 5000}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("workers"),
        key_cache_seconds=0,
        forecast_processes=True,
        heavy_concurrency=1,
        heavy_budget_seconds=SAFETY,
    )
    import_generated(settings)
    return settings


@pytest.fixture(scope="module")
def api_keys(base: Settings) -> dict[str, str]:
    return keys_of_every_role(base)


def client_with(base: Settings, **changes: Any) -> TestClient:
    return TestClient(create_app(base.model_copy(update=changes)))


def child_pid(client: TestClient) -> int:
    workers = client.app.state.forecast_workers  # type: ignore[attr-defined]
    return workers._free._queue[0].process.pid


@pytest.fixture(scope="module")
def in_threads(base: Settings, api_keys: dict[str, str]) -> Iterator[TestClient]:
    with client_with(base, forecast_processes=False) as client:
        client.headers.update(auth(api_keys["viewer"]))
        yield client


def test_a_forecast_from_a_worker_process_is_the_one_the_server_computes(
    base, api_keys, in_threads
):
    params = {"period": "2024-Q3", "by": "team"}
    with client_with(base) as client:
        client.headers.update(auth(api_keys["viewer"]))
        got = client.get("/v1/forecast", params=params)
    assert got.status_code == 200, got.text
    assert got.json() == in_threads.get("/v1/forecast", params=params).json()


def test_library_errors_from_the_worker_keep_their_status_and_message(base, api_keys):
    with client_with(base) as client:
        client.headers.update(auth(api_keys["viewer"]))
        bad = client.get("/v1/forecast", params={"period": "2024-Q9"})
        assert bad.status_code == 422 and "2024-Q9" in bad.json()["detail"]
        missing = client.get("/v1/forecast", params={"period": "2024-Q3", "dataset": "nope"})
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        far = client.get("/v1/forecast", params={"period": "2263"})
        assert far.status_code == 422
        # An unknown team or rep is 404 from every route, a forecast made in a worker too.
        nobody = {"period": "2024-Q3", "by": "team", "group": "Team Nobody"}
        unknown = client.get("/v1/forecast", params=nobody)
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["type"] == "UnknownGroup"


def test_a_spent_budget_kills_the_child_and_a_fresh_one_takes_the_slot(base, api_keys):
    with client_with(base, heavy_budget_seconds=0.3, retry_after_seconds=7) as client:
        client.headers.update(auth(api_keys["viewer"]))
        before = child_pid(client)
        busy = client.get("/v1/forecast", params={"period": "2024-Q2", "as_of": "2024-03-03"})
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "7" and "time budget" in busy.json()["detail"]
        after = child_pid(client)
        assert after != before
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(before, 0)  # the old child is gone, not computing on


def test_a_request_past_the_limit_gets_503_while_scoring_answers(base, api_keys):
    with client_with(base, heavy_wait_seconds=0.0) as client, ThreadPoolExecutor(1) as pool:
        viewer = auth(api_keys["viewer"])
        first = pool.submit(
            client.get, "/v1/forecast", params={"period": "2024-Q4"}, headers=viewer
        )
        workers = client.app.state.forecast_workers  # type: ignore[attr-defined]
        deadline = time.monotonic() + SAFETY
        while workers._free.qsize() and time.monotonic() < deadline:  # until it holds the slot
            time.sleep(0.01)
        busy = client.get("/v1/forecast", params={"period": "2024-Q1"}, headers=viewer)
        assert busy.status_code == 503 and "busy" in busy.json()["detail"]
        score = client.post("/v1/deals/score", json=DEAL, headers=auth(api_keys["scorer"]))
        assert score.status_code == 200, score.text
        assert first.result(SAFETY).status_code == 200
