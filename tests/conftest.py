"""Shared fixtures: an isolated state folder per run, stores on SQLite and PostgreSQL, shared data.

PostgreSQL tests run against 127.0.0.1:5432 (user postgres) in a database made for this run
and dropped after it; they skip, saying why, only when no server answers there.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything reads settings: nothing a test does touches the developer's own state.
_STATE = tempfile.mkdtemp(prefix="forecast-test-state-")
atexit.register(shutil.rmtree, _STATE, ignore_errors=True)
os.environ["FORECAST_STATE_DIR"] = _STATE
os.environ.pop("FORECAST_DATABASE_URL", None)
os.environ.pop("FORECAST_MLFLOW_TRACKING_URI", None)
# Forecasts in the server's threads, where tests can see the caches and budgets; the worker
# processes (the served default) are tested on their own (tests/serving/test_forecast_workers.py).
os.environ["FORECAST_FORECAST_PROCESSES"] = "false"
# A busy CI machine must not turn a slow page into a 503: tests of the limits set their own.
os.environ["FORECAST_HEAVY_BUDGET_SECONDS"] = "600"
os.environ["FORECAST_HEAVY_WAIT_SECONDS"] = "120"
# No scheduled forecast tracking in a test's server unless it asks (tests/serving/test_tracking.py).
os.environ["FORECAST_TRACK_EVERY_HOURS"] = "0"
# Nor warm a dashboard view at start (the test that checks the warm-up turns it on).
os.environ["FORECAST_WARM_UP_ON_START"] = "false"
# Nor track the forecast after each import (tests/training/test_import_tracking.py does).
os.environ["FORECAST_TRACK_AFTER_IMPORT"] = "false"
# Nor reload the models in the background when the store or the registry changes: a test's own
# reloads and counts of registry calls stay its own (tests/serving/test_freshness.py turns it on).
os.environ["FORECAST_RELOAD_CHECK_SECONDS"] = "0"

from sqlalchemy import Engine, create_engine, text  # noqa: E402

from forecast.data import store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
OPPORTUNITIES_DIR = SHARED_DATA / "crm_sales_opportunities"
LEADS_CSV = SHARED_DATA / "lead_scoring_x_education" / "Leads.csv"
PG_ADMIN_URL = os.environ.get(
    "FORECAST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def shared_opportunities() -> Path:
    if not OPPORTUNITIES_DIR.is_dir():
        pytest.skip(f"shared opportunity data not found at {OPPORTUNITIES_DIR}")
    return OPPORTUNITIES_DIR


@pytest.fixture(scope="session")
def shared_leads() -> Path:
    if not LEADS_CSV.is_file():
        pytest.skip(f"shared lead data not found at {LEADS_CSV}")
    return LEADS_CSV


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server here"
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    name = f"forecast_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh(engine: Engine) -> Engine:
    with engine.begin() as conn:
        store.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.migrate(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        eng = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        eng = store.make_engine(request.getfixturevalue("pg_server_url"))
    yield _fresh(eng)
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    yield _fresh(eng)
    eng.dispose()
