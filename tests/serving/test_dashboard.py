"""The managers' dashboard over HTTP: who gets in, forged forms refused, safe headers, CSV
downloads, and figures equal to the API's (the same library functions, the same arguments)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from forecast import keys, scoring
from forecast.data import store
from forecast.errors import InsufficientHistory
from serving.dashboard.export import filename, to_csv
from serving.dashboard.figures import figure_json
from tests.dashboard_env import DATASET, TEAM, dashboard_app, dashboard_env
from tests.serving.conftest import auth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(shared_opportunities):
    return dashboard_env()


@pytest.fixture(scope="module")
def app(env):
    return dashboard_app(env)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, key: str, next_path: str = "/"):
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"api_key": key, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )


@pytest.fixture
def viewer(client, env) -> TestClient:
    assert sign_in(client, env.keys["viewer"]).status_code == 303
    return client


def value(html: str, field: str, scope: str | None = None) -> float | None:
    """The `data-value` of the first element with `data-field=field` (inside `scope`'s id)."""
    if scope is not None:
        start = html.index(f'id="{scope}"')
        html = html[start:]
    found = re.search(rf'data-field="{field}" data-value="([^"]*)"', html)
    assert found, f"no {field} on the page"
    raw = found.group(1)
    return None if raw in ("", "None") else float(raw)


def row_of(html: str, table: str, group: str) -> str:
    body = html[html.index(f'id="{table}"') :]
    body = body[: body.index("</table>")]
    return re.search(rf'<tr[^>]*data-group="{re.escape(group)}".*?</tr>', body, re.S).group(0)


# --- who gets in ------------------------------------------------------------------------------


def test_without_a_session_the_page_and_downloads_redirect_to_sign_in(client):
    page = client.get("/?period=2017-Q4", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2F%3Fperiod%3D2017-Q4"
    download = client.get("/dashboard/forecast.csv", follow_redirects=False)
    assert download.status_code == 303 and download.headers["location"].startswith("/login")


def test_an_api_key_header_is_not_a_session(client, env):
    response = client.get("/", headers=auth(env.keys["viewer"]), follow_redirects=False)
    assert response.status_code == 303


def test_a_viewer_key_signs_in_with_an_httponly_strict_cookie_and_no_key_in_the_url(client, env):
    response = sign_in(client, env.keys["viewer"], "/?team=x")
    assert response.status_code == 303 and response.headers["location"] == "/?team=x"
    cookie = response.headers["set-cookie"]
    assert "forecast_session=" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert (
        env.keys["viewer"] not in cookie and env.keys["viewer"] not in response.headers["location"]
    )
    page = client.get("/")
    assert page.status_code == 200 and "signed in as dashboard viewer" in page.text
    assert env.keys["viewer"] not in page.text


def test_an_admin_key_may_view_too(client, env):
    assert sign_in(client, env.keys["admin"]).status_code == 303
    assert client.get("/").status_code == 200


def test_a_scorer_key_is_turned_away_at_sign_in(client, env):
    response = sign_in(client, env.keys["scorer"])
    assert response.status_code == 403
    assert "scorer key may not view" in response.text
    assert "forecast_session" not in response.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_an_unknown_key_is_refused(client):
    response = sign_in(client, "fk_not-a-key")
    assert response.status_code == 401 and "Unknown or revoked" in response.text


def test_a_key_in_the_query_string_signs_nobody_in(client, env):
    response = client.get(f"/login?api_key={env.keys['viewer']}", follow_redirects=False)
    assert "forecast_session" not in response.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_only_redirects_within_the_site(client, env):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = sign_in(client, env.keys["viewer"], target)
        assert response.headers["location"] == "/"
        client.cookies.clear()


def test_a_revoked_key_ends_its_session(client, env, app):
    with store.get_engine(env.settings).begin() as conn:
        record, plain = keys.create_key(conn, "viewer", "short-lived")
    assert sign_in(client, plain).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200
    with store.get_engine(env.settings).begin() as conn:
        keys.revoke_key(conn, record.id)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_ignored(viewer):
    value_ = viewer.cookies.get("forecast_session")
    viewer.cookies.set("forecast_session", value_[:-3] + "AAA")
    assert viewer.get("/", follow_redirects=False).status_code == 303


# --- forged forms -----------------------------------------------------------------------------


def test_sign_in_without_the_forms_token_is_refused(client, env):
    client.get("/login")
    response = client.post(
        "/login", data={"api_key": env.keys["viewer"], "csrf_token": "x"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "forecast_session" not in response.headers.get("set-cookie", "")


def test_sign_in_from_another_site_without_the_cookie_is_refused(client, env):
    token = csrf_of(client.get("/login").text)
    client.cookies.clear()  # a cross-site form post: SameSite=Strict sends no cookie
    response = client.post(
        "/login", data={"api_key": env.keys["viewer"], "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 403


def test_sign_out_needs_the_sessions_token(viewer):
    forged = viewer.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert viewer.get("/", follow_redirects=False).status_code == 200
    missing = viewer.post("/logout", follow_redirects=False)
    assert missing.status_code == 403
    token = csrf_of(viewer.get("/").text)
    out = viewer.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert 'forecast_session=""' in out.headers["set-cookie"]
    viewer.cookies.clear()
    assert viewer.get("/", follow_redirects=False).status_code == 303


def test_every_form_on_the_page_carries_a_csrf_token(viewer):
    html = viewer.get("/").text
    posts = re.findall(r'<form[^>]*method="post".*?</form>', html, re.S)
    assert posts and all('name="csrf_token"' in form for form in posts)


# --- headers and assets -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login"])
def test_pages_carry_a_content_security_policy_and_frame_denial(viewer, path):
    response = viewer.get(path)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]


def test_the_page_loads_nothing_from_other_sites_and_runs_no_inline_script(viewer):
    html = viewer.get("/").text
    assert not re.search(r'(src|href)="(https?:)?//', html)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)


def test_plotly_is_served_from_the_installed_package(client):
    response = client.get("/assets/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert len(response.content) > 1_000_000 and b"plotly" in response.content[:2000].lower()
    assert response.headers["cache-control"] == "public, max-age=86400"


# --- CSV downloads ----------------------------------------------------------------------------


@pytest.mark.parametrize("chart", ["forecast", "funnel", "teams", "reps", "risk", "models"])
def test_every_chart_downloads_as_csv(viewer, chart):
    response = viewer.get(f"/dashboard/{chart}.csv?period=2017-Q4")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{chart}_2017-Q4'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows


def test_the_at_risk_csv_lists_every_flagged_deal_the_page_counts(viewer, env):
    """The page shows the riskiest (as many as the API lists by default) under "N of M open
    deals flagged"; its CSV holds all N up to the most a list holds (500), riskiest first, as
    the API lists them when asked for that many, and the page says what it shows."""
    html = viewer.get("/?period=2017-Q4").text
    flagged = int(re.search(r'id="risk-flagged" data-value="(\d+)"', html).group(1))
    rows = list(csv.DictReader(io.StringIO(viewer.get("/dashboard/risk.csv?period=2017-Q4").text)))
    api = viewer.get(
        "/v1/deals/at-risk", params={"limit": 500}, headers=auth(env.keys["viewer"])
    ).json()
    assert flagged == api["flagged"] and len(rows) == len(api["deals"]) == min(flagged, 500)
    assert [r["id"] for r in rows] == [d["id"] for d in api["deals"]]
    shown = re.findall(r'<tr data-deal="', html[html.index('id="risk-table"') :])
    assert len(shown) == min(flagged, 25)
    said = " ".join(html[html.index('id="risk-more"') :].split()) if flagged > 25 else ""
    if flagged > 500:
        assert f"the CSV lists the 500 riskiest of the {flagged:,} (the most a list holds)" in said
    elif flagged > 25:
        assert f"the CSV lists all {flagged}." in said


def test_the_forecast_csv_holds_the_figures_of_the_api(viewer, env):
    rows = {
        r["period"]: r
        for r in csv.DictReader(
            io.StringIO(viewer.get("/dashboard/forecast.csv?period=2017-Q4").text)
        )
    }
    api = viewer.get(
        "/v1/forecast",
        params={"period": "2017-Q4", "by": "team", "as_of": "2017-10-01"},
        headers=auth(env.keys["viewer"]),
    ).json()["total"]
    q4 = rows["2017-Q4"]
    for field in ("expected", "p10", "p50", "p90", "weighted_pipeline", "target", "p_target"):
        assert float(q4[field]) == pytest.approx(api[field]), field
    assert float(rows["2017-Q3"]["actual_won"]) > 0 and rows["2017-Q3"]["expected"] == ""


def test_an_unknown_chart_is_404(viewer):
    assert viewer.get("/dashboard/nope.csv").status_code == 404


def test_csv_cells_never_start_a_formula():
    text = to_csv([{"account": "=HYPERLINK(1)", "n": -3}])
    assert "'=HYPERLINK" in text and ",-3" in text


def test_a_download_is_named_for_its_chart_period_and_team_in_plain_characters():
    view = SimpleNamespace(team='Team "Ökö" 2', period=SimpleNamespace(label="2017-Q4"))
    assert filename("risk", SimpleNamespace(view=view)) == "risk_2017-Q4_Team---k---2.csv"
    view.team = None
    assert filename("funnel", SimpleNamespace(view=view)) == "funnel_2017-Q4.csv"


def test_a_figure_cannot_close_the_script_element_it_travels_in():
    figure = {"data": [{"y": ["</script><script>alert(1)</script>", "R&D"]}]}
    text = figure_json(figure)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == figure


# --- the app's overview cache -----------------------------------------------------------------


def test_a_view_seen_again_is_served_from_the_apps_cache(viewer, app, monkeypatch):
    from serving.dashboard import page as overview

    first = viewer.get("/?period=2017-Q3")
    assert first.status_code == 200 and len(app.state.overviews.entries) >= 1

    def not_again(*args, **kwargs):
        raise AssertionError("the overview was computed again")

    monkeypatch.setattr(overview, "build_overview", not_again)
    again = viewer.get("/?period=2017-Q3")
    assert again.status_code == 200 and again.text == first.text
    assert viewer.get("/dashboard/forecast.csv?period=2017-Q3").status_code == 200


def _builds(monkeypatch) -> list[int]:  # noqa: ANN001 - each overview built from here on
    from serving.dashboard import page as overview

    built: list[int] = []
    original = overview.build_overview
    monkeypatch.setattr(
        overview, "build_overview", lambda *a, **k: built.append(1) or original(*a, **k)
    )
    return built


def test_a_reload_that_keeps_the_datasets_deal_model_keeps_its_views(viewer, app, monkeypatch):
    """A reload for another dataset's push: a new set, the same model for this dataset."""
    viewer.get("/?period=2017-Q3")
    built = _builds(monkeypatch)
    models = app.state.models
    app.state.models = dataclasses.replace(models, loaded_at=models.loaded_at + timedelta(1))
    try:
        assert viewer.get("/?period=2017-Q3").status_code == 200
    finally:
        app.state.models = models
    assert built == []


def test_a_deal_model_loaded_again_misses_the_cache(viewer, app, monkeypatch):
    """A new champion, or the same loaded again (`POST /v1/admin/reload`), is a new model."""
    viewer.get("/?period=2017-Q3")
    built = _builds(monkeypatch)
    models = app.state.models
    served = models.deal
    reloaded = dataclasses.replace(models, deals=dict(models.deals))
    reloaded.deal = scoring.Served(
        served.kind, served.scorer, served.version, served.source, served.details, served.dataset
    )
    app.state.models = reloaded
    try:
        assert viewer.get("/?period=2017-Q3").status_code == 200
    finally:
        app.state.models = models
    assert built == [1]


# --- the figures are the API's ----------------------------------------------------------------


def test_forecast_and_team_table_match_the_forecast_api(viewer, env):
    html = viewer.get("/?period=2017-Q4").text
    api = viewer.get(
        "/v1/forecast",
        params={"period": "2017-Q4", "by": "team", "as_of": "2017-10-01"},
        headers=auth(env.keys["viewer"]),
    ).json()
    total = api["total"]
    for field in ("expected", "p10", "p90", "weighted_pipeline", "target", "p_target"):
        assert value(html, field, "forecast") == pytest.approx(total[field]), field
    assert f'<small id="currency">amounts in {api["currency"]}</small>' in html  # USD here
    assert total["target"] == 3_000_000 and 0 < total["p_target"] < 1
    for line in api["groups"]:
        row = row_of(html, "team-table", line["group"])
        assert f'data-value="{line["expected"]}"' in row
        assert f'data-value="{line["p_target"]}"' in row
    reps = viewer.get(
        "/v1/forecast",
        params={"period": "2017-Q4", "by": "rep", "as_of": "2017-10-01"},
        headers=auth(env.keys["viewer"]),
    ).json()
    for line in reps["groups"][:5]:
        assert f'data-value="{line["expected"]}"' in row_of(html, "rep-table", line["group"])


def test_the_funnel_matches_the_kpi_api(viewer, env):
    html = viewer.get("/?period=2017-Q4").text
    api = viewer.get(
        "/v1/kpis", params={"period": "quarter"}, headers=auth(env.keys["viewer"])
    ).json()
    assert api["dataset"] == DATASET
    q4 = next(g for g in api["groups"] if g["period"] == "2017-Q4")
    for field in ("win_rate", "average_sale_value", "won_revenue"):
        assert value(html, field, "funnel") == pytest.approx(q4[field]), field
    assert (
        value(html, "won_cycle_median_days", "funnel") == q4["time_to_close"]["won"]["median_days"]
    )
    for step in q4["funnel"]:
        row = re.search(rf'data-stage="{step["stage"]}".*?</tr>', html, re.S).group(0)
        assert f'data-value="{step["reached"]}"' in row
        assert f'data-value="{step["conversion"]}"' in row
        assert f'data-field="still_in_stage" data-value="{step["still_in_stage"]}"' in row
    assert value(html, "actual_won", "forecast") == pytest.approx(q4["won_revenue"])


def test_deals_at_risk_match_the_api_with_the_models_reasons(viewer, env):
    html = viewer.get("/?period=2017-Q4").text
    api = viewer.get("/v1/deals/at-risk", headers=auth(env.keys["viewer"])).json()
    assert api["method"] == "model" and api["scorer"] == "model close-probability v1"
    assert api["deals"] and api["flagged"] >= len(api["deals"])
    for deal in api["deals"]:
        row = re.search(rf'data-deal="{deal["id"]}".*?</tr>', html, re.S).group(0)
        assert f'data-value="{deal["probability"]}"' in row
        for reason in deal["reasons_against"]:
            assert reason["sentence"].replace("'", "&#39;") in row
        for why in deal["why"]:  # the flag's own reason, worded the same on both
            assert why.replace("'", "&#39;") in row
    assert f'data-value="{api["flagged"]}"' in html
    stuck = [w for d in api["deals"] for w in d["why"] if "longer than" in w]  # days, both numbers
    assert stuck and all(re.fullmatch(r"\d+ days in .+ lasted \(\d+ days\)", w) for w in stuck)


def test_the_model_card_shows_what_the_models_api_serves(viewer, env):
    html = viewer.get("/").text
    api = viewer.get("/v1/models", headers=auth(env.keys["viewer"])).json()
    deal = next(m for m in api["models"] if m["kind"] == "deals")
    card = html[html.index('id="models"') :]
    assert "close-probability v1" in card and "trained 2018-01-02 09:30" in card
    for who, metrics in deal["holdout"].items():
        assert who in card and f"{metrics['roc_auc']:.4f}" in card


def test_a_team_filter_shows_the_teams_own_figures(viewer, env):
    html = viewer.get("/", params={"period": "2017-Q4", "team": TEAM}).text
    api = viewer.get(
        "/v1/forecast",
        params={"period": "2017-Q4", "by": "team", "group": TEAM, "as_of": "2017-10-01"},
        headers=auth(env.keys["viewer"]),
    ).json()["total"]
    assert value(html, "expected", "forecast") == pytest.approx(api["expected"])
    assert value(html, "target", "forecast") == 800_000
    kpis = viewer.get(
        "/v1/kpis", params={"period": "quarter", "by": "team"}, headers=auth(env.keys["viewer"])
    ).json()
    mine = next(g for g in kpis["groups"] if g["group"] == TEAM and g["period"] == "2017-Q4")
    assert value(html, "win_rate", "funnel") == pytest.approx(mine["win_rate"])
    risk = viewer.get(
        "/v1/deals/at-risk", params={"team": TEAM}, headers=auth(env.keys["viewer"])
    ).json()
    assert all(d["team"] == TEAM for d in risk["deals"])
    reps = html[html.index('id="rep-table"') :]
    reps = reps[: reps.index("</table>")]
    shown = re.findall(r'data-group="([^"]+)"', reps)
    assert shown and "Darcel Schlecht" in shown  # one of Melvin Marxen's reps
    assert "Moses Frase" not in shown  # a rep of another team


def test_the_default_view_is_the_period_ahead_of_data_ending_on_a_quarters_last_day(viewer):
    html = viewer.get("/").text  # the data ends on 2017-12-31: its now is 2018-01-01
    assert re.search(r'<option value="2018-Q1" selected>', html)
    assert 'id="as-of">2018-01-01<' in html
    month = viewer.get("/", params={"freq": "month"}).text
    assert re.search(r'<option value="2018-01" selected>', month)


def test_a_bad_filter_is_said_on_the_page(viewer):
    response = viewer.get("/", params={"team": "Nobody", "period": "2017-Q4"})
    assert response.status_code == 404 and "no team &#39;Nobody&#39;" in response.text
    response = viewer.get("/", params={"period": "2017-Q9"})
    assert response.status_code == 422 and "unknown period" in response.text


# --- parts missing ----------------------------------------------------------------------------


def test_a_missing_forecast_is_said_in_its_section_and_the_rest_still_shows(viewer, monkeypatch):
    from serving.dashboard import page as overview

    def broken(*args, **kwargs):
        raise InsufficientHistory("no deal had closed before 2017-01-01")

    monkeypatch.setattr(overview, "revenue_forecast", broken)
    html = viewer.get("/", params={"period": "2016-Q4", "freq": "month"}).text
    assert 'id="forecast-unavailable"' in html and "no deal had closed" in html
    assert 'id="teams-unavailable"' in html
    assert 'id="risk-table"' in html and 'id="models"' in html
    # No download is offered of what is not there (it would answer 409); the rest still are.
    assert 'id="csv-forecast"' not in html and 'id="csv-teams"' not in html
    assert 'id="csv-risk"' in html


def test_a_missing_library_module_is_said_in_its_section(viewer, monkeypatch):
    from serving.dashboard import page as overview

    def missing(*args, **kwargs):
        raise ImportError("no module", name="forecast.forecasting.targets")

    monkeypatch.setattr(overview, "revenue_forecast", missing)
    html = viewer.get("/", params={"period": "2017-06", "freq": "month"}).text
    assert "not available in this installation (forecast.forecasting.targets)" in html
    assert 'id="funnel-table"' in html


def test_without_a_deal_model_the_at_risk_list_says_it_uses_stage_win_rates(env):
    app = dashboard_app(env, with_model=False)
    with TestClient(app) as client:
        assert sign_in(client, env.keys["viewer"]).status_code == 303
        html = client.get("/").text
    # The shared CRM export gives current stages only: its stage history is flat, so the
    # fallback is the overall win rate, and says so rather than call it each stage's.
    assert "scored by fallback: overall historical win rate (the stage history is flat" in html
    models = html[html.index('id="models"') :]
    assert '<span class="badge">fallback</span>' in models
    assert "this is the fallback, not a trained model" in models


def test_an_empty_store_shows_a_message_not_an_error(settings, api_keys):
    from serving.app import create_app

    with TestClient(create_app(settings)) as client:
        assert sign_in(client, api_keys["viewer"]).status_code == 303
        response = client.get("/")
    assert response.status_code == 200
    assert 'id="problem"' in response.text and "import" in response.text


def test_the_method_most_accurate_on_the_track_record_leads_beside_ours(viewer, env):
    """With a track record where the run rate of won revenue was far closer than ours, the page
    says so beside the forecast: the method, its forecast and range, its past error and ours."""
    from forecast.forecasting import track_record
    from tests.forecast import synthetic

    record = synthetic.track_record({"model": 0.3, "run_rate": 0.05}, "2016-01-04", 12, 1e6)
    engine = store.get_engine(env.settings)
    track_record.save(engine, DATASET, "quarter", record)
    try:
        html = viewer.get("/?period=2017-Q2&freq=quarter").text
        assert 'id="headline"' in html and "run rate of recent won revenue" in html
        assert value(html, "headline") is not None
    finally:
        track_record.save(engine, DATASET, "quarter", record.iloc[:0])


def _read_with_record(env, viewer, record) -> tuple[str, dict, str]:  # noqa: ANN001
    """The 2017-Q3 dashboard page, its forecast API answer (by team, as of the quarter's start)
    and its CSV download, with `record` saved as the dataset's track record meanwhile."""
    from forecast.forecasting import track_record

    engine = store.get_engine(env.settings)
    track_record.save(engine, DATASET, "quarter", record)
    try:
        html = viewer.get("/?period=2017-Q3&freq=quarter").text
        download = viewer.get("/dashboard/forecast.csv?period=2017-Q3&freq=quarter").text
        api = viewer.get(
            "/v1/forecast",
            params={"period": "2017-Q3", "by": "team", "as_of": "2017-07-01"},
            headers=auth(env.keys["viewer"]),
        ).json()
    finally:
        track_record.save(engine, DATASET, "quarter", record.iloc[:0])
    return html, api, download


def test_with_too_few_past_forecasts_the_page_shows_the_run_rate_and_why(viewer, env):
    from forecast.forecasting import track_record
    from tests.forecast import synthetic

    record = synthetic.track_record({"model": 0.3, "run_rate": 0.05}, "2016-01-04", 4, 1e6)
    engine = store.get_engine(env.settings)
    track_record.save(engine, DATASET, "quarter", record)
    try:
        html = viewer.get("/?period=2017-Q2&freq=quarter").text
        line = html[html.index('id="headline"') :].split("</p>")[0]
        assert "fewer than the 9 needed" in line
        assert "None" not in line and "Most accurate" not in line
        assert "run rate of recent won revenue" in line and "mean of" not in line
        assert "until ours has beaten the naive forecasts on past windows" in line
        assert value(html, "headline") is not None
    finally:
        track_record.save(engine, DATASET, "quarter", record.iloc[:0])


def test_beside_the_forecast_the_page_says_how_far_it_was_off_and_draws_the_naive_forecasts(
    viewer, env
):
    """With a track record, the page says how far the forecast shown and ours were off at this
    horizon (median error, P10–P90 held the actual in h of n), the chart draws the naive
    forecasts as dotted lines, and the CSV carries both, all equal to the API's figures.
    Without a record the page says how to make one."""
    import pandas as pd

    from forecast.forecasting import choice
    from tests.forecast import synthetic

    record = synthetic.track_record({"model": 0.3, "run_rate": 0.05}, "2016-01-04", 12, 1e6)
    ours = record["method"] == "model"  # a range that holds when ours was high: 6 of 12
    record.loc[ours, "p10"] = record.loc[ours, "forecast"] * 0.75
    record.loc[ours, "p90"] = record.loc[ours, "forecast"] * 1.25
    shown = record[record["method"] == "run_rate"].assign(method="chosen")
    held = [i % 4 != 0 for i in range(len(shown))]  # missed every fourth window: 9 of 12
    shown["p10"] = shown["actual"].where(held, shown["actual"] * 2) * 0.9
    shown["p90"] = shown["actual"].where(held, shown["actual"] * 2) * 1.1
    html, api, download = _read_with_record(env, viewer, pd.concat([record, shown]))
    past = html[html.index('id="past-accuracy"') :]
    past = past[: past.index("</div>")]
    assert value(past, "past_median_ape") == pytest.approx(0.05)
    assert value(past, "past_coverage") == 9 and "9 of 12" in past
    assert value(past, "model_past_median_ape") == pytest.approx(0.3) and "6 of 12" in past
    assert "0 weeks ahead" in past and "run rate of recent won revenue" in past
    # The method shown now, on its own past forecasts, beside what users saw and ours.
    assert 'id="past-method"' in past and "(shown now)" in past
    assert value(past, "method_past_median_ape") == pytest.approx(
        api["past_accuracy"]["method"]["median_ape"]
    )
    assert api["past_accuracy"]["shown"]["coverage"]["hits"] == 9

    figure = json.loads(
        re.search(r'id="forecast-figure">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    )
    lines = {t["name"]: t for t in figure["data"]}
    run_rate = lines[choice.label_of("run_rate")]
    assert run_rate["line"]["dash"] == "dot" and run_rate["x"][0] == "2017-Q3"
    assert run_rate["y"][0] == pytest.approx(api["naive"]["total"]["run_rate"])
    last_period = lines[choice.label_of("last_period")]
    assert last_period["line"]["dash"] == "dashdot"
    assert last_period["y"][0] == pytest.approx(api["naive"]["total"]["last_period"])
    assert choice.label_of("last_year") not in lines  # the data holds no year before

    q2 = {r["period"]: r for r in csv.DictReader(io.StringIO(download))}["2017-Q3"]
    assert float(q2["past_median_ape"]) == pytest.approx(0.05) and q2["past_coverage_hits"] == "9"
    assert float(q2["model_past_coverage_hits"]) == 6
    assert float(q2["naive_run_rate"]) == pytest.approx(api["naive"]["total"]["run_rate"])
    assert float(q2["method_past_median_ape"]) == pytest.approx(
        api["past_accuracy"]["method"]["median_ape"]
    )

    without = viewer.get("/?period=2017-Q3&freq=quarter").text  # the new record is seen at once
    assert 'id="past-accuracy"' not in without and "forecast backtest --data" in without
    assert choice.label_of("run_rate") in without  # the naive lines stay on the chart


def _figure(html: str) -> dict:
    found = re.search(r'id="forecast-figure">(.*?)</script>', html, re.S)
    assert found, "no forecast figure on the page"
    return json.loads(found.group(1))


@pytest.mark.parametrize(
    ("errors", "leads"),
    [({"model": 0.3, "run_rate": 0.05}, "run_rate"), ({"model": 0.05, "run_rate": 0.3}, "model")],
)
def test_the_tiles_and_the_chart_lead_with_the_forecast_users_get(viewer, env, errors, leads):
    """Where the run rate was far closer than ours on the track record, the Expected, P10–P90
    and P(target) tiles and the chart's main line and band are the run rate's (its forecast,
    the range its past errors give and the chance that range reaches the target), with ours
    beside them and as a line of its own; where ours was closer, ours leads as before."""
    from forecast.forecasting import choice
    from tests.forecast import synthetic

    record = synthetic.track_record(errors, "2016-01-04", 12, 1e6)
    html, api, _ = _read_with_record(env, viewer, record)
    lead, ours = api["headline"], api["total"]
    assert lead["method"] == leads and ours["target"] == 2_800_000
    tiles = html[html.index('id="tiles"') :]
    tiles = tiles[: tiles.index('id="headline"')]
    assert f'data-leads="{leads}"' in tiles
    assert value(tiles, "expected") == pytest.approx(ours["expected"])  # ours, always there
    assert value(tiles, "p_target") == pytest.approx(ours["p_target"])
    figure = {t["name"]: t for t in _figure(html)["data"]}
    shown = figure["Expected"]
    assert shown["x"][0] == "2017-Q3"
    # The team table is ours per team and rep: its columns say so where another method leads.
    table = html[html.index('id="team-table"') :]
    table = table[: table.index("</section>")]
    assert ("Expected (our model)" in table) == (leads != "model")
    assert ("P(target) (our model)" in table) == (leads != "model")
    if leads == "model":
        assert "our model:" not in tiles and "Our model" not in figure
        assert value(tiles, "p10") == pytest.approx(ours["p10"])
        assert shown["y"][0] == pytest.approx(ours["expected"])
        assert lead["p_target"] == pytest.approx(ours["p_target"], abs=0.01)
        return
    label = choice.label_of("run_rate")
    assert label in tiles and "our model:" in tiles
    assert value(tiles, "headline") == pytest.approx(lead["forecast"])
    assert value(tiles, "headline_p10") == pytest.approx(lead["p10"])
    assert value(tiles, "headline_p90") == pytest.approx(lead["p90"])
    assert lead["p_target"] is not None and 0 <= lead["p_target"] <= 1
    assert value(tiles, "headline_p_target") == pytest.approx(lead["p_target"])
    assert lead["forecast"] != pytest.approx(ours["expected"])
    assert shown["y"][0] == pytest.approx(lead["forecast"])
    assert figure["P10–P90"]["y"][0] == pytest.approx(lead["p90"])
    assert shown["text"][0].startswith(f"{label}, past WAPE")
    assert figure["Our model"]["y"][0] == pytest.approx(ours["expected"])
    assert figure["Our model"]["text"][0].startswith("our forecast, past WAPE")


def test_a_note_naming_a_command_shows_it_as_code_and_escapes_the_rest():
    from serving.dashboard.routes import commands

    note = "no track record yet: `forecast backtest --data crm` on <the> stored dataset"
    assert str(commands(note)) == (
        "no track record yet: <code>forecast backtest --data crm</code> on &lt;the&gt; stored "
        "dataset"
    )
    assert str(commands("a stray ` tick <b>")) == "a stray ` tick &lt;b&gt;"


def test_before_any_backtest_the_page_names_the_command_to_make_a_record(viewer):
    html = viewer.get("/?period=2017-Q3&freq=quarter").text
    assert "<code>forecast backtest --data" in html and "`forecast backtest" not in html
