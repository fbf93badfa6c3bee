"""A KPI date the figures say nothing true at is refused as the forecast's and the at-risk list's
are: a 422 naming `as_of`, the date given and the data's own date; a date within reach answers."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.data.generator import generate_pipeline
from forecast.settings import Settings
from tests.serving.conftest import auth, import_generated

DEALS, SEED = 200, 5


@pytest.fixture
def viewer(client: TestClient, settings: Settings, api_keys: dict[str, str]) -> TestClient:
    """A viewer's client on the generated pipeline, dataset `crm`."""
    import_generated(settings, deals=DEALS, seed=SEED)
    client.headers.update(auth(api_keys["viewer"]))
    return client


def imported_dates() -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first deal's creation and the data's last date (a creation or a closed deal's close),
    read from the frame the test imported."""
    deals = generate_pipeline(DEALS, seed=SEED).opportunities
    closed = deals.loc[deals["status"] != "open", "closed_at"]
    return deals["created_at"].min(), max(deals["created_at"].max(), closed.max())


def refusal(client: TestClient, as_of: str) -> str:
    response = client.get(f"/v1/kpis?dataset=crm&as_of={as_of}")
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "InvalidInput"
    return response.json()["detail"]


def test_a_kpi_date_past_the_horizon_after_the_data_is_refused_naming_as_of_and_the_last_date(
    viewer: TestClient, settings: Settings
) -> None:
    _, end = imported_dates()
    days = settings.forecast_horizon_days
    said = refusal(viewer, "2999-01-01")
    assert said.startswith(f"as_of (2999-01-01) is more than {days} days after the data ends")
    assert f"({end.date()})" in said
    past = (end + pd.Timedelta(days=days + 1)).date()
    assert f"as_of ({past})" in refusal(viewer, str(past))


def test_the_forecast_refuses_the_same_far_date_with_the_same_words(viewer: TestClient) -> None:
    """The KPIs' bound is the forecast's: one rule for every date the API reads."""
    forecast = viewer.get("/v1/forecast?dataset=crm&period=2024-Q4&as_of=2999-01-01")
    kpis = refusal(viewer, "2999-01-01")
    assert forecast.status_code == 422
    assert kpis.split(";")[0] == forecast.json()["detail"].split(";")[0]


def test_a_kpi_date_before_the_first_deal_is_refused_naming_as_of_and_the_first_date(
    viewer: TestClient,
) -> None:
    first, _ = imported_dates()
    day_before = (first - pd.Timedelta(days=1)).date()
    said = refusal(viewer, str(day_before))
    assert said.startswith(f"as_of ({day_before}) is before the data's first deal")
    assert f"created on {first.date()}:" in said
    # On the first deal's own day but before it was created, the time says why.
    assert f"created on {first.date()} {first:%H:%M}" in refusal(viewer, str(first.date()))


def test_a_kpi_date_within_reach_answers_the_figures_known_then(viewer: TestClient) -> None:
    first, end = imported_dates()
    at_end = viewer.get("/v1/kpis?dataset=crm").json()
    soon_after = viewer.get(f"/v1/kpis?dataset=crm&as_of={(end + pd.Timedelta(days=30)).date()}")
    assert soon_after.status_code == 200, soon_after.text
    assert soon_after.json()["overall"] == at_end["overall"]  # nothing happened after the end
    day_after_first = viewer.get(
        f"/v1/kpis?dataset=crm&as_of={first.date() + pd.Timedelta(days=1)}"
    )
    assert day_after_first.status_code == 200, day_after_first.text
    assert day_after_first.json()["overall"]["deals"] >= 1


# --- the waterfalls' dates ----------------------------------------------------------------------


def test_a_waterfall_date_past_the_horizon_is_refused_naming_from_or_to(
    viewer: TestClient, settings: Settings
) -> None:
    _, end = imported_dates()
    days = settings.forecast_horizon_days
    for query, name in [("from=2024-01-01&to=2999-01-01", "to"), ("from=2998-01-01", "from")]:
        response = viewer.get(f"/v1/pipeline/waterfall?dataset=crm&{query}")
        assert response.status_code == 422, response.text
        said = response.json()["detail"]
        assert said.startswith(f"{name} (299") and f"more than {days} days after" in said
        assert f"the data ends ({end.date()})" in said


def test_a_pipeline_waterfall_ending_before_the_first_deal_is_refused_naming_to(
    viewer: TestClient,
) -> None:
    first, _ = imported_dates()
    response = viewer.get("/v1/pipeline/waterfall?dataset=crm&from=1999-01-01&to=2000-01-01")
    assert response.status_code == 422, response.text
    said = response.json()["detail"]
    assert said.startswith("to (2000-01-01) is before the data's first deal")
    assert f"created on {first.date()}" in said
    at_first = viewer.get(
        f"/v1/pipeline/waterfall?dataset=crm&from=2000-01-01&to={first.isoformat()}"
    )
    assert at_first.status_code == 422  # `to` at the first deal's instant: not known yet
    assert "is before the data's first deal" in at_first.json()["detail"]
    # From before the first deal is a waterfall of its own: every deal is created in it.
    whole = viewer.get("/v1/pipeline/waterfall?dataset=crm&from=2000-01-01")
    assert whole.status_code == 200, whole.text


def test_the_forecast_waterfall_names_the_date_sent_not_as_of(viewer: TestClient) -> None:
    response = viewer.get(
        "/v1/forecast/waterfall?dataset=crm&period=2024-Q4&from=2024-10-01&to=2999-01-01"
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("to (2999-01-01) is more than")
