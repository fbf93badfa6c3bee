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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", max_body_bytes=10_000, key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api_keys(settings: Settings) -> dict[str, str]:
    made = {}
    with store.get_engine(settings).begin() as conn:
        for role in keys.ROLES:
            made[role] = keys.create_key(conn, role, f"test {role}")[1]
    return made


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
