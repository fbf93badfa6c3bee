"""Fast from the first view: after a tracking run, the server's start-up warm-up builds the
dashboard views a manager opens first (the default, the next quarter, each team's) from the
stored forecasts, fitting no model, and the first manager to open them gets them."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from forecast.data import store
from forecast.forecasting import fitted, forecast_runs
from forecast.history import load_deal_history
from forecast.settings import Settings
from serving.app import create_app
from serving.datasets import load_dataset
from tests.serving.conftest import import_generated, keys_of_every_role
from tests.serving.test_dashboard import sign_in


def _no_fitting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    raise AssertionError("a model was fitted: the stored forecast was not used")


def test_the_first_view_is_warmed_at_start_from_the_stored_forecast(tmp_path, monkeypatch):
    settings = Settings(state_dir=tmp_path / "state", warm_up_on_start=True, key_cache_seconds=0)
    import_generated(settings)
    engine = store.get_engine(settings)
    forecast_runs.track(engine, load_deal_history(engine, "crm"), "crm")
    viewer = keys_of_every_role(settings)["viewer"]
    monkeypatch.setattr(fitted, "fit_forecast_models", _no_fitting)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").json().get("warming"):
            assert time.monotonic() < deadline, "the warm-up did not end"
            time.sleep(0.2)
        warm = client.app.state.warmup
        assert warm.message.startswith("default dashboard view ready, and "), warm.message
        team = load_dataset(engine, "crm", client.app.state.datasets).teams[0]
        assert sign_in(client, viewer).status_code == 303
        pages = [client.get(path) for path in ("/", "/?period=2025-Q2", f"/?team={team}")]
    for page in pages:  # the default view, the next quarter's, a team's: all from stored runs
        assert page.status_code == 200
        assert "forecast-unavailable" not in page.text and "teams-unavailable" not in page.text
    # The default view (2025-Q1, the data ending on 2024-12-31) shows why its forecast moved
    # over the past week, as the run kept it.
    assert "Why the forecast moved · 2025-Q1" in pages[0].text
    assert 'id="moved-table"' in pages[0].text and 'data-bar="new_deals"' in pages[0].text
    assert 'id="moved-none"' in pages[1].text  # a quarter the run kept no waterfall for


def test_without_a_stored_forecast_the_first_view_still_computes(tmp_path):
    settings = Settings(state_dir=tmp_path / "state", warm_up_on_start=False, key_cache_seconds=0)
    import_generated(settings)
    viewer = keys_of_every_role(settings)["viewer"]
    with TestClient(create_app(settings)) as client:
        assert client.app.state.warmup is None and "warming" not in client.get("/readyz").json()
        assert sign_in(client, viewer).status_code == 303
        page = client.get("/")
    assert page.status_code == 200 and "forecast-unavailable" not in page.text
