"""Files the service creates in a fresh state folder are its own: the SQLite store and the MLflow
database 600, the state folder and the local model copies 700 (whatever the process umask)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from forecast import keys
from forecast.data import store
from forecast.modeling.registry import list_models, load_champion
from forecast.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common 022: files would be world-readable unless created otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_the_store_is_created_600_in_a_700_folder(settings):
    engine = store.get_engine(settings)
    with engine.begin() as conn:
        keys.create_key(conn, "viewer", "someone")
        conn.execute(text("SELECT 1"))
    state = settings.state_dir.resolve()
    assert mode(state) == 0o700
    assert mode(state / "forecast.db") == 0o600
    for extra in ("forecast.db-wal", "forecast.db-shm"):  # SQLite copies the file's mode
        if (state / extra).exists():
            assert mode(state / extra) == 0o600


def test_an_existing_store_file_is_left_as_it_is(tmp_path):
    path = tmp_path / "own.db"
    path.touch(mode=0o640)
    store.make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o640


def test_the_mlflow_database_and_the_model_copies_are_private(settings):
    assert list_models(settings) == []
    assert load_champion("deals", settings) is None
    state = settings.state_dir.resolve()
    assert mode(state) == 0o700
    assert mode(state / "mlflow.db") == 0o600
    assert mode(state / "models") == 0o700
