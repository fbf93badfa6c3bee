"""The dashboard's "why the forecast moved", as the tracking run kept it: with a bar of its own
for deals won or lost before the period, and a run kept before those bars existed still drawn
(its missing bars read as 0, its bars still adding up)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from forecast import keys
from forecast.data import store
from forecast.forecasting import forecast_runs, stored_forecasts
from forecast.history import load_deal_history
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import import_generated
from tests.serving.test_dashboard import sign_in

# The generated data ends on 2024-12-31: 2025-Q1 is the quarter the tracking run looks ahead to.
PAGE = "/?dataset=crm&period=2025-Q1"
NEW_BARS = ("won_before_period", "lost_before_period")


def _bar_row(html: str, bar: str) -> str:
    found = re.search(rf'<tr data-bar="{bar}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {bar}"
    return found.group(1)


def _figure(html: str) -> dict:
    found = re.search(r'id="moved-figure">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def _as_stored_before_the_new_bars(document: dict) -> dict:
    """The document as a run before this change kept it: won before the period in slipped,
    lost before it in lost, and no bars of their own."""
    bars = dict(document["bars"])
    bars["slipped"] += bars.pop("won_before_period")
    bars["lost"] += bars.pop("lost_before_period")
    deals = {k: v for k, v in document["deals"].items() if k not in NEW_BARS}
    return {**document, "bars": bars, "deals": deals}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("moved") / "state", key_cache_seconds=0)
    engine = store.get_engine(settings)
    import_generated(settings)
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    with engine.begin() as conn:
        viewer = keys.create_key(conn, "viewer", "managers")[1]
    return settings, engine, viewer


def _page(settings: Settings, viewer: str) -> str:
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, viewer).status_code == 303
        got = client.get(PAGE)
    assert got.status_code == 200
    return got.text


def test_a_tracked_run_shows_won_and_lost_before_the_period(tracked):
    settings, _, viewer = tracked
    html = _page(settings, viewer)
    for bar, label in zip(
        NEW_BARS, ("Won before the period", "Lost before the period"), strict=True
    ):
        assert label in _bar_row(html, bar)
    y = _figure(html)["data"][0]["y"]
    assert len(y) == 11 and sum(y[1:-1]) == pytest.approx(y[-1] - y[0], abs=0.05)


def test_a_run_stored_before_the_new_bars_still_renders_them_as_0(tracked):
    settings, engine, viewer = tracked
    table = store.forecast_documents
    where = table.c.grouping == stored_forecasts.WATERFALL
    with engine.begin() as conn:
        rows = conn.execute(select(table.c.pk, table.c.document).where(where)).all()
        assert rows
        for pk, document in rows:
            old = _as_stored_before_the_new_bars(document)
            conn.execute(update(table).where(table.c.pk == pk).values(document=old))
    html = _page(settings, viewer)
    for bar in NEW_BARS:
        assert 'data-value="0.0"' in _bar_row(html, bar)
    assert "kept by a tracking run before won and lost before the period" in html
    figure = _figure(html)["data"][0]
    y = figure["y"]
    assert len(y) == len(figure["x"]) == 11
    assert sum(y[1:-1]) == pytest.approx(y[-1] - y[0], abs=0.05)  # still adds up
