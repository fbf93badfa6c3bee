"""The managers' dashboard: one server-rendered page, sign-in and sign-out, CSV downloads.

The figures come from `forecast.overview`, which calls the functions the API serves them with
(`GET /v1/forecast`, `/v1/kpis`, `/v1/deals/at-risk`, `/v1/models`), so page and API agree.
This module only arranges them: Plotly figure specs as JSON (drawn by `static/dashboard.js` with
the Plotly bundle shipped inside the `plotly` package, served here: no CDN, no internet), tables,
and CSV files of the same rows.

Computed overviews are kept for `CACHE_SECONDS` per (dataset version, filters, served models):
the forecast fits models and replays past windows, seconds of work that a manager reloading or
downloading a CSV should not pay again. An import or sync makes a new dataset version, a model
reload a new model set; either misses the cache.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from forecast import overview
from forecast.errors import ForecastError
from forecast.formatting import missing as _missing
from forecast.formatting import money, pct
from serving.routes.models import describe
from serving.routes.risk import served_deal_model
from serving.sessions import VIEW_ROLES, Session, SessionManager

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

CACHE_SECONDS = 120.0
CACHE_ENTRIES = 32
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CHARTS = ("forecast", "funnel", "teams", "reps", "risk", "models")


def plotly_js_path() -> Path:
    """The Plotly bundle shipped inside the installed `plotly` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


# --- formatting (Jinja filters) -----------------------------------------------------------------








def days(v: Any) -> str:
    return "–" if _missing(v) else f"{float(v):,.0f} d"


def number(v: Any) -> str:
    return "–" if _missing(v) else f"{float(v):,.0f}" if float(v).is_integer() else f"{v:,.2f}"


templates.env.filters.update(money=money, pct=pct, days=days, number=number)


def _html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


# --- sessions -----------------------------------------------------------------------------------


async def _viewer_session(request: Request) -> Any:
    """The signed-in session of this request, or None (the key check may touch the store)."""
    return await run_in_threadpool(_sessions(request).read, request)


def _sessions(request: Request) -> SessionManager:
    app = request.app
    manager = getattr(app.state, "sessions", None)
    if manager is None:
        manager = app.state.sessions = SessionManager(app.state.settings, app.state.engine,
                                                      app.state.settings.key_cache_seconds)
    return manager


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `https://…` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _to_login(request: Request) -> RedirectResponse:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": wanted}), status_code=303)


# --- sign-in / sign-out -------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None,
               ) -> Response:
    manager = _sessions(request)
    if manager.read(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, manager, next, None, 200)


def _login_page(request: Request, manager: SessionManager, next: str | None,
                error: str | None, status: int) -> Response:
    token, cookie = manager.login_token(request)
    response = _html(request, "login.html", {"csrf_token": token, "next": _safe_next(next),
                                             "error": error}, status)
    if cookie is not None:
        manager.set_login_cookie(response, request, cookie)
    return response


@router.post("/login")
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    manager = _sessions(request)
    if not manager.login_csrf_ok(request, csrf_token):
        return _login_page(request, manager, next, "The sign-in form expired or did not come "
                           "from this site; please try again.", 403)
    found = request.app.state.keys.verify(api_key.strip()) if api_key.strip() else None
    if found is None:
        return _login_page(request, manager, next, "Unknown or revoked API key.", 401)
    if found.role not in VIEW_ROLES:
        return _login_page(request, manager, next, f"A {found.role} key may not view the "
                           "dashboard: sign in with a viewer or admin key.", 403)
    response = RedirectResponse(_safe_next(next), status_code=303)
    manager.start(response, request, found.id, found.name, found.role)
    return response


@router.post("/logout")
def logout(request: Request,
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    manager = _sessions(request)
    session = manager.read(request)
    if session is not None and not manager.csrf_ok(session, csrf_token):
        return Response("cross-site request refused: the form's token does not match this "
                        "session", status_code=403, media_type="text/plain")
    response = RedirectResponse("/login", status_code=303)
    manager.end(response)
    return response


# --- the overview, computed once per version and filters ----------------------------------------


class _Cache:
    """Recently computed overviews; one computation per key at a time (others wait for it)."""

    def __init__(self, seconds: float, entries: int) -> None:
        self.seconds, self.entries = seconds, entries
        self._items: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, build: Any) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit and time.monotonic() - hit[0] < self.seconds:
                return hit[1]
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                hit = self._items.get(key)
                if hit and time.monotonic() - hit[0] < self.seconds:
                    return hit[1]
            value = build()
            with self._lock:
                self._items[key] = (time.monotonic(), value)
                self._items.move_to_end(key)
                while len(self._items) > self.entries:
                    self._items.popitem(last=False)
                self._building.pop(key, None)
            return value


def _cache(request: Request) -> _Cache:
    cache = getattr(request.app.state, "dashboard_cache", None)
    if cache is None:
        cache = request.app.state.dashboard_cache = _Cache(CACHE_SECONDS, CACHE_ENTRIES)
    return cache


def compute(request: Request, dataset: str | None, freq: str, period: str | None,
            team: str | None) -> tuple[overview.Overview | None, str | None]:
    """The overview of a view (cached), or None and the reason the data cannot be shown."""
    app = request.app
    engine = app.state.engine
    try:
        data = overview.load_dataset(engine, dataset or app.state.settings.deal_dataset)
        view = overview.choose_view(data, freq=freq, period=period, team=team)
    except ForecastError as exc:
        return None, str(exc)
    models = app.state.models
    served = served_deal_model(request, data.name)
    key = (str(engine.url), data.name, data.version, view.freq, view.period.label,
           str(view.as_of), view.team, id(models))
    result = _cache(request).get(key, lambda: overview.build_overview(
        engine, data, view, served=served, settings=app.state.settings))
    return result, None


def _model_card(request: Request, fc: overview.Section) -> dict[str, Any]:
    described = describe(request.app.state.models).model_dump(mode="json")
    if fc.ok:
        focus = fc.data["focus_row"]  # type: ignore[index]
        described["forecast"] = {"method": _method(fc), "as_of": focus.get("as_of")}
    return described


def _method(fc: overview.Section) -> str | None:
    return (fc.data or {}).get("method")


# --- the page -----------------------------------------------------------------------------------


@router.get("/")
async def dashboard(
    request: Request,
    dataset: Annotated[str | None, Query(max_length=100)] = None,
    freq: Annotated[str, Query(max_length=10)] = "quarter",
    period: Annotated[str | None, Query(max_length=20)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    session = await _viewer_session(request)
    if session is None:
        return _to_login(request)
    result, problem = await run_in_threadpool(compute, request, dataset or None, freq,
                                              period or None, team or None)
    return _html(request, "dashboard.html", _context(request, session, result, problem))


def _context(request: Request, session: Session, ov: overview.Overview | None,
             problem: str | None) -> dict[str, Any]:
    from forecast.store import list_datasets

    with request.app.state.engine.connect() as conn:
        datasets = list_datasets(conn, "opportunities")
    ctx: dict[str, Any] = {"session": session, "csrf_token": session.csrf, "problem": problem,
                           "datasets": datasets, "ov": ov}
    if ov is None:
        ctx["models"] = describe(request.app.state.models).model_dump(mode="json")
        return ctx
    view = ov.view
    query = {"dataset": view.dataset, "freq": view.freq, "period": view.period.label}
    if view.team:
        query["team"] = view.team
    ctx.update(
        view=view, teams=ov.dataset.teams,
        data_end=(ov.dataset.now - timedelta(microseconds=1)).date(), periods=ov.periods,
        query=urlencode(query),
        forecast_figure=json.dumps(forecast_figure(ov.forecast)) if ov.forecast.ok else None,
        funnel_figure=json.dumps(funnel_figure(ov.funnel)) if ov.funnel.ok else None,
        models=_model_card(request, ov.forecast),
    )
    return ctx


# --- figures (Plotly specs: the library's numbers, placed) --------------------------------------

_LAYOUT = {"margin": {"l": 70, "r": 20, "t": 10, "b": 40}, "height": 340,
           "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
           "legend": {"orientation": "h", "y": -0.15}, "hovermode": "x unified",
           "font": {"family": "system-ui, sans-serif", "size": 12}}


def forecast_figure(fc: overview.Section) -> dict[str, Any]:
    rows = fc.data["rows"]  # type: ignore[index]
    x = [r["period"] for r in rows]
    ahead = [r for r in rows if r.get("expected") is not None]
    xa = [r["period"] for r in ahead]
    traces = [
        {"type": "bar", "name": "Won (actual)", "x": x, "y": [r["actual_won"] for r in rows],
         "marker": {"color": "#9db4c0"}},
        {"type": "scatter", "name": "P10", "x": xa, "y": [r["p10"] for r in ahead],
         "mode": "lines", "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"},
        {"type": "scatter", "name": "P10–P90", "x": xa, "y": [r["p90"] for r in ahead],
         "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": "rgba(31,119,180,0.18)"},
        {"type": "scatter", "name": "Expected", "x": xa, "y": [r["expected"] for r in ahead],
         "mode": "lines+markers", "line": {"color": "#1f77b4", "width": 3}},
        {"type": "scatter", "name": "Weighted pipeline", "x": xa,
         "y": [r["weighted_pipeline"] for r in ahead], "mode": "lines+markers",
         "line": {"color": "#ff7f0e", "dash": "dash"}},
    ]
    if any(r.get("target") is not None for r in rows):
        traces.append({"type": "scatter", "name": "Target", "x": x,
                       "y": [r.get("target") for r in rows], "mode": "markers",
                       "marker": {"symbol": "line-ew", "size": 60,
                                  "line": {"color": "#d62728", "width": 3}}})
    layout = {**_LAYOUT, "yaxis": {"title": {"text": "revenue"}, "tickformat": ",.0f",
                                   "rangemode": "tozero"},
              "xaxis": {"type": "category"}}
    return {"data": traces, "layout": layout}


def funnel_figure(fn: overview.Section) -> dict[str, Any]:
    row = fn.data["row"]  # type: ignore[index]
    steps = row["funnel"]
    names = [s["stage"] for s in steps] + [steps[-1]["next_stage"] if steps else "Won"]
    values = [s["reached"] for s in steps] + [row["won"]]
    text = [f"{s['reached']:,} · {pct(s['conversion'])} on" for s in steps] + [f"{row['won']:,}"]
    trace = {"type": "funnel", "y": names, "x": values, "text": text, "textinfo": "text",
             "marker": {"color": "#1f77b4"}}
    return {"data": [trace], "layout": {**_LAYOUT, "height": 60 + 55 * len(names),
                                        "margin": {"l": 110, "r": 20, "t": 10, "b": 20}}}


# --- CSV downloads ------------------------------------------------------------------------------


def csv_rows(name: str, ov: overview.Overview, models: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows behind one chart or table, as the page shows them."""
    if name == "models":
        out = []
        for m in models["models"]:
            for who, metrics in (m.get("holdout") or {"(none)": {}}).items():
                base = {"kind": m["kind"], "name": m["name"], "version": m["version"],
                        "source": m["source"], "method": m["method"],
                        "trained_at": m["trained_at"], "compared": who}
                out.append({**base, **metrics} if metrics else base)
        return out
    part = {"forecast": ov.forecast, "funnel": ov.funnel, "teams": ov.table, "reps": ov.table,
            "risk": ov.risk}[name]
    if not part.ok:
        raise ForecastError(part.error or f"no {name} data")
    data = part.data or {}
    if name == "forecast":
        return [{k: r.get(k) for k in ("period", "start", "end", "actual_won", "expected", "p10",
                                       "p50", "p90", "weighted_pipeline", "target", "p_target",
                                       "as_of")} for r in data["rows"]]
    if name == "funnel":
        row = data["row"]
        rows = []
        for f, t, p in zip(row["funnel"], row["time_in_stage"], row["open_pipeline"],
                           strict=True):
            rows.append({"period": row["period"], "team": row["group"], "stage": f["stage"],
                         "reached": f["reached"], "next_stage": f["next_stage"],
                         "conversion": f["conversion"], "median_days_in_stage": t["median_days"],
                         "open_deals": p["deals"], "open_value": p["value"]})
        return rows
    if name == "teams":
        return [*data["teams"], data["total"]]
    if name == "reps":
        return data["reps"]
    return [{"id": d["id"], "account": d["account"], "owner": d["owner"], "team": d["team"],
             "stage": d["stage"], "amount": d["amount"], "probability": d["probability"],
             "probability_before": d["probability_before"], "days_in_stage": d["days_in_stage"],
             "flags": " ".join(d["flags"]), "why": "; ".join(d["why"]),
             "reasons_against": "; ".join(r["sentence"] for r in d["reasons_against"])}
            for d in data["deals"]]


def to_csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(v: Any) -> Any:
    if _missing(v):
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):  # no formulas in a spreadsheet
        return "'" + v
    return v


@router.get("/dashboard/{chart}.csv")
async def download(
    request: Request,
    chart: str,
    dataset: Annotated[str | None, Query(max_length=100)] = None,
    freq: Annotated[str, Query(max_length=10)] = "quarter",
    period: Annotated[str | None, Query(max_length=20)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    session = await _viewer_session(request)
    if session is None:
        return _to_login(request)
    if chart not in CHARTS:
        return Response(f"no chart {chart!r}; charts: {', '.join(CHARTS)}", status_code=404,
                        media_type="text/plain")
    result, problem = await run_in_threadpool(compute, request, dataset or None, freq,
                                              period or None, team or None)
    if result is None:
        return Response(problem or "no data", status_code=404, media_type="text/plain")
    try:
        rows = csv_rows(chart, result, _model_card(request, result.forecast))
    except ForecastError as exc:
        return Response(str(exc), status_code=409, media_type="text/plain")
    stem = "_".join(x for x in (chart, result.view.period.label,
                                (result.view.team or "").replace(" ", "-")) if x)
    return Response(to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})


# --- assets -------------------------------------------------------------------------------------


@router.get("/assets/plotly.min.js")
def plotly_js() -> Response:
    return FileResponse(plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})
