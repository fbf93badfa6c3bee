"""Nothing exhausts the server: expensive views are limited, budgeted and stop when nobody waits.

A viewer asking many forecasts at once gets 503 with Retry-After beyond `heavy_concurrency`
while scoring still answers; a forecast that outruns its time budget is a 503 (never a 500) and
leaves nothing half-fitted in the cache; a cancelled forecast stops at its next checkpoint; a
client that hangs up frees its slot. Concurrency is made deterministic with events, not sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forecast import budget
from forecast.data import store
from forecast.forecasting.revenue import forecast_revenue
from forecast.history import DealHistory, load_deal_history
from forecast.settings import Settings
from forecast.timing import hazard
from serving.app import create_app
from serving.routes import forecast as forecast_route
from tests.serving.conftest import auth, import_generated, keys_of_every_role

PERIOD = "2024-Q3"
DEAL = {"stage": "Qualification", "amount": 12_000, "created_at": "2024-05-01"}
#: Upper bound for a test's own waits: only reached when the behaviour under test is broken.
SAFETY = 60.0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(state_dir=tmp_path_factory.mktemp("bounded"), key_cache_seconds=0)


@pytest.fixture(scope="module")
def api_keys(base: Settings) -> dict[str, str]:
    import_generated(base)
    return keys_of_every_role(base)


@pytest.fixture(scope="module")
def history(base: Settings, api_keys: dict[str, str]) -> DealHistory:
    return load_deal_history(store.get_engine(base), "crm")


def app_with(base: Settings, **limits: Any) -> FastAPI:
    return create_app(base.model_copy(update=limits))


def wait_idle(app: FastAPI) -> None:
    """Until every computation the app started has finished (its worker thread returned)."""
    deadline = time.monotonic() + SAFETY
    while app.state.heavy.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.state.heavy.running == 0


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The forecast route's computation waits at `release` after saying `started`."""
    started, release = threading.Event(), threading.Event()
    real = forecast_route.forecast_against_targets

    def waiting(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(SAFETY)
        return real(*args, **kwargs)

    monkeypatch.setattr(forecast_route, "forecast_against_targets", waiting)
    yield started, release
    release.set()


def test_a_request_beyond_the_concurrency_limit_gets_503_with_retry_after_while_scoring_answers(
    base, api_keys, held
):
    started, release = held
    app = app_with(base, heavy_concurrency=1, heavy_wait_seconds=0.0, retry_after_seconds=7)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        viewer = auth(api_keys["viewer"])
        first = pool.submit(client.get, "/v1/forecast", params={"period": PERIOD}, headers=viewer)
        assert started.wait(SAFETY)
        for path, params in (("/v1/forecast", {"period": "2024-Q4"}), ("/v1/kpis", {})):
            busy = client.get(path, params=params, headers=viewer)
            assert busy.status_code == 503, busy.text
            assert busy.headers["Retry-After"] == "7"
            assert busy.json()["type"] == "Busy" and "busy" in busy.json()["detail"]
        score = client.post("/v1/deals/score", json=DEAL, headers=auth(api_keys["scorer"]))
        assert score.status_code == 200, score.text
        assert client.get("/healthz").status_code == 200
        release.set()
        answered = first.result(SAFETY)
        assert answered.status_code == 200 and answered.json()["period"]["label"] == PERIOD


def test_requests_within_the_limit_wait_for_a_slot_rather_than_fail(base, api_keys, held):
    started, release = held
    app = app_with(base, heavy_concurrency=1, heavy_wait_seconds=SAFETY)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        viewer = auth(api_keys["viewer"])
        first = pool.submit(client.get, "/v1/forecast", params={"period": PERIOD}, headers=viewer)
        assert started.wait(SAFETY)
        second = pool.submit(client.get, "/v1/kpis", headers=viewer)
        release.set()
        assert first.result(SAFETY).status_code == 200
        assert second.result(SAFETY).status_code == 200


def spend_budget_after_first_part(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the time budget run out in the middle of the model fit (between its two parts):
    the same as a slow fit, without depending on the machine's speed."""
    fitted: list[str] = []
    real = hazard.TimeToClose._fit_part

    def fit_part(self: hazard.TimeToClose, *args: Any) -> Any:
        part = real(self, *args)
        fitted.append("part")
        work = budget.current()
        if work is not None:
            work.deadline = time.monotonic() - 1.0
        return part

    monkeypatch.setattr(hazard.TimeToClose, "_fit_part", fit_part)
    return fitted


def test_a_spent_budget_is_a_503_and_nothing_half_fitted_is_cached(base, api_keys, monkeypatch):
    fitted = spend_budget_after_first_part(monkeypatch)
    app = app_with(base, heavy_budget_seconds=SAFETY, retry_after_seconds=3)
    viewer = auth(api_keys["viewer"])
    with TestClient(app) as client:
        spent = client.get("/v1/forecast", params={"period": PERIOD}, headers=viewer)
        assert spent.status_code == 503, spent.text
        assert spent.headers["Retry-After"] == "3"
        assert "time budget" in spent.json()["detail"]
        wait_idle(app)
        assert fitted == ["part"]  # stopped at the checkpoint after the first part
        assert len(app.state.forecast_models.entries) == 0

        monkeypatch.undo()
        full = client.get("/v1/forecast", params={"period": PERIOD}, headers=viewer)
        assert full.status_code == 200, full.text
        assert full.json()["method"] == "time-to-close model"
        assert len(app.state.forecast_models.entries) == 1


def test_a_budget_of_almost_nothing_is_a_503_not_a_500(base, api_keys):
    app = app_with(base, heavy_budget_seconds=1e-9)
    with TestClient(app) as client:
        viewer = auth(api_keys["viewer"])
        for path, params in (("/v1/forecast", {"period": PERIOD}), ("/v1/kpis", {})):
            response = client.get(path, params=params, headers=viewer)
            assert response.status_code == 503, response.text
            assert "Retry-After" in response.headers
        wait_idle(app)
        assert len(app.state.forecast_models.entries) == 0


def test_a_cancelled_forecast_stops_at_the_next_boosting_round(history, monkeypatch):
    """Library level: the real forecast, cancelled from outside while the model fits."""
    rounds: list[int] = []
    work = budget.Budget()
    real_train = lgb.train

    def train(*args: Any, callbacks: list[Callable[..., None]], **kwargs: Any) -> Any:
        def spy(env: Any) -> None:  # after each round: the client "leaves" after the third
            rounds.append(env.iteration)
            if len(rounds) == 3:
                work.cancel()

        return real_train(*args, callbacks=[*callbacks, spy], **kwargs)

    monkeypatch.setattr(hazard.lgb, "train", train)
    with budget.within(work), pytest.raises(budget.Cancelled):
        forecast_revenue(history, PERIOD)
    assert rounds == [0, 1, 2]


def test_outside_a_budget_the_checkpoints_do_nothing(history):
    assert budget.current() is None
    budget.check()
    assert forecast_revenue(history, PERIOD).total.expected > 0


def test_the_budget_reaches_the_worker_thread_of_a_route():
    """Starlette's thread pool copies the context: a budget set before the call is seen."""
    from fastapi.concurrency import run_in_threadpool

    async def main() -> budget.Budget | None:
        with budget.within(budget.Budget(SAFETY)):
            return await run_in_threadpool(budget.current)

    assert asyncio.run(main()) is not None


def test_a_client_that_hangs_up_frees_its_slot(base, api_keys, monkeypatch):
    started = threading.Event()
    stopped: list[str] = []

    def endless(*args: Any, **kwargs: Any) -> Any:
        started.set()
        deadline = time.monotonic() + SAFETY
        try:
            while time.monotonic() < deadline:  # a long computation with checkpoints
                budget.check()
                time.sleep(0.005)
        except budget.Cancelled:
            stopped.append("cancelled")
            raise
        raise AssertionError("the computation was never cancelled")

    monkeypatch.setattr(forecast_route, "forecast_against_targets", endless)
    app = app_with(base, heavy_concurrency=1, heavy_wait_seconds=SAFETY)
    key = api_keys["viewer"].encode()

    async def call(path: str, query: bytes, receive: Callable[[], Any]) -> list[dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"test"), (b"x-api-key", key)],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
        }
        await app(scope, receive, send)
        return sent

    def client(leaves: Callable[[], bool]) -> Callable[[], Any]:
        """An ASGI `receive` as a server gives it for a GET: the empty body, then (blocking)
        the disconnect once `leaves()` says the client has gone."""
        messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> dict:
            first = next(messages, None)
            if first is not None:
                return first
            while not leaves():
                await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}

        return receive

    async def main() -> tuple[list[dict], list[dict]]:
        # The client hangs up once its forecast is under way.
        hung_up = await call("/v1/forecast", f"period={PERIOD}".encode(), client(started.is_set))
        # One slot: this is answered only once the first computation has really stopped.
        after = await call("/v1/kpis", b"", client(lambda: False))
        return hung_up, after

    hung_up, after = asyncio.run(main())
    assert stopped == ["cancelled"]
    assert hung_up[0]["status"] == 503
    assert after[0]["status"] == 200
