"""The forecast of a stored dataset against its stored targets: what `GET /v1/forecast` and the
dashboard serve.

Fitting the forecast models as of a date takes seconds; a caller that serves many requests
passes a cache (`BuildCache`: `get(key, build)`), and the models fitted as of a date are kept
under a key that says what they learnt from: the dataset, the as-of date and what was known
before it. A CRM pushing today's changes does not alter what was known before today, so the
models fitted as of today stay valid while the pipeline itself is always read fresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Engine

from forecast import budget
from forecast.data.currencies import currency_of
from forecast.date_reach import check_reach
from forecast.errors import InvalidInput, UnknownGroup
from forecast.forecasting import fitted, revenue, track_record
from forecast.forecasting.targets import (
    LEVEL_COLUMNS,
    TOTAL,
    TOTAL_LEVEL,
    Target,
    opportunity_dataset,
    period_of,
    read_targets,
)
from forecast.groups import canonical_group, suggest
from forecast.history import DealHistory, as_timestamp, load_deal_history
from forecast.settings import Settings, get_settings


class BuildCache(Protocol):
    """A cache that returns the value kept for a key, or builds (and keeps) it."""

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any: ...


@dataclass
class TargetedForecast:
    """A revenue forecast of a stored dataset with the targets of its period."""

    dataset: str
    forecast: revenue.RevenueForecast
    group: str | None = None
    targets: list[Target] = field(default_factory=list)
    #: The forecast users get: the method most accurate on the dataset's track record at this
    #: horizon, its forecast and empirical range (`track_record.headline`); None: ours leads.
    headline: dict[str, Any] | None = None
    #: How far the forecast users see, and ours, were off at this horizon before (None: no
    #: track record); the headline carries the same under "past".
    past_accuracy: dict[str, Any] | None = None
    #: The naive forecasts of the period now and the weighted pipeline, in total and per group.
    naive: dict[str, Any] | None = None
    #: The currency of the amounts (None: the deals are in several, added unconverted).
    currency: str | None = None
    #: What the period won as the data knows it, where it knows more than the forecast did
    #: (`revenue.won_in_period`); None where it does not.
    actual: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "group": self.group,
            "currency": self.currency,
            **self.forecast.to_dict(),
            "targets": [t.to_dict() for t in self.targets],
            "headline": self.headline,
            "past_accuracy": self.past_accuracy,
            "naive": self.naive,
            "actual": self.actual,
        }


def forecast_against_targets(
    engine: Engine,
    period: str,
    *,
    dataset: str | None = None,
    by: str | None = None,
    group: str | None = None,
    as_of: object = None,
    include_new_deals: bool = True,
    settings: Settings | None = None,
    history: DealHistory | None = None,
    models_cache: BuildCache | None = None,
    targets: Mapping[str, float] | None = None,
) -> TargetedForecast:
    """The revenue forecast for `period` of a stored dataset, per `by` group (or one `group`),
    with the chance to reach each stored target of that period.

    `history` is the dataset as loaded (read from the store when not given); `models_cache`
    keeps fitted models for the next call on the same, unchanged data. `group` keeps one line:
    the group's own forecast (groups are independent, so it equals that group's line of the
    full forecast). A group with no deals is `UnknownGroup` (404).

    `targets` (group → amount, `total` for the whole) are shown in place of the stored ones: a
    what-if from the command line, or a file's data, which the store holds no targets for (its
    `history` need not be stored then). The API, the dashboard and `forecast revenue` all call
    this, so they show the same targets.

    Under a `forecast.budget.Budget` the work stops at its checkpoints (`Busy` when the time is
    spent, `Cancelled` when the caller went away); models whose fit stopped are not cached.
    """
    per = period_of(period)
    by = canonical_group(by)
    if group is not None and by is None:
        raise InvalidInput(
            f"group {group!r} needs `by` (team, rep, product or region) to say what it names"
        )
    if by is not None and by not in LEVEL_COLUMNS:
        raise InvalidInput(
            f"cannot group by {by!r}: use one of {', '.join(LEVEL_COLUMNS)} "
            "(or leave it out for the total)"
        )
    stored: list[Target] = []
    if history is None or targets is None:
        with engine.connect() as conn:
            name = opportunity_dataset(conn, dataset if history is None else history.name)
            if targets is None:
                stored = read_targets(conn, name, per.label)
    else:
        name = history.name or ""
    if history is None:
        history = load_deal_history(engine, name)
    budget.check()
    # Default: the period start when the period is over, else "now" for this data (today, or
    # the day after an export ends).
    t = _as_of(as_of) if as_of is not None else revenue.default_as_of(per, history.now())
    # Before any fit: a date past the horizon is refused at once, not after seconds of work.
    check_reach(history, {"as_of": t, f"period {per.label}": per.start}, settings)
    t, unseen = _seen_by(history, t)
    if t >= per.end:
        raise InvalidInput(
            f"as_of ({t.date()}) is not before the end of {per.label} ({per.end.date()}): "
            "nothing in it is left to forecast; leave as_of out to see its forecast as made at "
            "its start beside what it won, or give a date before its end"
        )
    column = LEVEL_COLUMNS.get(by or "")
    opps = history.deals
    known = set()
    if column is not None and by is not None:  # `column` is set exactly when `by` is
        before = opps[opps["created_at"].notna() & (opps["created_at"] < t)]
        known = set(before[column].dropna().astype(str))
        if group is not None and group not in known:
            anywhere = group in set(opps[column].dropna().astype(str))
            when = f"created before {t.date()}" if anywhere else "at all"
            raise UnknownGroup(
                f"no deals for {by} {group!r} in dataset {name!r} {when}"
                f"{suggest(group, known, by) if not anywhere else ''}"
            )
    levels = {TOTAL_LEVEL, by} if by else {TOTAL_LEVEL}
    used = [
        tg for tg in stored if tg.level in levels and (tg.level == TOTAL_LEVEL or tg.name in known)
    ]
    skipped = [tg for tg in stored if tg.level == by and tg.name not in known]
    goals = (
        {TOTAL if tg.level == TOTAL_LEVEL else tg.name: tg.amount for tg in used}
        if targets is None
        else dict(targets)
    )

    def fit() -> fitted.ForecastModels:
        return fitted.fit_forecast_models(history, t, settings=settings)

    key = (str(engine.url), name, *models_key(history, t, settings))
    models = models_cache.get(key, fit) if models_cache is not None else fit()
    budget.check()
    fc = revenue.forecast_revenue(
        history,
        per,
        by=by,
        as_of=t,
        targets=goals or None,
        models=models,
        include_new_deals=include_new_deals,
        settings=settings,
    )
    if unseen:
        fc.notes.append(unseen)
    for tg in skipped:
        fc.notes.append(
            f"target for {by} {tg.name!r} left out: no deals for it created before {t.date()}"
        )
    currency = currency_of(opps, fc.notes)
    if targets is not None:  # as the forecast read them (its checks named any it refused)
        used = _given(fc, per.label, by, currency)
    window_days = (settings or get_settings()).new_deal_window_days
    read = track_record.headline(
        engine,
        history,
        fc,
        dataset=name,
        window_days=window_days,
        changed=fitted.recent_change(models.timing, settings),
    )
    fc.notes.append(f"headline: {read.note}")
    lead, naive = read.lead, read.naive
    actual = revenue.won_in_period(history, per, by, t)
    if group is not None:
        line = next((g for g in fc.groups if g.group == group), None)
        if line is None:  # pragma: no cover - a known group always has a line
            raise UnknownGroup(f"no deals for {by} {group!r} in dataset {name!r}")
        fc = replace(fc, groups=[line], total=line)
        used = [tg for tg in used if tg.level == by and tg.name == group]
        if lead is not None:
            mine = lead["groups"].get(group, {})
            lead = {**lead, **mine, "groups": {group: mine}}
        own = naive["groups"].get(group, {})
        naive = {**naive, "total": own, "groups": {group: own}}
        if actual is not None:  # the group's own, as its line is the total
            won = actual["groups"].get(group, 0.0)
            actual = {**actual, "total": won, "groups": {group: won}}
    return TargetedForecast(name, fc, group, used, lead, read.past, naive, currency, actual)


def _given(
    fc: revenue.RevenueForecast, period: str, by: str | None, currency: str | None
) -> list[Target]:
    """The targets a caller gave, listed as stored ones are: one per line that has one."""
    lines = [(TOTAL_LEVEL, fc.total)] + [(by or "", g) for g in fc.groups if by is not None]
    return [
        Target(level, TOTAL if level == TOTAL_LEVEL else g.group, period, g.target, currency or "")
        for level, g in lines
        if g.target is not None
    ]


def models_key(history: DealHistory, t: pd.Timestamp, settings: Settings | None) -> tuple:
    """What the models fitted as of t learn from, in counts: deals created, stage entries,
    field observations and outcomes before t; the stage set, options, left-out fields and
    settings. Equal keys, equal models."""
    opps, log = history.final_deals, history.stage_log  # closes as the models read them
    closed = opps["closed_at"] < t
    return (
        t,
        int((opps["created_at"] < t).sum()),
        int((log["entered_at"] < t).sum()),
        int((history.field_log["observed_at"] < t).sum()),
        int(closed.sum()),
        int((closed & (opps["status"] == "won")).sum()),
        history.stages.all_stages,
        history.options,
        tuple(sorted(history.left_out)),
        settings.model_dump_json() if settings is not None else None,
    )


def _seen_by(history: DealHistory, t: pd.Timestamp) -> tuple[pd.Timestamp, str | None]:
    """The as-of date the data can answer for, and why it is not `t` where it is not. Past the
    data's "now" (the day after its newest record, or today) nothing is recorded: forecast as
    of a later date, the weeks between would read as weeks in which nothing was won or lost,
    and the forecast would fall with each of them. It is made as of the data's end instead."""
    seen = history.now()
    if t <= seen:
        return t, None
    return seen, (
        f"as of {seen.date()}, not {t.date()}: the data ends on {history.end.date()} and what "
        "happened since is not in it (import a newer export, or push the CRM's changes, to "
        "forecast as of a later date)"
    )


def _as_of(value: object) -> pd.Timestamp:
    try:
        return as_timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(f"as_of {value!r} is not a usable date (use YYYY-MM-DD)") from None
