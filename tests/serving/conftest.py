"""An app on a fresh SQLite store per test, with a key of each role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecast import keys
from forecast.data import store
from forecast.settings import Settings
from serving.app import create_app


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store per test module, for settings that name it: making its tables takes
    seconds, and tests of the API that train no model need no store of their own."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", max_body_bytes=10_000, key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api_keys(settings: Settings) -> dict[str, str]:
    return keys_of_every_role(settings)


def keys_of_every_role(settings: Settings) -> dict[str, str]:
    """A key of each role in the settings' store, by role."""
    with store.get_engine(settings).begin() as conn:
        return {role: keys.create_key(conn, role, f"test {role}")[1] for role in keys.ROLES}


def import_generated(settings: Settings, deals: int = 700, seed: int = 5) -> None:
    """A generated pipeline (2023–2024) as dataset `crm` in the settings' store."""
    from forecast.data.generator import generate_pipeline
    from forecast.data.importing import import_frame
    from forecast.data.mapping import load_mapping

    pipeline = generate_pipeline(deals, seed=seed)
    frame = pipeline.opportunities.drop(columns=["status"])
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
