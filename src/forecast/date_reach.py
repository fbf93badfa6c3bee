"""How far from its data a date a caller picks may lie: the bound every date the API reads holds.

A date reaches at most `forecast_horizon_days` past the data's end (or to the data's own "now",
where later): beyond it nothing known can say anything, a forecast's work must not grow with a
date a caller picks, and a date years after the data (a typo, 2999 for 2024) would be a silent
answer of the data's end's figures dated then. One check, `check_reach`, holds the bound for a
forecast's `as_of` and period, the at-risk list's `as_of`, the KPIs' and the waterfall's dates,
each by the name its caller sent it as (`as_of`, `period 2017-Q3`, `from`, `to`): an
`InvalidInput` (422) naming it, the date given and the data's own date.

The KPIs' and the waterfall's calculations themselves answer any date (a script may want the
empty pipeline before the data): the API and the dashboard check first. A forecast and the
at-risk list check their own dates, before any model is fitted.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from forecast.errors import InvalidInput
from forecast.history import DealHistory, as_timestamp
from forecast.settings import Settings, get_settings


def check_reach(
    history: DealHistory, dates: Mapping[str, object], settings: Settings | None = None
) -> None:
    """Refuse each date, by its name, lying more than `forecast_horizon_days` after the data
    ends (and after its "now"). A value that is not a date is left to the calculation, which
    says so."""
    try:
        end = history.end
    except InvalidInput:
        return  # the data holds no dates: nothing to measure a date against
    days = (settings or get_settings()).forecast_horizon_days
    # The data's own "now" is always within reach (its newest update may lie years after its
    # last creation or close: a dormant dataset re-exported): a default date is never refused.
    reach = max(end + pd.Timedelta(days=days), history.now())
    for name, value in dates.items():
        t = _instant(value)
        if t is not None and t > reach:
            beyond = (
                f"is more than {days} days after the data ends ({end.date()})"
                if reach == end + pd.Timedelta(days=days)
                else f"is after the data's last update ({reach.date()})"
            )
            raise InvalidInput(
                f"{name} ({t.date()}) {beyond}; pick a nearer date "
                "(FORECAST_FORECAST_HORIZON_DAYS sets the limit)"
            )


def check_after_first_deal(history: DealHistory, name: str, value: object) -> None:
    """Refuse a date not after the data's first deal was created: figures as of an instant see
    what was recorded strictly before it, so nothing at all."""
    t = _instant(value)
    first = history.final_deals["created_at"].min() if t is not None else pd.NaT
    if pd.notna(first) and t is not None and t <= first:
        # The same day: the time says why a date on the first deal's day is still too early.
        created = first.isoformat(sep=" ") if first.date() == t.date() else str(first.date())
        raise InvalidInput(
            f"{name} ({t.date()}) is before the data's first deal, created on {created}: no "
            "deal was known yet, so every figure would be blank; pick a later date"
        )


def check_kpi_as_of(history: DealHistory, as_of: object, settings: Settings | None = None) -> None:
    """The KPIs' `as_of` (None: the data's end, always fine): within reach of the data's end,
    after its first deal."""
    if as_of is None:
        return
    check_reach(history, {"as_of": as_of}, settings)
    check_after_first_deal(history, "as_of", as_of)


def _instant(value: object) -> pd.Timestamp | None:
    try:
        t = as_timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(t) else t
