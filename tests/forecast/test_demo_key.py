"""The local demo's sign-in key: `make run` shows a working admin key, the same one on every
start, kept where only its owner can read it, and a fresh one once the old one stops working."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import select

from forecast import keys
from forecast.data import store
from forecast.demo import DEMO_KEY_FILE, demo_key, sign_in_lines
from forecast.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def _verified(settings: Settings, key: str) -> keys.ApiKey | None:
    return keys.KeyVerifier(store.get_engine(settings), ttl_seconds=0).verify(key)


def test_the_demo_key_signs_in_as_admin_and_is_the_same_on_the_next_start(tmp_path):
    settings = _settings(tmp_path)
    first = demo_key(settings)
    assert first.created
    found = _verified(settings, first.key)
    assert found is not None and found.role == "admin"
    again = demo_key(settings)
    assert again.key == first.key and not again.created
    with store.get_engine(settings).connect() as conn:
        assert len(conn.execute(select(store.api_keys.c.id)).all()) == 1  # not one per start


def test_the_kept_key_is_readable_by_its_owner_only(tmp_path):
    settings = _settings(tmp_path)
    demo_key(settings)
    mode = stat.S_IMODE((settings.state_dir / DEMO_KEY_FILE).stat().st_mode)
    assert mode == 0o600


def test_a_revoked_demo_key_is_replaced_by_a_working_one(tmp_path):
    settings = _settings(tmp_path)
    old = demo_key(settings)
    record = _verified(settings, old.key)
    assert record is not None
    with store.get_engine(settings).begin() as conn:
        keys.revoke_key(conn, record.id)
    new = demo_key(settings)
    assert new.created and new.key != old.key
    assert _verified(settings, new.key) is not None
    assert (settings.state_dir / DEMO_KEY_FILE).read_text().strip() == new.key


def test_the_sign_in_lines_give_the_url_and_the_key(tmp_path):
    settings = _settings(tmp_path)
    lines = sign_in_lines(settings)
    key = demo_key(settings).key
    assert f"http://{settings.host}:{settings.port}" in lines[0]
    assert lines[1].endswith(key)
