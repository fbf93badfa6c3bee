"""The dashboard's routes: sign-in and sign-out, the page, CSV downloads, the Plotly bundle.

Every page carries a strict Content-Security-Policy (scripts and styles from this site only, no
inline script: figures travel as JSON in `<script type="application/json">`). The page and the
downloads need a session (an API key exchanged once for a cookie, see `serving.sessions`); an
API key header alone is not one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import Engine

from forecast.data.store import list_datasets
from forecast.errors import ForecastError, NotFound, UnknownGroup
from forecast.forecasting import forecast_runs, stored_forecasts
from forecast.formatting import missing, money, pct
from forecast.model_monitoring import Monitoring
from forecast.risk import MAX_LISTED
from serving.dashboard import page
from serving.dashboard.export import CHARTS, content_disposition, csv_rows, to_csv
from serving.dashboard.figures import (
    MOVE_LABELS,
    figure_json,
    forecast_figure,
    forecast_moves_figure,
    funnel_figure,
    history_figure,
    move_bars,
)
from serving.dashboard.labels import metric_label, model_label
from serving.dashboard.overviews import OverviewCacheDep, compute
from serving.deps import bound_dataset, of_dataset
from serving.errors import status_for
from serving.group_names import group_name_or_none
from serving.limits import HeavyDep
from serving.observability import monitoring_cache
from serving.routes.models import described_for
from serving.routes.risk import served_deal_model
from serving.sessions import VIEW_ROLES, Session, SessionManager, SessionsDep

SERVING = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=str(SERVING / "templates"))
router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

Dataset = Annotated[str | None, Query(max_length=100)]
Freq = Annotated[str, Query(max_length=10)]
Period = Annotated[str | None, Query(max_length=20)]
Team = Annotated[str | None, Query(max_length=200)]


@dataclass(frozen=True)
class ViewQuery:
    """The view a page or a download asks for; a blank parameter means its default."""

    dataset: str | None
    freq: str
    period: str | None
    team: str | None


def view_query(
    dataset: Dataset = None, freq: Freq = "quarter", period: Period = None, team: Team = None
) -> ViewQuery:
    return ViewQuery(dataset or None, freq, period or None, group_name_or_none(team))


ViewDep = Annotated[ViewQuery, Depends(view_query)]


def plotly_js_path() -> Path:
    """The Plotly bundle shipped inside the installed `plotly` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


# --- templates ----------------------------------------------------------------------------------


def days(v: Any) -> str:
    return "–" if missing(v) else f"{float(v):,.0f} d"


def number(v: Any) -> str:
    return "–" if missing(v) else f"{float(v):,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def commands(text: Any) -> Markup:
    """A note with its `command` spans (as the CLI writes them) set as code, the rest escaped:
    a manager reads "run forecast backtest ..." as a command, not as stray backticks."""
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:  # an odd backtick: left as it is
        return Markup("`".join(parts))
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


templates.env.filters.update(
    money=money,
    pct=pct,
    days=days,
    number=number,
    commands=commands,
    model_label=model_label,
    metric_label=metric_label,
)
#: The most deals at risk a list holds: the CSV's, where the page shows the riskiest.
templates.env.globals["listed_at_most"] = MAX_LISTED


def _html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def _text(body: str, status: int) -> Response:
    return Response(body, status_code=status, media_type="text/plain")


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
def login_form(
    request: Request,
    sessions: SessionsDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    if sessions.read(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, sessions, next, None, 200)


def _login_page(
    request: Request, sessions: SessionManager, next: str | None, error: str | None, status: int
) -> Response:
    token, cookie = sessions.login_token(request)
    response = _html(
        request,
        "login.html",
        {"csrf_token": token, "next": _safe_next(next), "error": error},
        status,
    )
    if cookie is not None:
        sessions.set_login_cookie(response, request, cookie)
    return response


@router.post("/login")
def login(
    request: Request,
    sessions: SessionsDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not sessions.login_csrf_ok(request, csrf_token):
        return _login_page(
            request,
            sessions,
            next,
            "The sign-in form expired or did not come from this site; please try again.",
            403,
        )
    found = request.app.state.keys.verify(api_key.strip()) if api_key.strip() else None
    if found is None:
        return _login_page(request, sessions, next, "Unknown or revoked API key.", 401)
    if found.role not in VIEW_ROLES:
        return _login_page(
            request,
            sessions,
            next,
            f"A {found.role} key may not view the dashboard: sign in with a viewer or admin key.",
            403,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    sessions.start(response, request, found.id, found.name, found.role)
    return response


@router.post("/logout")
def logout(
    request: Request, sessions: SessionsDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = sessions.read(request)
    if session is not None and not sessions.csrf_ok(session, csrf_token):
        return _text(
            "cross-site request refused: the form's token does not match this session", 403
        )
    response = RedirectResponse("/login", status_code=303)
    sessions.end(response, session)
    return response


# --- the page -----------------------------------------------------------------------------------


@router.get("/")
async def dashboard(
    request: Request,
    sessions: SessionsDep,
    overviews: OverviewCacheDep,
    view: ViewDep,
    heavy: HeavyDep,
) -> Response:
    # The session check may touch the store (is the key still active?): off the event loop.
    session = await run_in_threadpool(sessions.read, request)
    if session is None:
        return _to_login(request)
    dataset = bound_dataset(session.dataset, view.dataset)
    result, problem = await heavy(
        compute, request.app.state, overviews, dataset, view.freq, view.period, view.team
    )
    said = str(problem) if problem else None
    context = await run_in_threadpool(_context, request, session, result, said)
    if problem is None and result is not None:  # the view shown, its main section failed?
        problem = result.forecast.failure
    status = page_status(problem, dataset or request.app.state.settings.deal_dataset)
    return _html(request, "dashboard.html", context, status)


def page_status(problem: ForecastError | None, asked: str | None) -> int:
    """A page's status: that of the error it shows instead of its view, or instead of its main
    section (the dashboard's forecast), as the API answers it (`serving.errors`: a bad period or
    freq, a date past the horizon 422, an unknown dataset or team 404, a period before the data
    409), the page still saying why. 200 where it shows its view, or, where no dataset was asked
    for, what the store holds (several datasets to pick from, or none yet and the import to
    run): nothing asked for failed."""
    if problem is None:
        return 200
    if asked is None and isinstance(problem, NotFound) and not isinstance(problem, UnknownGroup):
        return 200
    return status_for(problem)


def deal_datasets(engine: Engine, bound: str | None = None) -> list[str]:
    """The store's deal datasets a session whose key is bound to `bound` may open (None: all):
    the pages offer them where none is named."""
    with engine.connect() as conn:
        names = list_datasets(conn, "opportunities")
    return [name for name in names if bound is None or name == bound]


def _context(
    request: Request, session: Session, ov: page.Overview | None, problem: str | None
) -> dict[str, Any]:
    datasets = deal_datasets(request.app.state.engine, session.dataset)
    ctx: dict[str, Any] = {
        "session": session,
        "csrf_token": session.csrf,
        "problem": problem,
        "datasets": datasets,
        "ov": ov,
    }
    shown = ov.view.dataset if ov is not None else session.dataset
    ctx["monitoring"] = _monitoring(request, shown, session.dataset)
    if ov is None:
        ctx["models"] = described_for(request.app.state.models, session.dataset)
        return ctx
    view = ov.view
    query = {"dataset": view.dataset, "freq": view.freq, "period": view.period.label}
    if view.team:
        query["team"] = view.team
    ctx.update(
        view=view,
        teams=ov.dataset.teams,
        data_end=(ov.dataset.now - timedelta(microseconds=1)).date(),
        periods=ov.periods,
        query=urlencode(query),
        forecast_figure=figure_json(forecast_figure(ov.forecast)) if ov.forecast.ok else None,
        funnel_figure=figure_json(funnel_figure(ov.funnel)) if ov.funnel.ok else None,
        models=_model_card(request, session, ov.forecast),
        history_figure=_history_figure(request, ov),
        moved=_moved(request, ov),
    )
    return ctx


#: Said under a "why the forecast moved" kept before its before-the-period bars existed.
OLDER_RUN = (
    "kept by a tracking run before won and lost before the period had bars of their own: "
    "deals won before the period are in Slipped out, those lost before it in Lost"
)


def _moved(request: Request, ov: page.Overview) -> dict[str, Any] | None:
    """Why the chosen period's forecast moved over the week before the last tracking run
    (stored by it, while the data is unchanged), its figure and the deals behind each bar."""
    state = request.app.state
    found = stored_forecasts.waterfall(
        state.engine, ov.view.dataset, ov.view.period, settings=state.settings
    )
    if found is None:
        return None
    bars = [
        {"bar": b, "label": MOVE_LABELS[b], "change": change, "deals": found["deals"].get(b, [])}
        for b, change in move_bars(found).items()
    ]
    older = "won_before_period" not in found["bars"]  # kept before these bars had their own
    return {
        **found,
        "figure": figure_json(forecast_moves_figure(found)),
        "rows": bars,
        "notes": [*found.get("notes", []), *([OLDER_RUN] if older else [])],
    }


def _monitoring(
    request: Request, dataset: str | None, bound: str | None
) -> list[dict[str, Any]] | None:
    """Model monitoring as last computed (None while the first computation runs: the page never
    waits for it; the cache refreshes in the background, as for /metrics): the lead models', and
    of the deal models only the one of `dataset`, the deal dataset the page shows (None: every
    one), so a page never shows another dataset's figures as its own; of a session bound to a
    dataset, only that dataset's models (`of_dataset`)."""
    reports = monitoring_cache(request.app).peek()
    return None if reports is None else of_dataset(shown_for(reports, dataset), bound)


def shown_for(reports: list[Monitoring], dataset: str | None) -> list[dict[str, Any]]:
    """The monitoring a page of deal dataset `dataset` shows: every lead model's, and the deal
    model of that dataset only (`dataset` None: every one)."""
    return [
        r.to_dict()
        for r in reports
        if dataset is None or r.kind != "deal" or r.dataset in (dataset, None)
    ]


def _history_figure(request: Request, ov: page.Overview) -> str | None:
    """The chosen period's forecast over time (the team's, when one is chosen), where tracked."""
    view = ov.view
    found = forecast_runs.period_history(
        request.app.state.engine,
        view.dataset,
        view.period.label,
        level="team" if view.team else forecast_runs.TOTAL,
        group=view.team,
    )
    if not found["points"]:
        return None
    return figure_json(history_figure(found["points"], found["target"]))


def _model_card(request: Request, session: Session, fc: page.Section) -> dict[str, Any]:
    described = described_for(request.app.state.models, session.dataset)
    if fc.ok:
        focus = fc.data["focus_row"]  # type: ignore[index]
        described["forecast"] = {
            "method": (fc.data or {}).get("method"),
            "as_of": focus.get("as_of"),
        }
    return described


# --- CSV downloads ------------------------------------------------------------------------------


@router.get("/dashboard/{chart}.csv")
async def download(
    request: Request,
    chart: str,
    sessions: SessionsDep,
    overviews: OverviewCacheDep,
    view: ViewDep,
    heavy: HeavyDep,
) -> Response:
    session = await run_in_threadpool(sessions.read, request)
    if session is None:
        return _to_login(request)
    if chart not in CHARTS:
        return _text(f"no chart {chart!r}; charts: {', '.join(CHARTS)}", 404)
    dataset = bound_dataset(session.dataset, view.dataset)
    result, problem = await heavy(
        compute, request.app.state, overviews, dataset, view.freq, view.period, view.team
    )
    if result is None:
        return _text(str(problem or "no data"), status_for(problem) if problem else 404)
    if chart == "risk":  # every flagged deal, where the page explains the riskiest
        served = served_deal_model(request.app.state.models, result.dataset.name)
        result = replace(result, risk=await heavy(page.full_risk, result, served))
    try:
        rows = csv_rows(chart, result, _model_card(request, session, result.forecast))
    except ForecastError as exc:  # the section's own error's status, as the page's (else 409)
        return _text(str(exc), 409 if type(exc) is ForecastError else status_for(exc))
    return Response(
        to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition(chart, result)},
    )


# --- assets -------------------------------------------------------------------------------------


@router.get("/assets/plotly.min.js")
def plotly_js() -> Response:
    return FileResponse(
        plotly_js_path(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )
