"""Targets set after the dashboard showed a view: the next view shows them, wherever they were
written from (`forecast targets import` in another process writes the store, not the app), both
where the view was cached and where it came from the tracked run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fastapi.testclient import TestClient

from forecast import keys
from forecast.data import store
from forecast.forecasting import forecast_runs
from forecast.forecasting.targets import import_targets
from forecast.history import load_deal_history
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, import_generated
from tests.serving.test_dashboard import row_of, sign_in, value

# The generated data ends on 2024-12-31: 2025-Q1 is the quarter ahead.
PERIOD = "2025-Q1"


def test_targets_imported_after_a_view_was_shown_show_at_the_next_view(tmp_path: Path):
    settings = Settings(state_dir=tmp_path / "state", key_cache_seconds=0)
    engine = store.get_engine(settings)
    import_generated(settings)
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")  # as an import does
    with engine.begin() as conn:
        viewer = keys.create_key(conn, "viewer", "managers")[1]
    page = f"/?dataset=crm&period={PERIOD}"
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, viewer).status_code == 303
        before = client.get(page).text
        assert value(before, "target") is None and value(before, "p_target") is None
        asked = {"params": {"period": PERIOD, "by": "team"}, "headers": auth(viewer)}
        team = client.get("/v1/forecast", **asked).json()["groups"][0]["group"]

        file = tmp_path / "targets.csv"
        file.write_text(
            f"level,name,period,amount\nall,total,{PERIOD},250000\nteam,{team},{PERIOD},60000\n"
        )
        import_targets(engine, file, dataset="crm")  # what `forecast targets import` does

        after = client.get(page).text
        api = client.get("/v1/forecast", **asked).json()
        assert api["total"]["target"] == 250000.0
        assert value(after, "target") == 250000.0
        assert value(after, "p_target") == api["total"]["p_target"]
        assert 'data-value="60000.0"' in row_of(after, "teams", team)
        rows = csv.DictReader(io.StringIO(client.get(f"/dashboard/forecast.csv?{page[2:]}").text))
        assert next(r for r in rows if r["period"] == PERIOD)["target"] == "250000.0"
