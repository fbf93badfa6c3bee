"""A lead's date as model inputs: the day of the week it came in, and the hour where the data
has times of day.

Both are known the moment a lead exists (no later value can leak in), and both repeat, so a
holdout by time sees the same values as training; the calendar date itself does not repeat and
is never an input. Times are read as UTC, the same in training and in scoring. A lead scored
without `created_at` is scored as created now: a CRM scores a lead as it comes in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

WEEKDAY, HOUR = "created_weekday", "created_hour"
DATE_INPUTS = (WEEKDAY, HOUR)
#: What reasons call them.
LABELS = {WEEKDAY: "Day of the week created", HOUR: "Hour created (UTC)"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def created_utc(values: pd.Series) -> pd.Series:
    """Dates as naive UTC timestamps (blank or unreadable → NaT)."""
    created = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return created.dt.tz_localize(None)


def date_inputs(created: pd.Series) -> pd.DataFrame:
    """The inputs for each lead: its weekday always, its hour only when the dated leads' times
    of day vary (a date-only column would read as midnight for every lead)."""
    out = pd.DataFrame(index=created.index)
    if created.notna().sum() == 0:
        return out
    out[WEEKDAY] = created.dt.dayofweek.map(dict(enumerate(DAYS))).astype("str")
    out.loc[created.isna(), WEEKDAY] = None
    if created.dropna().dt.hour.nunique() > 1:
        out[HOUR] = created.dt.hour.astype(float)
    return out


def used_by(columns: Sequence[str]) -> tuple[str, ...]:
    """The date inputs among a fitted model's input columns (none: the rows need nothing)."""
    return tuple(c for c in DATE_INPUTS if c in columns)


def with_date_inputs(
    rows: Sequence[Mapping[str, Any]], used: tuple[str, ...], now: datetime | None = None
) -> list[Mapping[str, Any]]:
    """Scoring rows with the date inputs a model uses, from each row's `created_at` (or now)."""
    if not used:
        return list(rows)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    out: list[Mapping[str, Any]] = []
    for row in rows:
        when = _when(row.get("created_at"), now)
        extra: dict[str, Any] = {}
        if WEEKDAY in used:
            extra[WEEKDAY] = DAYS[when.weekday()] if when is not None else None
        if HOUR in used:
            extra[HOUR] = float(when.hour) if when is not None else None
        out.append({**row, **extra})
    return out


def _when(value: Any, now: datetime) -> datetime | None:
    """A row's creation time in UTC: blank → now (scored as it comes in); unreadable → None."""
    if value is None or value == "":
        return now
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()
