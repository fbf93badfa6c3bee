"""The revenue forecast section's notes are those of the period it is headed with, as
`GET /v1/forecast` gives them for that period; a note of another period on the chart says which
period it belongs to (a drift or a headline's reason measured for the next quarter must not
read as this one's)."""

from __future__ import annotations

import html as markup
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.dashboard import page
from tests.dashboard_env import dashboard_app, dashboard_env
from tests.serving.conftest import auth
from tests.serving.test_dashboard import sign_in

pytestmark = pytest.mark.slow

VIEW = "/?period=2017-Q4"
DRIFT = {"2017-Q4": "±40%", "2018-Q1": "±16%"}


@pytest.fixture
def viewer(shared_opportunities) -> Iterator[tuple[TestClient, str]]:
    """A signed-in viewer on an app of its own (no view cached by another test)."""
    env = dashboard_env()
    with TestClient(dashboard_app(env)) as client:
        assert sign_in(client, env.keys["viewer"]).status_code == 303
        yield client, env.keys["viewer"]


def forecast_notes(html: str) -> list[str]:
    section = html[html.index('id="forecast"') :]
    section = section[: section.index("</section>")]
    # A command the API writes in backticks is shown as code: read back as the API writes it.
    notes = re.findall(r'<p class="note small">(.*?)</p>', section)
    return [markup.unescape(re.sub(r"</?code>", "`", n)) for n in notes]


def test_the_forecast_notes_are_those_the_api_gives_for_the_period_shown(viewer):
    client, key = viewer
    html = client.get(VIEW).text
    as_of = re.search(r'id="as-of">([^<]+)<', html).group(1)
    api = client.get(
        "/v1/forecast",
        params={"period": "2017-Q4", "by": "team", "as_of": as_of},
        headers=auth(key),
    ).json()
    shown = forecast_notes(html)
    assert shown[: len(api["notes"])] == api["notes"]
    later = shown[len(api["notes"]) :]
    assert all(re.match(r"\d{4}-Q\d: ", n) for n in later), later


def test_a_note_of_another_period_on_the_chart_says_its_period(viewer, monkeypatch):
    real = page.revenue_forecast

    def with_drift(engine: Any, data: Any, period: Any, **kwargs: Any) -> dict[str, Any]:
        result = dict(real(engine, data, period, **kwargs))
        drift = DRIFT.get(period.label, "±10%")
        said = [f"the range includes a forecast drift of {drift}", "a note every period gives"]
        result["notes"] = [*result.get("notes", []), *said]
        return result

    monkeypatch.setattr(page, "revenue_forecast", with_drift)
    notes = forecast_notes(viewer[0].get(VIEW).text)
    assert "the range includes a forecast drift of ±40%" in notes
    assert "2018-Q1: the range includes a forecast drift of ±16%" in notes
    assert "the range includes a forecast drift of ±16%" not in notes
    # What every period says is said once, as the period shown's.
    assert notes.count("a note every period gives") == 1
    assert not any(n.endswith(": a note every period gives") for n in notes)
