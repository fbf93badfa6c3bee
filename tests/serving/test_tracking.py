"""The forecast history served: the server tracks the forecast on a schedule (a child process)
and GET /v1/forecast/history reads a period's forecast over time, per team, with its target."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.data import store
from forecast.forecasting import forecast_runs
from forecast.forecasting.targets import import_targets
from forecast.history import load_deal_history
from forecast.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth, import_generated, keys_of_every_role
from tests.serving.test_dashboard import sign_in

URL = "/v1/forecast/history"


def test_the_server_tracks_the_forecast_on_its_schedule(tmp_path):
    settings = Settings(
        state_dir=tmp_path / "state",
        deal_dataset="crm",
        track_every_hours=1.0,
        track_first_after_seconds=0.0,
        key_cache_seconds=0,
    )
    import_generated(settings)
    viewer = auth(keys_of_every_role(settings)["viewer"])
    engine = store.get_engine(settings)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 240
        state = client.app.state.tracking
        while state.last_ok is None:  # the first run has not ended
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        assert state.last_ok, state.last_message  # a failed run: say why
        assert forecast_runs.latest_as_of(engine, "crm") is not None
        # The data ends on 2024-12-31: the run tracks the quarter ahead, the dashboard's default.
        got = client.get(URL, params={"period": "2025-Q1"}, headers=viewer)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["tracking"]["scheduled"] and body["tracking"]["runs"] == 1
    assert body["tracking"]["last_ok"] is True, body["tracking"]
    (point,) = body["points"]
    assert point["as_of"] == "2025-01-01"  # the data's now: the day after it ends
    assert point["p10"] <= point["expected"] <= point["p90"]


def _wait_for_run(state, completed: int) -> None:
    deadline = time.monotonic() + 240
    while state.completed < completed:
        assert time.monotonic() < deadline, state
        time.sleep(0.5)


def test_the_forecast_is_served_from_the_tracked_run_and_follows_a_crm_push(tmp_path):
    settings = Settings(
        state_dir=tmp_path / "state",
        deal_dataset="crm",
        track_every_hours=24.0,
        track_first_after_seconds=0.0,
        track_after_change_seconds=0.0,
        key_cache_seconds=0,
    )
    import_generated(settings)
    keys = keys_of_every_role(settings)
    viewer, scorer = auth(keys["viewer"]), auth(keys["scorer"])
    asked = {"period": "2025-Q1", "by": "team"}
    with TestClient(create_app(settings)) as client:
        state = client.app.state.tracking
        _wait_for_run(state, 1)
        assert state.last_ok, state.last_message
        first = client.get("/v1/forecast", params=asked, headers=viewer).json()
        assert first["stored"]["as_of"] == "2025-01-01", first.get("stored")

        deal = {
            "stage": "Qualification",
            "created_at": "2024-12-20T00:00:00Z",
            "updated_at": "2024-12-20T00:00:00Z",
            "amount": 5000.0,
            "team": first["groups"][0]["group"],
        }
        pushed = client.put("/v1/opportunities/NEW-1", json=deal, headers=scorer)
        assert pushed.status_code == 200, pushed.text
        # The push made a new version of the data: until the next run the forecast is computed.
        between = client.get("/v1/forecast", params=asked, headers=viewer).json()
        _wait_for_run(state, 2)  # the push called for a run, long before the daily one
        assert state.last_ok, state.last_message
        after = client.get("/v1/forecast", params=asked, headers=viewer).json()
    assert after["stored"] is not None
    assert after["total"]["deals"] == first["total"]["deals"] + 1
    assert {k: v for k, v in after.items() if k != "stored"} == {
        k: v for k, v in between.items() if k != "stored"
    }


@pytest.fixture
def tracked(settings):
    import_generated(settings)
    engine = store.get_engine(settings)
    history = load_deal_history(engine, "crm")
    list(forecast_runs.backfill(engine, history, "crm", "2024-10-07", until="2024-10-21"))
    with engine.connect() as conn:
        runs = pd.read_sql(store.forecast_runs.select(), conn)
    return str(runs.loc[runs["level"] == "team", "group_name"].iloc[0])


def test_a_periods_forecast_over_time_per_team(client, api_keys, tracked):
    viewer = auth(api_keys["viewer"])
    total = client.get(URL, params={"period": "2024-Q4"}, headers=viewer).json()
    assert [p["as_of"] for p in total["points"]] == ["2024-10-07", "2024-10-14", "2024-10-21"]
    assert total["tracking"] == {
        "scheduled": False,
        "note": "run `forecast track` (cron) to keep the history",
    }
    team = client.get(
        URL, params={"period": "2024-Q4", "by": "team", "group": tracked}, headers=viewer
    ).json()
    assert len(team["points"]) == 3 and team["group"] == tracked
    pairs = zip(team["points"], total["points"], strict=True)
    assert all(p["expected"] < t["expected"] for p, t in pairs)


def _history_chart_target(client, page: str) -> list[float] | None:
    """The target line of the dashboard's "Forecast over time" chart (None: no such line)."""
    html = client.get(page).text
    found = re.search(r'<script type="application/json" id="history-figure">(.*?)</script>', html)
    assert found, "no forecast-over-time chart on the page"
    lines = {t.get("name"): t for t in json.loads(found.group(1))["data"]}
    return lines["Target"]["y"] if "Target" in lines else None


def test_the_forecast_over_time_shows_the_total_target_and_a_teams(
    client, api_keys, settings, tracked, tmp_path
):
    file = tmp_path / "targets.csv"  # what `forecast targets import` reads
    file.write_text(
        f"level,name,period,amount\nall,total,2024-Q4,3000000\nteam,{tracked},2024-Q4,800000\n"
    )
    import_targets(store.get_engine(settings), file, dataset="crm")
    viewer = auth(api_keys["viewer"])
    total = client.get(URL, params={"period": "2024-Q4"}, headers=viewer).json()
    assert total["target"] == 3_000_000.0
    team = client.get(
        URL, params={"period": "2024-Q4", "by": "team", "group": tracked}, headers=viewer
    ).json()
    assert team["target"] == 800_000.0
    assert sign_in(client, api_keys["viewer"]).status_code == 303
    page = "/?dataset=crm&period=2024-Q4"
    assert set(_history_chart_target(client, page) or []) == {3_000_000.0}
    team_page = f"{page}&team={quote(tracked)}"
    assert set(_history_chart_target(client, team_page) or []) == {800_000.0}


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"period": "2024-Q9"}, "unknown period"),
        ({"period": "2024-Q4", "by": "team"}, "by and group"),
        ({"period": "2024-Q4", "by": "region", "group": "x"}, "by"),
    ],
)
def test_bad_input_is_a_422(client, api_keys, tracked, params, said):
    got = client.get(URL, params=params, headers=auth(api_keys["viewer"]))
    assert got.status_code == 422 and said in got.text


def test_a_team_no_deal_names_is_a_404_naming_the_dataset(client, api_keys, tracked):
    """As every route answers a group it does not know ("Nobody" is no team of the dataset),
    where a tracked one has its points (`test_a_periods_forecast_over_time_per_team`)."""
    viewer = auth(api_keys["viewer"])
    nobody = client.get(
        URL, params={"period": "2024-Q4", "by": "team", "group": "Nobody"}, headers=viewer
    )
    assert nobody.status_code == 404, nobody.text
    assert nobody.json()["type"] == "UnknownGroup"
    assert "no deals for team 'Nobody' in dataset 'crm'" in nobody.json()["detail"]
