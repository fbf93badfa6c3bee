"""Forecast history: the forecast as it stood each day, kept, so a quarter can be read the way
revenue teams read it (the forecast over time with its band, won to date, the target).

`track` forecasts the period holding the as-of date and the next one, in total and per team and
rep, with models fitted on what was known before that date (the backtest's as-of rule), and
stores every line; tracking the same date again replaces that date's lines, so a re-run or a
back-fill never doubles a day. `backfill` tracks every day (or week) from a date, as the
forecasts would have been made then. `forecast track` runs it for cron, and the server runs it
on a schedule (`FORECAST_TRACK_EVERY_HOURS`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from forecast import budget
from forecast.data import store
from forecast.errors import ForecastError, InvalidInput, UnknownGroup
from forecast.forecasting import stored_forecasts
from forecast.forecasting.forecast_waterfall import forecast_waterfall
from forecast.forecasting.rep_calls import CALLS, open_calls
from forecast.forecasting.revenue import TOTAL, GroupForecast, RevenueForecast
from forecast.forecasting.service import TargetedForecast, forecast_against_targets
from forecast.forecasting.targets import known_groups, targets_for
from forecast.formatting import rounded
from forecast.groups import suggest
from forecast.history import DealHistory, as_timestamp
from forecast.periods import Period, current_period, parse_period, period_of
from forecast.settings import Settings, get_settings

#: The levels a run keeps: the total (the forecast's `TOTAL` line), one line per team and per rep.
LEVELS = (TOTAL, "team", "rep")
#: The most dates one back-fill tracks: each fits the models once.
MAX_BACKFILL_DATES = 400
_LINE_FIELDS = ("expected", "p10", "p50", "p90", "won_so_far", "pipeline_value")
#: What each point of a period's history carries.
POINT_FIELDS = (*_LINE_FIELDS, "weighted_pipeline", *CALLS)


def track(
    engine: Engine,
    history: DealHistory,
    dataset: str,
    as_of: object = None,
    *,
    freq: str = "quarter",
    settings: Settings | None = None,
) -> int:
    """Forecast the current and next period as of the day of `as_of` (default: the data's now)
    at every level and store the lines, replacing any of the same date. Returns the lines stored.

    Tracking the data's now also stores the whole forecasts the API, the dashboard and
    `forecast revenue` ask for by default (`stored_forecasts.served_by_default`), which they
    serve until the data changes."""
    settings = settings or get_settings()
    now = history.now().normalize()
    t = (date_of(as_of, "as_of") if as_of is not None else now).normalize()
    current = current_period(t, freq)
    periods = [current, period_of(current.end, freq)]
    # What the API and the dashboard serve by default, kept whole (tracking the data's now).
    served = stored_forecasts.served_by_default(now, freq) if t == now else []
    # Taken before anything is computed: a target set (or a backtest saved) while this runs
    # must set the documents aside, not be taken as already in them.
    made_from = stored_forecasts.fingerprints(
        engine, dataset, [*periods, *(p for p, _, _ in served)], settings
    )
    fitted_models = _Once()
    results: dict[tuple[str, str | None, pd.Timestamp], TargetedForecast] = {}

    def forecast(period: Period, by: str | None, when: pd.Timestamp) -> TargetedForecast:
        key = (period.label, by, when)
        if key not in results:
            budget.check()
            results[key] = forecast_against_targets(
                engine,
                period.label,
                dataset=dataset,
                by=by,
                as_of=when,
                settings=settings,
                history=history,
                models_cache=fitted_models,
            )
        return results[key]

    rows: list[dict[str, Any]] = []
    run_at = store.utcnow()
    for period in periods:
        for level in LEVELS:
            by = None if level == TOTAL else level
            fc = forecast(period, by, t).forecast
            calls = open_calls(history, t, period, by)
            lines = [fc.total] if level == TOTAL else fc.groups
            rows.extend(_row(dataset, t, run_at, period, level, ln, fc, calls) for ln in lines)
    documents = [
        (p, by, when, json_safe(forecast(p, by, when).to_dict())) for p, by, when in served
    ]
    moved = _week_waterfall(history, current, t, settings) if t == now else None
    table = store.forecast_runs
    with store.transaction(engine) as conn:
        conn.execute(
            table.delete().where(
                table.c.dataset == dataset,
                table.c.as_of == t.to_pydatetime(),
                table.c.period.in_([p.label for p in periods]),
            )
        )
        conn.execute(table.insert(), rows)
        for period, by, when, document in documents:
            stored_forecasts.save(
                conn,
                dataset,
                period,
                by,
                when,
                document,
                data_end=history.end,
                run_at=run_at,
                settings=settings,
                made_from=made_from[period.label],
            )
        if moved is not None:
            period, document = moved
            stored_forecasts.save(
                conn,
                dataset,
                period,
                None,
                t,
                document,
                data_end=history.end,
                run_at=run_at,
                settings=settings,
                grouping=stored_forecasts.WATERFALL,
            )
    return len(rows)


def _week_waterfall(
    history: DealHistory, period: Period, t: pd.Timestamp, settings: Settings
) -> tuple[Period, dict[str, Any]] | None:
    """Why the forecast of `period`, the current one the dashboard opens on, moved over the
    week before `t` (None where there is no forecast a week back to compare with)."""
    try:
        moved = forecast_waterfall(history, period, t - pd.Timedelta(days=7), t, settings=settings)
    except ForecastError:
        return None
    return period, json_safe(moved.to_dict())


class _Once:
    """The models of a tracked date, fitted once for all its forecasts."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        if key not in self._kept:
            self._kept[key] = build()
        return self._kept[key]


def json_safe(document: dict[str, Any]) -> dict[str, Any]:
    """The document as JSON will store it (dates as text), so a stored forecast reads back
    exactly as it was saved."""
    return json.loads(json.dumps(document, default=str))


def backfill(
    engine: Engine,
    history: DealHistory,
    dataset: str,
    since: object,
    *,
    until: object = None,
    every: str = "week",
    freq: str = "quarter",
    settings: Settings | None = None,
) -> Iterator[tuple[pd.Timestamp, int]]:
    """Track every day or week (Mondays) from `since` to `until` (default: the data's now),
    as the forecasts would have been made then; yields each date and its lines."""
    dates = backfill_dates(history, since, until, every)
    for t in dates:
        yield t, track(engine, history, dataset, t, freq=freq, settings=settings)


def backfill_dates(
    history: DealHistory, since: object, until: object = None, every: str = "week"
) -> list[pd.Timestamp]:
    """The dates a back-fill tracks, checked before anything is fitted."""
    if every not in ("day", "week"):
        raise InvalidInput(f"every: must be day or week, got {every!r}")
    start = date_of(since, "since").normalize()
    end = date_of(until, "until") if until is not None else history.now()
    if start > end:
        raise InvalidInput(f"since: {start.date()} is after the last date {end.date()}")
    dates = list(pd.date_range(start, end, freq="D" if every == "day" else "W-MON"))
    if len(dates) > MAX_BACKFILL_DATES:
        raise InvalidInput(
            f"since: {len(dates)} dates to back-fill, more than {MAX_BACKFILL_DATES}; "
            "pick a later date or --every week"
        )
    return dates


def date_of(value: object, name: str) -> pd.Timestamp:
    """A date a caller gave, or an error naming the field."""
    try:
        return as_timestamp(value)
    except (ValueError, TypeError):
        raise InvalidInput(f"{name}: {value!r} is not a date (use 2024-07-01)") from None


def history_of(
    engine: Engine, dataset: str, period: str, *, level: str = TOTAL, group: str | None = None
) -> pd.DataFrame:
    """The tracked forecasts of one period (one line per as-of date, oldest first) at a level
    (and group: the total's when None)."""
    if level not in LEVELS:
        raise InvalidInput(f"level: must be one of {', '.join(LEVELS)}, got {level!r}")
    label = parse_period(period).label
    table = store.forecast_runs
    query = select(table).where(
        table.c.dataset == dataset, table.c.period == label, table.c.level == level
    )
    if level != TOTAL:
        if group is None:
            raise InvalidInput(f"group: needed with level {level!r}")
        query = query.where(table.c.group_name == group)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query.order_by(table.c.as_of)).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=[c.name for c in table.columns])
    return frame


def period_history(
    engine: Engine, dataset: str, period: str, *, level: str = TOTAL, group: str | None = None
) -> dict[str, Any]:
    """A period's forecast over time as the API and the chart show it: one point per tracked
    date (its band, won to date, method) and the period's stored target for that line (the
    total's, or the group's), read as the forecast reads it."""
    label = parse_period(period).label
    rows = history_of(engine, dataset, label, level=level, group=group)
    by = None if level == TOTAL else level
    if rows.empty and by is not None:  # no line: a group no deal names is unknown (404)
        _check_group(engine, dataset, by, str(group))
    with engine.connect() as conn:
        target = targets_for(conn, dataset, label, by).get(TOTAL if by is None else str(group))
    points = [
        {
            "as_of": str(pd.Timestamp(r["as_of"]).date()),
            **{k: rounded(r[k], 2) for k in POINT_FIELDS},
            "method": r["method"],
        }
        for r in rows.to_dict("records")
    ]
    return {"period": label, "level": level, "group": group, "target": target, "points": points}


def _check_group(engine: Engine, dataset: str, by: str, group: str) -> None:
    """`UnknownGroup` where no deal of the dataset names `group` under `by`, as every route
    answers a team or rep it does not know (a known one merely not tracked yet has no points)."""
    with engine.connect() as conn:
        names = known_groups(conn, dataset, {by})[by]
    if group not in names:
        raise UnknownGroup(
            f"no deals for {by} {group!r} in dataset {dataset!r}{suggest(group, names, by)}"
        )


def latest_as_of(engine: Engine, dataset: str) -> pd.Timestamp | None:
    """The newest date tracked for a dataset (None: never tracked)."""
    table = store.forecast_runs
    query = select(table.c.as_of).where(table.c.dataset == dataset)
    with engine.connect() as conn:
        found = conn.execute(query.order_by(table.c.as_of.desc()).limit(1)).scalar()
    return None if found is None else pd.Timestamp(found)


def _row(
    dataset: str,
    t: pd.Timestamp,
    run_at: object,
    period: Period,
    level: str,
    line: GroupForecast,
    fc: RevenueForecast,
    calls: dict[str, dict[str, float | None]] | None,
) -> dict[str, Any]:
    # The reps' call on the period: won to date plus their call on the open deals (None where
    # the data held no call known at t).
    open_call = (calls or {}).get(line.group, {})
    reps = {
        k: None
        if calls is None or calls[TOTAL][k] is None
        else float(line.won_so_far) + (open_call.get(k) or 0.0)
        for k in CALLS
    }
    return {
        "dataset": dataset,
        "as_of": t.to_pydatetime(),
        "run_at": run_at,
        "period": period.label,
        "period_start": period.start.to_pydatetime(),
        "period_end": period.end.to_pydatetime(),
        "level": level,
        "group_name": line.group,
        **{k: float(getattr(line, k)) for k in _LINE_FIELDS},
        "weighted_pipeline": line.weighted_pipeline,
        "method": fc.method[:80],
        "models": f"fitted as of {t.date()}",
        **reps,
    }
