"""The managers' overview: what the dashboard shows, assembled from the library's own functions.

Every figure comes from the function the API serves it with, called with the same arguments:

    revenue forecast   service.forecast_against_targets   (GET /v1/forecast)
    actual won, funnel kpis.compute_kpis                  (GET /v1/kpis)
    deals at risk      risk.deals_at_risk                 (GET /v1/deals/at-risk)

so the page and the API agree by construction. This module only picks rows out of their
`to_dict()` output and lays them side by side; it computes no figure of its own (but one: a
forecast stored before its headline carried P(target) gets it from the library's
`choice.p_reach_target`, as the API's is made). A section whose
function fails (no history yet, no targets module, ...) carries the message instead of its data,
and the other sections still render.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from forecast.errors import ForecastError, InvalidInput, UnknownGroup
from forecast.forecasting.choice import LABELS, MODEL, p_reach_target
from forecast.forecasting.revenue import default_as_of
from forecast.forecasting.service import BuildCache, forecast_against_targets
from forecast.forecasting.stored_forecasts import CHART_AHEAD as AHEAD
from forecast.forecasting.stored_forecasts import find as stored_forecast
from forecast.forecasting.targets import TOTAL, TOTAL_LEVEL, list_targets
from forecast.kpis import compute_kpis
from forecast.periods import Period, current_period, parse_period, period_of
from forecast.risk import LISTED, MAX_LISTED, deals_at_risk
from serving.datasets import Dataset

log = logging.getLogger("serving.dashboard.page")

FREQS = ("month", "quarter")
#: Periods shown before the focus period (actual won revenue) and after it (forecast).
BACK = {"month": 6, "quarter": 4}


# --- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What the manager asked to see: a dataset, a period (of a frequency) and maybe a team."""

    dataset: str
    freq: str
    period: Period
    as_of: pd.Timestamp  # when the forecast of `period` is made
    team: str | None


def choose_view(
    data: Dataset, *, freq: str = "quarter", period: str | None = None, team: str | None = None
) -> View:
    """Validate the filters. The default period is `periods.current_period` of the dataset's
    "now", the one `forecast track` keeps as current (and stores this view's forecasts of); a
    past period is forecast as of its start (to set beside what was won), any other as of now."""
    if freq not in FREQS:
        raise InvalidInput(f"freq must be one of {list(FREQS)}, got {freq!r}")
    if period:
        chosen = parse_period(period)
        if chosen.freq != freq:
            chosen = period_of(chosen.start, freq)
    else:
        chosen = current_period(data.now, freq)
    if team is not None and team not in data.teams:
        known = ", ".join(data.teams[:12]) or "none"
        raise UnknownGroup(f"team: no team {team!r} in dataset {data.name!r}; its teams: {known}")
    as_of = default_as_of(chosen, data.now)
    return View(data.name, freq, chosen, as_of, team)


def period_choices(data: Dataset, freq: str) -> list[str]:
    """Periods a manager may pick: from the first deal's to two after now, newest first."""
    first = data.opportunities["created_at"].min()
    if pd.isna(first):
        first = data.now
    current = current_period(data.now, freq)
    out = [current]
    while len(out) < 60 and out[-1].start > first:
        out.append(period_of(out[-1].start - pd.Timedelta(days=1), freq))
    ahead = [current]
    for _ in range(2):
        ahead.append(period_of(ahead[-1].end, freq))
    return [p.label for p in reversed(ahead[1:])] + [p.label for p in out]


def chart_periods(view: View) -> list[Period]:
    """The periods on the forecast chart: some before the chosen one, it, and some after."""
    before = [view.period]
    for _ in range(BACK[view.freq]):
        before.insert(0, period_of(before[0].start - pd.Timedelta(days=1), view.freq))
    after = [view.period]
    for _ in range(AHEAD[view.freq]):
        after.append(period_of(after[-1].end, view.freq))
    return before + after[1:]


# --- sections ---------------------------------------------------------------------------------


@dataclass
class Section:
    """One part of the page: its data, or why it could not be shown (`failure`: the library's
    error that said so, whose type gives the page its status where this is the main section)."""

    data: dict[str, Any] | None = None
    error: str | None = None
    failure: ForecastError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.data is not None


def section(build: Callable[[], dict[str, Any]], what: str) -> Section:
    """Run one section's builder; a failure becomes a message on that section only."""
    try:
        return Section(build())
    except ForecastError as exc:
        # Kept without its traceback: a cached overview must not hold the frames' data.
        return Section(error=str(exc), failure=exc.with_traceback(None))
    except ImportError as exc:
        return Section(error=f"{what} is not available in this installation ({exc.name})")
    except Exception:  # noqa: BLE001 - one broken section must not take the page down
        log.exception("the %s section failed", what)
        return Section(error=f"the {what} could not be computed; the error has been logged")


def kpi_report(data: Dataset, *, by: str | None, period: str | None, as_of: object = None) -> Any:
    """`kpis.compute_kpis` on a loaded dataset, as `GET /v1/kpis` calls it."""
    return compute_kpis(data.history, by=by, period=period, as_of=as_of)


def revenue_forecast(
    engine: Engine,
    data: Dataset,
    period: Period,
    *,
    by: str | None,
    as_of: pd.Timestamp,
    settings: Any = None,
    models_cache: BuildCache | None = None,
) -> dict[str, Any]:
    """The forecast `GET /v1/forecast` gives, as a dict: the tracked one while it holds, else
    `service.forecast_against_targets`."""
    stored = stored_forecast(
        engine, period.label, dataset=data.name, by=by, as_of=as_of, settings=settings
    )
    if stored is not None:
        return stored
    return forecast_against_targets(
        engine,
        period.label,
        dataset=data.name,
        by=by,
        as_of=as_of,
        settings=settings,
        history=data.history,
        models_cache=models_cache,
    ).to_dict()


def at_risk(
    data: Dataset,
    *,
    served: Any,
    as_of: object = None,
    team: str | None = None,
    limit: int = LISTED,
) -> Any:
    """`risk.deals_at_risk` on a loaded dataset, as `GET /v1/deals/at-risk` calls it."""
    return deals_at_risk(data.history, served=served, as_of=as_of, team=team, limit=limit)


@dataclass
class Overview:
    """Everything on the page for one view."""

    view: View
    dataset: Dataset
    periods: list[str]
    forecast: Section
    funnel: Section
    table: Section
    risk: Section
    notes: list[str] = field(default_factory=list)


def full_risk(ov: Overview, served: Any) -> Section:
    """The overview's deals at risk, every flagged one (up to the most a list holds), as its
    CSV lists them: the page explains only the riskiest it shows."""
    return section(
        lambda: at_risk(
            ov.dataset, served=served, as_of=ov.dataset.now, team=ov.view.team, limit=MAX_LISTED
        ).to_dict(),
        "deals at risk",
    )


def build_overview(
    engine: Engine,
    data: Dataset,
    view: View,
    *,
    served: Any = None,
    settings: Any = None,
    models_cache: BuildCache | None = None,
) -> Overview:
    """Compute every section of the dashboard for one view."""
    kpis = section(
        lambda: kpi_report(data, by="team" if view.team else None, period=view.freq).to_dict(),
        "KPIs",
    )
    forecasts: dict[str, dict[str, Any] | Exception] = {}

    def forecast_of(period: Period, by: str) -> dict[str, Any]:
        key = f"{period.label}|{by}"
        if key not in forecasts:
            try:
                forecasts[key] = revenue_forecast(
                    engine,
                    data,
                    period,
                    by=by,
                    as_of=view.as_of,
                    settings=settings,
                    models_cache=models_cache,
                )
            except Exception as exc:  # noqa: BLE001 - re-raised below, per section
                forecasts[key] = exc
        hit = forecasts[key]
        if isinstance(hit, Exception):
            raise hit
        return hit

    # The at-risk list needs nothing from the other sections: it runs beside them (numpy and
    # pandas release the GIL for much of their work, so two cores share the load).
    with ThreadPoolExecutor(max_workers=1) as pool:
        risk = pool.submit(
            section,
            # The riskiest the page shows; its CSV asks for every flagged one (`full_risk`).
            lambda: at_risk(data, served=served, as_of=data.now, team=view.team).to_dict(),
            "deals at risk",
        )
        fc = section(lambda: _forecast_section(view, kpis, forecast_of, engine), "revenue forecast")
        table = section(lambda: _table_section(data, view, forecast_of), "team table")
        return Overview(
            view=view,
            dataset=data,
            periods=period_choices(data, view.freq),
            forecast=fc,
            funnel=section(lambda: _funnel_section(view, kpis), "funnel"),
            table=table,
            risk=risk.result(),
        )


def _kpi_row(kpis: Section, group: str | None, period: str) -> dict[str, Any] | None:
    if not kpis.ok:
        raise kpis.failure or ForecastError(kpis.error or "no KPIs")
    for row in kpis.data["groups"]:  # type: ignore[index]
        if row["group"] == group and row["period"] == period:
            return row
    return None


def _line(result: dict[str, Any], team: str | None) -> dict[str, Any] | None:
    if team is None:
        return result["total"]
    return next((g for g in result["groups"] if g["group"] == team), None)


def _forecast_section(
    view: View, kpis: Section, forecast_of: Callable[..., dict[str, Any]], engine: Engine
) -> dict[str, Any]:
    rows = []
    notes: dict[str, list[str]] = {}  # by period: each forecast's notes are its own
    level, name = ("team", view.team) if view.team else (TOTAL_LEVEL, TOTAL)
    seen_until = _now(view, kpis)
    method = None
    for per in chart_periods(view):
        row: dict[str, Any] = {
            "period": per.label,
            "start": str(per.start.date()),
            "end": str(per.end.date()),
            "actual_won": None,
        }
        if per.start < seen_until:  # started: what was won in it so far (none: no row)
            kpi = _kpi_row(kpis, view.team, per.label)
            row["actual_won"] = kpi["won_revenue"] if kpi is not None else 0.0
            row["actual_complete"] = per.end <= seen_until
        _, goals = list_targets(engine, dataset=view.dataset, period=per.label, level=level)
        target = next((t.amount for t in goals if t.name == name), None)
        row["target"] = target
        if per.start >= view.period.start:
            result = forecast_of(per, "team")
            line = _line(result, view.team)
            if line is None:
                notes[per.label] = [f"no forecast line for team {view.team!r}"]
            else:
                row.update(
                    {
                        k: line.get(k)
                        for k in (
                            "expected",
                            "p10",
                            "p50",
                            "p90",
                            "weighted_pipeline",
                            "won_so_far",
                            "expected_pipeline",
                            "expected_new",
                            "deals",
                            "pipeline_value",
                            "p_target",
                        )
                    }
                )
                row["as_of"] = result["as_of"]
                row["currency"] = result.get("currency")
                row.update(_headline(result.get("headline"), view.team))
                row.update(_naive(result.get("naive"), view.team))
                row.update(_past(result.get("past_accuracy")))
                method = method or result.get("method")
                notes[per.label] = list(result.get("notes", []))
                if target is None:
                    row["target"] = line.get("target")
                row.update(_shown(row))
        rows.append(row)
    focus = next(r for r in rows if r["period"] == view.period.label)
    return {
        "freq": view.freq,
        "focus": view.period.label,
        "as_of": str(view.as_of.date()),
        "team": view.team,
        "rows": rows,
        "focus_row": focus,
        "currency": focus.get("currency"),  # None: no forecast, or deals in several currencies
        "method": method,
        "notes": _notes_of(view.period.label, notes),
    }


def _notes_of(focus: str, by_period: dict[str, list[str]]) -> list[str]:
    """The section's notes: the chosen period's as they are (the API's for that period, which
    the tiles above show), then another period's that say something else, each led by its
    period: a drift or a headline's reason measured for 2026-Q1 must not read as 2025-Q4's."""
    own = by_period.get(focus, [])
    notes = list(own)
    for label, found in by_period.items():
        if label != focus:
            notes.extend(f"{label}: {n}" for n in found if n not in own)
    return notes


def _headline(lead: dict[str, Any] | None, team: str | None) -> dict[str, Any]:
    """The forecast users get (the method most accurate on the track record) as flat fields
    of a chart row; nothing when ours leads."""
    if not lead:
        return {}
    line = lead["groups"].get(team, {}) if team else lead
    past = lead["choice"]
    if past.get("wape") is None and lead.get("method") == "model":  # ours stands: say why
        return {"headline_reason": past.get("reason")}
    shown = {
        "headline_method": lead["label"],
        "headline_method_key": lead.get("method"),
        # Another method than ours is what users get: it leads the tiles and the chart.
        "headline_leads": lead.get("method") != MODEL and line.get("forecast") is not None,
        "headline": line.get("forecast"),
        "headline_p10": line.get("p10"),
        "headline_p50": line.get("p50"),
        "headline_p90": line.get("p90"),
        "headline_p_target": line.get("p_target"),
    }
    if past.get("wape") is None:  # nothing compared yet: the hedge, and the reason says why
        return {**shown, "headline_reason": past.get("reason")}
    return {
        **shown,
        "headline_past_wape": past.get("wape"),
        "ours_past_wape": past.get("model_wape"),
        "headline_past_n": past.get("n"),
        "headline_horizon_weeks": past.get("horizon_weeks_used"),
    }


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """The forecast users get for this period (`shown_*`): the chosen method's where another
    method than ours leads (`headline_leads`), else ours; with its label and past WAPE at this
    horizon (the choice's, recent windows weighing more; ours' from the record where nothing was
    compared), and ours' past WAPE. What the tiles lead with and the chart's main line."""
    ours_wape = row.get("ours_past_wape")
    if ours_wape is None:
        ours_wape = row.get("model_past_wape")
    if row.get("headline_leads"):
        reach = row.get("headline_p_target")
        if reach is None and row.get("target") is not None:
            # A forecast stored before the headline carried its P(target): the same reading.
            reach = p_reach_target(
                row["target"], row["headline_p10"], row["headline_p50"], row["headline_p90"]
            )
        return {
            "shown": row["headline"],
            "shown_p10": row.get("headline_p10"),
            "shown_p90": row.get("headline_p90"),
            "shown_p_target": reach,
            "shown_method": row["headline_method"],
            "shown_is_ours": False,
            "shown_past_wape": row.get("headline_past_wape"),
            "shown_horizon_weeks": row.get("headline_horizon_weeks"),
            "model_shown_past_wape": ours_wape,
        }
    wape = row.get("headline_past_wape") if row.get("headline_method_key") == MODEL else None
    return {
        "shown": row.get("expected"),
        "shown_p10": row.get("p10"),
        "shown_p90": row.get("p90"),
        "shown_p_target": row.get("p_target"),
        "shown_method": LABELS[MODEL],
        "shown_is_ours": True,
        "shown_past_wape": ours_wape if wape is None else wape,
        "shown_horizon_weeks": row.get("headline_horizon_weeks")
        or row.get("model_past_horizon_weeks"),
        "model_shown_past_wape": ours_wape if wape is None else wape,
    }


#: The naive forecasts drawn beside ours (the weighted pipeline has its own line already).
NAIVE_LINES = ("run_rate", "last_period", "last_year")


def _naive(naive: dict[str, Any] | None, team: str | None) -> dict[str, Any]:
    """The naive forecasts of the period now (the team's, or the total) as flat row fields."""
    if not naive:
        return {}
    values = naive["groups"].get(team, {}) if team else naive["total"]
    return {f"naive_{m}": values.get(m) for m in NAIVE_LINES}


def _past(past: dict[str, Any] | None) -> dict[str, Any]:
    """How far what users saw (`past_`), ours (`model_past_`) and the method shown now on its
    own past forecasts (`method_past_`) were off at this horizon on the track record (of the
    total: the record holds no group's), as flat row fields; nothing without a record."""
    if not past:
        return {}
    out: dict[str, Any] = {}
    for prefix, acc in (
        ("past", past.get("shown")),
        ("model_past", past.get("model")),
        ("method_past", past.get("method")),
    ):
        if acc is None:
            continue
        cov = acc.get("coverage") or {}
        lo, hi = cov.get("wilson_95") or (None, None)
        out.update(
            {
                f"{prefix}_method": acc["label"],
                f"{prefix}_is_ours": acc["method"] == "model",
                f"{prefix}_horizon_weeks": acc["horizon_weeks_used"],
                f"{prefix}_n": acc["n"],
                f"{prefix}_median_ape": acc["median_ape"],
                f"{prefix}_wape": acc["wape"],
                f"{prefix}_bias": acc["bias"],
                f"{prefix}_coverage_hits": cov.get("hits"),
                f"{prefix}_coverage_n": cov.get("n"),
                f"{prefix}_coverage_lo": lo,
                f"{prefix}_coverage_hi": hi,
                f"{prefix}_windows_ended_by": acc["windows_ended_by"],
            }
        )
    return out


def _now(view: View, kpis: Section) -> pd.Timestamp:
    """The last instant the KPIs saw (their as_of) plus a moment: periods starting before it
    have an actual won figure."""
    if kpis.ok:
        return pd.Timestamp(kpis.data["as_of"]) + pd.Timedelta(microseconds=1)  # type: ignore[index]
    return view.as_of


def _funnel_section(view: View, kpis: Section) -> dict[str, Any]:
    row = _kpi_row(kpis, view.team, view.period.label)
    if row is None:  # no deal created or closed in the period: an empty row says so
        raise ForecastError(
            f"no deals created or closed in {view.period.label}"
            + (f" for team {view.team}" if view.team else "")
        )
    data: dict[str, Any] = kpis.data  # type: ignore[assignment]
    # What the KPIs say of how they read the data (amounts in several currencies, a funnel
    # read without lost deals' stages) stands beside the figures it qualifies.
    notes = list(data.get("notes", []))
    return {
        "period": view.period.label,
        "team": view.team,
        "as_of": data["as_of"],
        "row": row,
        "notes": notes,
    }


def _table_section(
    data: Dataset, view: View, forecast_of: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    teams = forecast_of(view.period, "team")
    reps = forecast_of(view.period, "rep")
    rep_rows = [dict(g, team=data.rep_team.get(g["group"])) for g in reps["groups"]]
    if view.team:
        rep_rows = [r for r in rep_rows if r["team"] == view.team]
    keys = (
        "group",
        "deals",
        "pipeline_value",
        "won_so_far",
        "expected",
        "p10",
        "p90",
        "weighted_pipeline",
        "target",
        "p_target",
    )
    return {
        "period": view.period.label,
        "as_of": teams["as_of"],
        "team": view.team,
        "teams": [{k: g.get(k) for k in keys} for g in teams["groups"]],
        "total": {k: teams["total"].get(k) for k in keys},
        "reps": [{**{k: r.get(k) for k in keys}, "team": r["team"]} for r in rep_rows],
    }
