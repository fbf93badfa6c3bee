"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Signs in with a viewer key, sees every section filled with the API's figures, changes the
period and team filters, downloads a CSV, signs out and is turned away without a key. A
screenshot of the page is saved in tests/artifacts/ (git-ignored). Skipped, saying why, only
when /usr/bin/chromium is absent (`.ci/run` installs it).
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from forecast.waterfall import BARS
from tests.dashboard_env import TEAM, dashboard_app, dashboard_env

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: `apt-get install -y chromium` (.ci/run "
        "does it) to run the browser tests",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(shared_opportunities):
    return dashboard_env()


@pytest.fixture(scope="module")
def server(env) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread of this process."""
    port = _free_port()
    config = uvicorn.Config(
        dashboard_app(env), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the dashboard server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def api(server, env) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server, headers={"X-API-Key": env.keys["viewer"]}, timeout=120
    ) as client:
        yield client


def money(v: float) -> str:
    return f"{v:,.0f}"


@pytest.fixture
def track_record(env) -> Iterator[None]:
    """A made-up track record for the quarters (what `forecast backtest --every week` keeps):
    the run rate 5% off, ours 30% off with a range that held half the time, and the forecast
    chosen by past error with a range that held every time; cleared afterwards."""
    import pandas as pd

    from forecast.data import store
    from forecast.forecasting import track_record as record_store
    from tests.dashboard_env import DATASET
    from tests.forecast import synthetic

    record = synthetic.track_record({"model": 0.3, "run_rate": 0.05}, "2016-01-04", 12, 1e6)
    ours = record["method"] == "model"
    record.loc[ours, "p10"] = record.loc[ours, "forecast"] * 0.75
    record.loc[ours, "p90"] = record.loc[ours, "forecast"] * 1.25
    shown = record[record["method"] == "run_rate"].assign(method="chosen")
    shown["p10"], shown["p90"] = shown["actual"] * 0.9, shown["actual"] * 1.1
    engine = store.get_engine(env.settings)
    record_store.save(engine, DATASET, "quarter", pd.concat([record, shown]))
    yield
    record_store.save(engine, DATASET, "quarter", record.iloc[:0])


def tile(page, section: str, field: str) -> tuple[float, str]:
    el = page.locator(f"#{section} [data-field='{field}']").first
    return float(el.get_attribute("data-value")), el.inner_text().strip()


def test_a_manager_signs_in_reads_filters_downloads_and_signs_out(
    browser, server, api, env, tmp_path, track_record
):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.set_default_timeout(120_000)

    # Turned to the sign-in form, then in with a viewer key; the key never enters a URL.
    page.goto(f"{server}/?period=2017-Q4")
    assert "/login" in page.url
    page.fill("#api_key", env.keys["viewer"])
    page.click("#sign-in")
    page.wait_for_url(f"{server}/?period=2017-Q4")
    assert env.keys["viewer"] not in page.url
    cookie = next(c for c in context.cookies() if c["name"] == "forecast_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""

    # Every section filled, the charts drawn, and the figures those of the API.
    page.wait_for_selector("#forecast-chart[data-drawn='true'] .main-svg")
    page.wait_for_selector("#funnel-chart[data-drawn='true'] .main-svg")
    forecast = api.get(
        "/v1/forecast", params={"period": "2017-Q4", "by": "team", "as_of": "2017-10-01"}
    ).json()
    total = forecast["total"]
    for field in ("expected", "p10", "p90", "weighted_pipeline", "target"):
        shown, text = tile(page, "forecast", field)
        assert shown == pytest.approx(total[field]) and text == money(total[field]), field
    assert tile(page, "forecast", "p_target")[1] == f"{100 * total['p_target']:.1f}%"
    kpis = api.get("/v1/kpis", params={"period": "quarter"}).json()
    q4 = next(g for g in kpis["groups"] if g["period"] == "2017-Q4")
    assert tile(page, "funnel", "win_rate")[1] == f"{100 * q4['win_rate']:.1f}%"
    assert tile(page, "funnel", "average_sale_value")[1] == money(q4["average_sale_value"])
    assert page.locator("#funnel-table tbody tr").count() == len(q4["funnel"])
    assert page.locator("#team-table tbody tr").count() == len(forecast["groups"]) + 1
    for line in forecast["groups"]:
        cell = page.locator(f"#team-table tr[data-group='{line['group']}'] [data-field='expected']")
        assert cell.inner_text() == money(line["expected"])
    risk = api.get("/v1/deals/at-risk").json()
    assert page.locator("#risk-table tbody tr").count() == len(risk["deals"]) > 0
    first = page.locator("#risk-table tbody tr").first
    assert first.get_attribute("data-deal") == risk["deals"][0]["id"]
    assert risk["deals"][0]["reasons_against"][0]["sentence"] in first.inner_text()
    assert "close-probability" in page.locator("#models").inner_text()
    assert page.locator("#models table").count() >= 1
    assert page.locator(".unavailable").count() == 0

    # Beside the forecast: how far it and ours were off before; the naive forecasts drawn.
    past = " ".join(page.locator("#past-accuracy").inner_text().split())
    assert "median error 5.0%" in past and "held the actual in 12 of 12" in past
    assert "median error 30.0%" in past and "held the actual in 6 of 12" in past
    legend = page.locator("#forecast-chart .legendtext").all_text_contents()
    assert "run rate of recent won revenue" in legend and "last period's won revenue" in legend

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # A CSV download holds the chart's figures.
    with page.expect_download() as info:
        page.click("#csv-forecast")
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.name == "forecast_2017-Q4.csv"
    rows = {r["period"]: r for r in csv.DictReader(io.StringIO(saved.read_text()))}
    assert float(rows["2017-Q4"]["expected"]) == pytest.approx(total["expected"])

    # Filters: a team, then the next period; the page follows and agrees with the API.
    page.select_option("#team", TEAM)
    page.wait_for_url("**team=Melvin+Marxen**")
    page.wait_for_selector("#forecast-chart[data-drawn='true'] .main-svg")
    team = next(g for g in forecast["groups"] if g["group"] == TEAM)
    assert tile(page, "forecast", "expected")[1] == money(team["expected"])
    assert tile(page, "forecast", "target")[1] == money(800_000)
    assert page.locator("#team-table tr.selected").get_attribute("data-group") == TEAM
    page.select_option("#period", "2018-Q1")
    page.wait_for_url("**period=2018-Q1**")
    page.wait_for_selector("#forecast-chart[data-drawn='true'] .main-svg")
    ahead = api.get(
        "/v1/forecast", params={"period": "2018-Q1", "by": "team", "as_of": "2018-01-01"}
    ).json()
    line = next(g for g in ahead["groups"] if g["group"] == TEAM)
    assert page.locator("#as-of").inner_text() == "2018-01-01"
    assert tile(page, "forecast", "expected")[1] == money(line["expected"])
    page.screenshot(path=str(ARTIFACTS / "dashboard_team_2018-Q1.png"), full_page=True)

    # Sign out; the page and its downloads are then closed to this browser.
    page.click("#sign-out")
    page.wait_for_url("**/login")
    page.goto(f"{server}/")
    assert "/login" in page.url
    assert not [c for c in context.cookies() if c["name"] == "forecast_session"]
    assert problems == [], problems
    context.close()


def test_without_a_key_the_browser_is_turned_away(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server}/dashboard/risk.csv")
    assert "/login" in page.url
    page.click("#sign-in")  # empty key: the browser's own check keeps the form here
    assert "/login" in page.url
    page.fill("#api_key", "fk_wrong")
    page.click("#sign-in")
    assert page.locator("#login-error").inner_text() == "Unknown or revoked API key."
    page.goto(f"{server}/")
    assert "/login" in page.url
    context.close()


def signed_in(browser, url: str, env) -> tuple[object, object]:
    """A fresh browser context signed in with the viewer key, on `url`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    page.fill("#api_key", env.keys["viewer"])
    page.click("#sign-in")
    page.wait_for_url(url)
    return context, page


def test_a_manager_reads_the_pipeline_waterfall_and_drills_into_a_bar(browser, server, api, env):
    context, page = signed_in(
        browser, f"{server}/dashboard/pipeline?from=2017-06-01&to=2017-07-01", env
    )
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.wait_for_selector("#waterfall-chart[data-drawn='true'] .main-svg")
    moved = api.get("/v1/pipeline/waterfall", params={"from": "2017-06-01", "to": "2017-07-01"})
    total = moved.json()["total"]
    assert tile(page, "waterfall", "start")[1] == money(total["start"])
    assert tile(page, "waterfall", "end")[1] == money(total["end"])
    assert tile(page, "waterfall", "won")[1] == money(total["won"])

    # Clicking the won bar (after start and the bars before it) opens its deals.
    assert not page.locator("#deals-won").get_attribute("open")
    won = 1 + [name for name, _ in BARS].index("won")
    box = page.locator("#waterfall-chart .point").nth(won).bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)  # as a user does: Plotly finds the bar under the pointer
    page.mouse.click(*centre)
    page.wait_for_selector("#deals-won[open]")
    rows = page.locator("#deals-won tbody tr")
    assert rows.count() == min(50, moved.json()["deals_total"]["won"]) > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pipeline_waterfall.png"), full_page=True)

    # The overview links here, for its dataset.
    page.goto(f"{server}/?period=2017-Q4")
    assert "/dashboard/pipeline?dataset=" in page.locator("#pipeline-link").get_attribute("href")
    assert problems == [], problems
    context.close()


def test_the_forecast_over_time_chart_shows_each_tracked_date(browser, server, env, api):
    from forecast.data import store
    from forecast.forecasting import forecast_runs
    from forecast.history import load_deal_history
    from tests.dashboard_env import DATASET

    engine = store.get_engine(env.settings)
    history = load_deal_history(engine, DATASET)
    dates = ["2017-10-02", "2017-10-16"]
    for day in dates:
        forecast_runs.track(engine, history, DATASET, day, settings=env.settings)
    served = api.get("/v1/forecast/history", params={"period": "2017-Q4"}).json()
    assert [p["as_of"] for p in served["points"]] == dates

    context, page = signed_in(browser, f"{server}/?period=2017-Q4", env)
    page.wait_for_selector("#history-chart[data-drawn='true'] .main-svg")
    figure = page.evaluate("JSON.parse(document.getElementById('history-figure').textContent)")
    line = next(t for t in figure["data"] if t["name"] == "Forecast then")
    assert line["x"] == dates
    assert line["y"] == pytest.approx([p["expected"] for p in served["points"]])
    legend = page.locator("#history-chart .legendtext").all_text_contents()
    assert {"Forecast then", "Won to date", "P10–P90"} <= set(legend)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#forecast-history").screenshot(path=str(ARTIFACTS / "forecast_over_time.png"))
    context.close()


def test_why_the_forecast_moved_shows_its_bars_and_the_deals_behind_them(browser, server, env):
    from forecast.data import store
    from forecast.forecasting import forecast_runs, stored_forecasts
    from forecast.history import load_deal_history
    from forecast.periods import parse_period
    from tests.dashboard_env import DATASET

    engine = store.get_engine(env.settings)
    history = load_deal_history(engine, DATASET)
    forecast_runs.track(engine, history, DATASET, settings=env.settings)  # the data's now
    try:
        moved = stored_forecasts.waterfall(
            engine, DATASET, parse_period("2018-Q1"), settings=env.settings
        )
        assert moved is not None and moved["to"] == "2018-01-01"
        context, page = signed_in(browser, f"{server}/?period=2018-Q1", env)
        page.wait_for_selector("#moved-chart[data-drawn='true'] .main-svg")
        bars = page.locator("#moved-table tbody > tr[data-bar]")
        assert bars.count() == 9  # won and lost before the period have their own
        figure = page.evaluate("JSON.parse(document.getElementById('moved-figure').textContent)")
        y = figure["data"][0]["y"]
        assert y[0] == pytest.approx(moved["expected_from"]) and y[-1] == pytest.approx(
            moved["expected_to"]
        )
        assert sum(y[1:-1]) == pytest.approx(y[-1] - y[0], abs=0.05)  # the bars add up
        opened = page.locator("#moved-table details").first
        opened.locator("summary").click()
        assert opened.locator("tbody tr").count() >= 1  # the deals behind that bar
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#forecast-moved").screenshot(path=str(ARTIFACTS / "forecast_moved.png"))
        context.close()
    finally:  # the other tests read the data as never tracked at its now
        with store.transaction(engine) as conn:
            conn.execute(store.forecast_documents.delete())
            runs = store.forecast_runs
            conn.execute(runs.delete().where(runs.c.as_of == datetime(2018, 1, 1)))


def test_the_model_card_shows_monitoring_once_computed(browser, server, env):
    context, page = signed_in(browser, f"{server}/?period=2017-Q4", env)
    deadline = time.monotonic() + 120
    while page.locator("#monitoring-pending").count():  # computed in the background
        assert time.monotonic() < deadline, "monitoring never computed"
        time.sleep(1)
        page.reload()
    deals = page.locator("#monitoring .monitor[data-kind='deal']")
    assert deals.count() == 1
    text = " ".join(deals.inner_text().split())
    assert "Input drift (PSI" in text and "no scored deal has an outcome yet" in text
    assert deals.locator("table.drift tbody tr").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#models").screenshot(path=str(ARTIFACTS / "model_monitoring.png"))
    context.close()
