"""One definition of the default period (`periods.current_period`): the dashboard opens on the
period `forecast track` keeps as current, whose forecasts and "why the forecast moved" it stores
for the API and the page. Data ending on a quarter's last day (its "now" the next midnight) has
nothing left to forecast there: both open on the quarter ahead."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast import keys
from forecast.data import store
from forecast.forecasting import forecast_runs, stored_forecasts
from forecast.history import load_deal_history
from forecast.periods import current_period
from forecast.settings import Settings
from serving.app import create_app
from serving.caches import BuildOnceCache
from serving.dashboard.page import choose_view, period_choices
from serving.datasets import load_dataset
from tests.serving.conftest import import_generated
from tests.serving.test_dashboard import sign_in


@pytest.mark.parametrize(
    ("now", "freq", "label"),
    [
        ("2025-01-01", "quarter", "2025-Q1"),  # data ending 2024-12-31: its "now" is midnight
        ("2024-11-15", "quarter", "2024-Q4"),
        ("2024-12-31 23:59:59", "quarter", "2024-Q4"),
        ("2024-12-01", "month", "2024-12"),
    ],
)
def test_the_default_period_holds_now(now, freq, label):
    assert current_period(pd.Timestamp(now), freq).label == label


def test_on_data_ending_on_a_quarters_last_day_the_dashboard_opens_on_the_quarter_ahead(
    tmp_path,
):
    settings = Settings(state_dir=tmp_path / "state", key_cache_seconds=0)
    import_generated(settings, deals=300)  # generated deals end on 2024-12-31
    engine = store.get_engine(settings)
    history = load_deal_history(engine, "crm")
    assert history.now() == pd.Timestamp("2025-01-01")

    data = load_dataset(engine, "crm", BuildOnceCache(1))
    view = choose_view(data)
    assert view.period.label == "2025-Q1"
    assert view.as_of == pd.Timestamp("2025-01-01")  # forecast as of now, not of a past start
    assert period_choices(data, "quarter")[:4] == ["2025-Q3", "2025-Q2", "2025-Q1", "2024-Q4"]

    forecast_runs.track(engine, history, "crm", settings=settings)
    tracked = forecast_runs.period_history(engine, "crm", view.period.label)
    assert tracked["points"], "the tracking run did not keep the dashboard's default period"
    # What GET /v1/forecast and `forecast revenue` serve for it, and the default view's own
    # forecast (per team, as of the view's date), are the stored ones.
    for by, as_of in ((None, None), ("team", view.as_of)):
        found = stored_forecasts.find(
            engine, view.period.label, dataset="crm", by=by, as_of=as_of, settings=settings
        )
        assert found is not None, (by, as_of)

    with engine.begin() as conn:
        viewer = keys.create_key(conn, "viewer", "managers")[1]
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, viewer).status_code == 303
        page = client.get("/?dataset=crm")
    assert page.status_code == 200, page.text
    assert "Why the forecast moved · 2025-Q1" in page.text
    assert 'id="moved-none"' not in page.text, "the default view's breakdown was not tracked"
    assert 'id="moved-table"' in page.text and 'id="moved-figure"' in page.text
