"""One definition of the default period (`periods.current_period`): the dashboard opens on the
period `forecast track` keeps as current, whose forecasts it stores for the API and the page,
also for data exported on a quarter's last day (its "now" the next midnight, a new quarter)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data import store
from forecast.forecasting import forecast_runs, stored_forecasts
from forecast.history import load_deal_history
from forecast.periods import current_period
from forecast.settings import Settings
from serving.caches import BuildOnceCache
from serving.dashboard.page import choose_view, period_choices
from serving.datasets import load_dataset
from tests.serving.conftest import import_generated


@pytest.mark.parametrize(
    ("now", "freq", "label"),
    [
        ("2025-01-01", "quarter", "2024-Q4"),  # data ending 2024-12-31: its "now" is midnight
        ("2024-11-15", "quarter", "2024-Q4"),
        ("2024-10-01 00:00:01", "quarter", "2024-Q4"),
        ("2024-12-01", "month", "2024-11"),
    ],
)
def test_the_default_period_holds_the_last_instant_before_now(now, freq, label):
    assert current_period(pd.Timestamp(now), freq).label == label


def test_on_data_ending_on_a_quarters_last_day_the_dashboard_opens_on_the_tracked_period(
    tmp_path,
):
    settings = Settings(state_dir=tmp_path / "state", key_cache_seconds=0)
    import_generated(settings, deals=300)  # generated deals end on 2024-12-31
    engine = store.get_engine(settings)
    history = load_deal_history(engine, "crm")
    assert history.now() == pd.Timestamp("2025-01-01")

    data = load_dataset(engine, "crm", BuildOnceCache(1))
    view = choose_view(data)
    assert view.period.label == "2024-Q4"
    assert period_choices(data, "quarter")[2] == "2024-Q4"  # two ahead, then the default

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
