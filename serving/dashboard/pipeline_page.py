"""The dashboard's pipeline movement page: the waterfall between two dates (last week by default)
for the chosen period's expected closes, per team, with a drill-down to the deals behind each bar
(click a bar, or open its list) and a CSV of every deal.

Its own page, not a section of the overview: the overview's first view stays as fast as it is,
and the waterfall (two passes over the deals) is paid only by whoever opens it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import State

from forecast.data.store import PICK_ON_PAGE
from forecast.errors import Busy, ForecastError, InvalidInput, UnknownGroup
from forecast.history import as_timestamp
from forecast.periods import Period, current_period, parse_period
from forecast.waterfall import BARS, PipelineWaterfall, deal_records
from serving.dashboard.export import to_csv
from serving.dashboard.figures import figure_json, waterfall_figure
from serving.dashboard.routes import _html, _text, _to_login, deal_datasets, page_status
from serving.datasets import cached_waterfall, load_dataset
from serving.deps import bound_dataset
from serving.errors import status_for
from serving.group_names import group_name_or_none
from serving.limits import Heavy, HeavyDep
from serving.sessions import Session, SessionManager, SessionsDep

router = APIRouter(include_in_schema=False)
#: Deals listed per bar on the page (the CSV holds them all).
DEALS_SHOWN = 50
#: The default span: what changed in the last week.
DEFAULT_DAYS = 7
LABELS = {
    "created": "Created",
    "pulled_in": "Pulled in",
    "moved_in": "Moved in (reassigned)",
    "increased": "Amount increased",
    "decreased": "Amount decreased",
    "moved_out": "Moved out (reassigned)",
    "pushed_out": "Pushed out",
    "lost_before_period": "Lost before the period",
    "won_before_period": "Won before the period",
    "lost": "Lost",
    "won": "Won",
}
#: The chart's axis: short enough to read upright.
CHART_LABELS = {
    **LABELS,
    "moved_in": "Moved in",
    "increased": "Increased",
    "decreased": "Decreased",
    "moved_out": "Moved out",
    "lost_before_period": "Lost earlier",
    "won_before_period": "Won earlier",
}


@dataclass(frozen=True)
class PipelineQuery:
    """What the page asks for; a blank parameter means its default."""

    dataset: str | None
    start: str | None
    end: str | None
    period: str | None  # a period label, or "all" for every open deal
    team: str | None


def pipeline_query(
    dataset: Annotated[str | None, Query(max_length=100)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    period: Annotated[str | None, Query(max_length=20)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
) -> PipelineQuery:
    return PipelineQuery(
        dataset or None, start or None, end or None, period or None, group_name_or_none(team)
    )


PipelineDep = Annotated[PipelineQuery, Depends(pipeline_query)]


@dataclass(frozen=True)
class Movement:
    """The waterfall as the page shows it, with the dates and scope it was asked for."""

    dataset: str
    version: str  # the dataset's, so what is built from it is kept until the data changes
    start: pd.Timestamp
    end: pd.Timestamp
    period: Period | None
    team: str | None
    teams: list[str]
    found: PipelineWaterfall

    @property
    def shown(self) -> PipelineWaterfall:
        """The waterfall as the page shows it: the chosen team's deals, or everyone's."""
        return self.found.of_group(self.team) if self.team else self.found


def movement(state: State, q: PipelineQuery) -> Movement:
    """Validate the page's filters and compute its waterfall (per team); `state` is the app's."""
    data = load_dataset(
        state.engine, q.dataset or state.settings.deal_dataset, state.datasets, PICK_ON_PAGE
    )
    end = _day(q.end, "to") if q.end else data.history.now()
    start = _day(q.start, "from") if q.start else end - pd.Timedelta(days=DEFAULT_DAYS)
    if q.period == "all":
        period = None
    elif q.period:
        period = parse_period(q.period)
    else:  # reads the whole pipeline as of `end`: once per dataset version and date
        period = state.pipeline_views.get(
            ("default period", data.name, data.version, end),
            lambda: _default_period(data.history.as_of(end), end),
        )
    found = cached_waterfall(state.pipeline_views, data, start, end, period, "team", state.settings)
    teams = [g.group for g in found.groups]
    if q.team is not None and q.team not in teams:
        known = ", ".join(teams[:12]) or "none"
        raise UnknownGroup(f"team: no team {q.team!r} in this pipeline; its teams: {known}")
    return Movement(data.name, data.version, start, end, period, q.team, teams, found)


def page_context(state: State, m: Movement) -> dict[str, Any]:
    """What the page shows of a movement (its bars, largest deals and chart: a pass over every
    deal of the waterfall), built once per dataset version, dates, period and team."""
    period = m.period.label if m.period is not None else None
    key = ("page", m.dataset, m.version, m.start, m.end, period, m.team)
    return state.pipeline_views.get(key, lambda: _context(m))


@router.get("/dashboard/pipeline")
async def pipeline_page(
    request: Request, sessions: SessionsDep, q: PipelineDep, heavy: HeavyDep
) -> Response:
    session, shown, problem = await _signed_in_movement(request, sessions, q, heavy)
    if session is None:
        return _to_login(request)
    said = str(problem) if problem else None
    context: dict[str, Any] = {"session": session, "csrf_token": session.csrf, "problem": said}
    if problem is not None:  # several deal datasets and none named: offer each it may open
        context["datasets"] = await run_in_threadpool(
            deal_datasets, request.app.state.engine, session.dataset
        )
    if shown is not None:  # off the event loop: a first build reads every deal
        context.update(await run_in_threadpool(page_context, request.app.state, shown))
    asked = q.dataset or session.dataset or request.app.state.settings.deal_dataset
    return _html(request, "pipeline.html", context, page_status(problem, asked))


@router.get("/dashboard/pipeline.csv")
async def pipeline_csv(
    request: Request, sessions: SessionsDep, q: PipelineDep, heavy: HeavyDep
) -> Response:
    session, shown, problem = await _signed_in_movement(request, sessions, q, heavy)
    if session is None:
        return _to_login(request)
    if shown is None:
        return _text(str(problem or "no pipeline"), status_for(problem) if problem else 422)
    name = f"pipeline_{shown.start.date()}_{shown.end.date()}.csv"
    return Response(
        to_csv(deal_records(shown.shown.deals)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- helpers --------------------------------------------------------------------------------------


async def _signed_in_movement(
    request: Request, sessions: SessionManager, q: PipelineQuery, heavy: Heavy
) -> tuple[Session | None, Movement | None, ForecastError | None]:
    """The session (None: not signed in), and the movement asked for or the error saying why it
    cannot be shown.
    A session signed in with a key bound to a dataset shows that one, and no other (as the API:
    `OtherDataset`, the app's 403 page)."""
    session = await run_in_threadpool(sessions.read, request)
    if session is None:
        return None, None, None
    q = replace(q, dataset=bound_dataset(session.dataset, q.dataset))
    try:
        return session, await heavy(movement, request.app.state, q), None
    except Busy:
        raise  # not a problem with the view asked for: the app's busy page (serving/errors.py)
    except ForecastError as exc:
        return session, None, exc


def _context(m: Movement) -> dict[str, Any]:
    line = m.found.line(m.team)
    listed, counts = m.shown.largest_deals(DEALS_SHOWN), m.shown.deal_counts()
    query = {
        "dataset": m.dataset,
        "from": str(m.start.date()),
        "to": str(m.end.date()),
        "period": m.period.label if m.period is not None else "all",
    }
    if m.team:
        query["team"] = m.team
    bars = []
    for bar, sign in BARS:
        bars.append(
            {
                "bar": bar,
                "label": LABELS[bar],
                "sign": "+" if sign > 0 else "−",
                "amount": line.bars_cents[bar] / 100,
                "count": counts[bar],
                "deals": listed[bar],
            }
        )
    return {
        "m": m,
        "line": line.to_dict(),
        "bars": bars,
        "groups": [g.to_dict() for g in m.found.groups],
        "notes": m.found.notes,
        "query": urlencode(query),
        "figure": figure_json(waterfall_figure(line.to_dict(), CHART_LABELS)),
    }


def _day(text: str, name: str) -> pd.Timestamp:
    try:
        return as_timestamp(date.fromisoformat(text.strip()))
    except ValueError:
        raise InvalidInput(f"{name}: a date like 2024-06-30 is needed, got {text!r}") from None


def _default_period(state: pd.DataFrame, end: pd.Timestamp) -> Period | None:
    """The quarter holding `end` when open deals carry expected close dates; else every open
    deal (an export without them has no period to place deals in)."""
    expected = state.get("expected_close_at")
    if expected is None or not expected[state["is_open"]].notna().any():
        return None
    return current_period(end, "quarter")
