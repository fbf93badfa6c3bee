"""Stored forecasts: what `forecast track` computed, served while nothing it depends on changed.

A forecast fits the timing model and measures drift on past windows: tens of seconds on a large
CRM. The tracked run keeps each period's whole forecast (as `GET /v1/forecast` returns it) per
grouping ("total", "team", "rep"), so the API, the dashboard and `forecast revenue` read it
instead of computing. A stored forecast is served only when the request is the one it answers
(same dataset, period, grouping, as-of date, new deals included) and its `fingerprint` still
holds: the dataset version (an import or CRM push makes a new one), the period's targets, the
backtest track record the headline reads, and the settings. Anything else is computed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from forecast.data import store
from forecast.errors import InvalidInput
from forecast.forecasting.targets import (
    LEVEL_COLUMNS,
    TOTAL_LEVEL,
    opportunity_dataset,
    read_targets,
)
from forecast.forecasting.targets import (
    period_of as parse_period,
)
from forecast.groups import canonical_group
from forecast.history import as_timestamp
from forecast.periods import Period, current_period, default_as_of, period_of
from forecast.settings import Settings, get_settings

#: The groupings a run stores; any other (product, region) is computed on request.
GROUPINGS = ("total", "team", "rep")


#: The grouping under which a run keeps its forecast waterfall (the week before its date).
WATERFALL = "waterfall"
#: Settings besides the `timing_*` ones that change a forecast's figures.
FORECAST_SETTINGS = ("seed", "new_deal_window_days", "forecast_horizon_days")
#: Periods the dashboard's chart forecasts after the one viewed, per frequency.
CHART_AHEAD = {"month": 2, "quarter": 1}


def served_by_default(
    now: pd.Timestamp, freq: str
) -> list[tuple[Period, str | None, pd.Timestamp]]:
    """The forecasts asked for by default on data whose "now" is `now`: `GET /v1/forecast`'s
    of the current and next period at each grouping (each as of its default date), and those
    of the dashboard's views of the current and of the next period (the default one and the
    next a manager opens): the view's period and those its chart shows after it by team, and
    its period by rep, all as of the view's date."""
    current = current_period(now, freq)
    ahead = CHART_AHEAD.get(freq, 1)
    periods = [current]
    while len(periods) < 2 + ahead:
        periods.append(period_of(periods[-1].end, freq))
    wanted = [(p, by, default_as_of(p, now)) for p in periods[:2] for by in (None, "team", "rep")]
    for first, viewed in enumerate(periods[:2]):
        view_as_of = default_as_of(viewed, now)
        wanted += [(p, "team", view_as_of) for p in periods[first : first + 1 + ahead]]
        wanted.append((viewed, "rep", view_as_of))
    unique = {(p.label, by, when): (p, by, when) for p, by, when in wanted}
    return list(unique.values())


def fingerprints(
    engine: Engine, dataset: str, periods: list[Period], settings: Settings | None
) -> dict[str, str]:
    """Each period's `fingerprint` now, by label: what a forecast about to be computed is made
    from (`save(made_from=...)`)."""
    with engine.connect() as conn:
        version = _version(conn, dataset)
        return {p.label: fingerprint(conn, dataset, version, p, settings) for p in periods}


def grouping_of(by: str | None) -> str:
    return by or "total"


def fingerprint(
    conn: Connection,
    dataset: str,
    version: str,
    period: Period,
    settings: Settings | None,
    grouping: str | None = None,
) -> str:
    """What a stored forecast depends on besides its request, as one hash. A forecast waterfall
    (`grouping` `WATERFALL`) reads neither targets nor the track record: setting a target does
    not set it aside."""
    if grouping == WATERFALL:
        return _hashed([version, _forecast_settings(settings or get_settings())])
    targets = sorted(
        (t.level, t.name, float(t.amount), t.currency)
        for t in read_targets(conn, dataset, period.label)
    )
    record = conn.execute(
        select(func.max(store.track_record.c.run_at)).where(
            store.track_record.c.dataset == dataset, store.track_record.c.freq == period.freq
        )
    ).scalar()
    parts = [
        version,
        repr(targets),
        str(record),
        _forecast_settings(settings or get_settings()),
    ]
    return _hashed(parts)


def _hashed(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def save(
    conn: Connection,
    dataset: str,
    period: Period,
    by: str | None,
    as_of: pd.Timestamp,
    document: dict[str, Any],
    *,
    data_end: pd.Timestamp,
    run_at: object,
    settings: Settings | None = None,
    grouping: str | None = None,
    made_from: str | None = None,
) -> None:
    """Keep one forecast document (of `by`'s grouping, or `grouping`: `WATERFALL`), replacing
    any of the same period, grouping and date.

    `made_from` is the period's `fingerprint` taken before the document was computed (default:
    now): a target or track record that changed while it was computed then sets it aside, as
    it does one saved before."""
    version = _version(conn, dataset)
    table = store.forecast_documents
    grouping = grouping or grouping_of(by)
    same = (
        (table.c.period == period.label)
        & (table.c.grouping == grouping)
        & (table.c.as_of == as_of.to_pydatetime())
    )
    # Documents of an older version of the data are never served again.
    conn.execute(
        table.delete().where(table.c.dataset == dataset, same | (table.c.data_version != version))
    )
    conn.execute(
        table.insert().values(
            dataset=dataset,
            period=period.label,
            grouping=grouping,
            as_of=as_of.to_pydatetime(),
            run_at=run_at,
            data_version=version,
            data_end=data_end.to_pydatetime(),
            fingerprint=made_from
            or fingerprint(conn, dataset, version, period, settings, grouping),
            document=document,
        )
    )


def lookup(
    engine: Engine,
    dataset: str,
    period: Period,
    *,
    by: str | None = None,
    group: str | None = None,
    as_of: object = None,
    include_new_deals: bool = True,
    settings: Settings | None = None,
    today: object = None,
) -> dict[str, Any] | None:
    """The stored forecast that answers this request exactly, or None (compute it)."""
    if not include_new_deals or grouping_of(by) not in GROUPINGS:
        return None
    with engine.connect() as conn:
        rows = _current(conn, dataset, period, grouping_of(by), settings)
        if not rows:
            return None
        # The same as-of rule as a computed forecast: "now" is today, or the day after the data
        # ends (the version fixes where it ends).
        end = as_timestamp(rows[0]["data_end"])
        now = min(_today(today), end.normalize() + pd.Timedelta(days=1))
        t = as_timestamp(as_of) if as_of is not None else default_as_of(period, now)
        row = next((r for r in rows if as_timestamp(r["as_of"]) == t), None)
        if row is None:
            return None
    document = dict(row["document"])
    document["stored"] = {"as_of": str(t.date()), "run_at": str(row["run_at"])}
    return one_group(document, group) if group is not None else document


def find(
    engine: Engine,
    period: str,
    *,
    dataset: str | None = None,
    by: str | None = None,
    group: str | None = None,
    as_of: object = None,
    include_new_deals: bool = True,
    settings: Settings | None = None,
) -> dict[str, Any] | None:
    """The tracked forecast that answers this request (as `service.forecast_against_targets(
    ...).to_dict()` would, with when it was tracked), or None: compute it. Reads no deals and
    imports no model code, so `forecast revenue` answers in a moment."""
    per = parse_period(period)
    by = canonical_group(by)
    if (group is not None and by is None) or (by is not None and by not in LEVEL_COLUMNS):
        return None  # computing says what is wrong
    try:
        when = as_timestamp(as_of) if as_of is not None else None
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(f"as_of {as_of!r} is not a usable date (use YYYY-MM-DD)") from None
    with engine.connect() as conn:
        name = opportunity_dataset(conn, dataset)
    return lookup(
        engine,
        name,
        per,
        by=by,
        group=group,
        as_of=when,
        include_new_deals=include_new_deals,
        settings=settings,
    )


def waterfall(
    engine: Engine, dataset: str, period: Period, *, settings: Settings | None = None
) -> dict[str, Any] | None:
    """The newest tracked forecast waterfall of `period` (why the forecast moved over the week
    before the tracked date) while the data is unchanged, or None."""
    with engine.connect() as conn:
        rows = _current(conn, dataset, period, WATERFALL, settings)
    if not rows:
        return None
    row = max(rows, key=lambda r: as_timestamp(r["as_of"]))
    return {
        **row["document"],
        "stored": {"as_of": str(row["as_of"])[:10], "run_at": str(row["run_at"])},
    }


def _current(
    conn: Connection, dataset: str, period: Period, grouping: str, settings: Settings | None
) -> list[Any]:
    """The stored documents of a period and grouping made from the data as it is now, with
    the targets, track record and settings as they are now (none: compute)."""
    table = store.forecast_documents
    version = _version(conn, dataset)
    rows = (
        conn.execute(
            select(table).where(
                table.c.dataset == dataset,
                table.c.period == period.label,
                table.c.grouping == grouping,
                table.c.data_version == version,
            )
        )
        .mappings()
        .all()
    )
    if not rows:
        return []
    expected = fingerprint(conn, dataset, version, period, settings, grouping)
    return [r for r in rows if r["fingerprint"] == expected]


def one_group(document: dict[str, Any], group: str) -> dict[str, Any] | None:
    """A grouped forecast narrowed to one group, as a forecast asked for that group alone reads
    (its line is the total; the targets, headline and naive forecasts are the group's). None
    when the group has no line (compute it: the computed answer says why)."""
    line = next((g for g in document["groups"] if g["group"] == group), None)
    if line is None:
        return None
    out = {**document, "group": group, "groups": [line], "total": line}
    out["targets"] = [
        t for t in document["targets"] if t["level"] != TOTAL_LEVEL and t["name"] == group
    ]
    lead = document.get("headline")
    if lead is not None:
        mine = lead["groups"].get(group, {})
        out["headline"] = {**lead, **mine, "groups": {group: mine}}
    naive = document.get("naive")
    if naive is not None:
        own = naive["groups"].get(group, {})
        out["naive"] = {**naive, "total": own, "groups": {group: own}}
    return out


def _forecast_settings(settings: Settings) -> str:
    """The settings a forecast's figures depend on, not those of the process serving it (port,
    workers, state folder): the tracking child and the server must agree on these only."""
    values = settings.model_dump(mode="json")
    kept = {k: v for k, v in values.items() if k.startswith("timing_") or k in FORECAST_SETTINGS}
    return json.dumps(kept, sort_keys=True)


def _version(conn: Connection, dataset: str) -> str:
    return str(store.get_dataset(conn, dataset)["updated_at"])


def _today(today: object) -> pd.Timestamp:
    return as_timestamp(today if today is not None else pd.Timestamp.now(tz="UTC"))
