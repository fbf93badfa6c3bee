"""With several workers (`forecast serve --workers N`), /metrics adds up every worker's counts
(Prometheus multiprocess mode): each worker here is a process of its own, as uvicorn makes them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecast.settings import Settings
from serving.app import create_app
from serving.observability import MULTIPROC_ENV, Metrics, prepare_multiprocess

REPO = Path(__file__).resolve().parents[2]

#: One worker: an app of its own on the shared store, answering `calls` health checks.
WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from forecast.settings import Settings
    from serving.app import create_app

    state, calls = Path(sys.argv[1]), int(sys.argv[2])
    settings = Settings(state_dir=state, forecast_processes=False, track_every_hours=0)
    with TestClient(create_app(settings)) as client:
        for _ in range(calls):
            assert client.get("/healthz").status_code == 200
    """
)


def run_worker(state: Path, calls: int, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", WORKER, str(state), str(calls)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )


def healthz_count(body: str) -> float:
    line = 'forecast_requests_total{method="GET",route="/healthz",status="200"}'
    [value] = [row.split()[-1] for row in body.splitlines() if row.startswith(line)]
    return float(value)


@pytest.fixture(autouse=True)
def own_environment(monkeypatch):
    """`prepare_multiprocess` names its folder in the process environment, as `forecast serve`
    needs; here that stays in this module's tests (the rest of the suite keeps one process's
    metrics in memory)."""
    monkeypatch.setattr(os, "environ", os.environ.copy())


def test_metrics_add_up_the_requests_of_every_worker(tmp_path, monkeypatch):
    state = tmp_path / "state"
    stale = state / "prometheus"
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"left by an earlier run")
    folder = prepare_multiprocess(state)  # what `forecast serve --workers 2` does first
    assert folder == stale.resolve() and not any(folder.iterdir())  # an earlier run's go
    env = {**os.environ, MULTIPROC_ENV: str(folder)}
    monkeypatch.setenv(MULTIPROC_ENV, str(folder))
    run_worker(state, 3, env)
    run_worker(state, 4, env)
    # Any worker answers a scrape with the whole server's counts.
    with TestClient(create_app(Settings(state_dir=state, track_every_hours=0))) as client:
        body = client.get("/metrics").text
    assert healthz_count(body) == 7


def test_one_worker_keeps_its_metrics_in_memory(monkeypatch):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    metrics = Metrics()
    assert metrics.multiprocess is None
    metrics.request_done("/healthz", "GET", 200, 0.001)
    metrics.request_done("/healthz", "GET", 200, 0.001)
    text = metrics.exposition().decode()
    assert healthz_count(text) == 2


def test_preparing_names_the_folder_for_the_workers_to_inherit(tmp_path, monkeypatch):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    folder = prepare_multiprocess(tmp_path)
    assert os.environ[MULTIPROC_ENV] == str(folder)
    assert Metrics().multiprocess == folder
