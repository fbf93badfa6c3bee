"""Naive forecasts: what a sales manager could forecast by hand, to tell whether a model adds
anything.

Each is a small pure function of what was won before the origin (`won_before`, read from
`history.known_before(origin)`), so nothing dated at or after the origin can reach it:

- `run_rate`: won revenue over the last `window_days` before the origin (the window that sets
  the model's new-deal pace), scaled to the target window's length;
- `last_period`: won revenue over the window of the same length ending at the origin;
- `same_period_last_year`: won revenue over the target window moved back one year, where the
  record of outcomes covers that window in full and it ended before the origin (else absent).

The weighted pipeline and the per-stage close-time baseline are forecasts too, but they come out
of the forecast itself (`forecast_pipeline`), on the same pipeline.

Every function returns won revenue per group (a Series indexed by group label; one label,
`TOTAL`, without grouping), or None where the history cannot give the figure.
"""

from __future__ import annotations

import math

import pandas as pd

from forecast.data.stages import LOST, WON
from forecast.forecasting.fitted import really_created
from forecast.forecasting.revenue import MISSING_GROUP, TOTAL
from forecast.history import DealHistory
from forecast.periods import Period

#: The naive forecasts "ours" must beat, with their labels (the weighted pipeline is one too).
NAIVE = {
    "run_rate": "run rate of recent won revenue",
    "last_period": "last period's won revenue",
    "last_year": "same period last year",
}
DAY = pd.Timedelta(days=1)


def won_before(known: DealHistory, column: str | None = None) -> pd.DataFrame:
    """The deals won before the origin, as known then (`known` = `history.known_before(origin)`):
    closed_at, amount, group. In `attrs`: `observed_from`, the first close (won or lost) known,
    where the record of outcomes starts (an export may hold deals created long before it);
    `first_created`, the first real creation date, and `win_days`, how long (the 90th
    percentile, in days) the deals won took from creation: together when the won revenue a
    window reads stops missing wins of deals created before the record began (`still_filling`)."""
    deals = known.deals
    won = deals[(deals["status"] == WON) & deals["closed_at"].notna()]
    if column and column in won:
        labels = won[column].astype(object)
        group = labels.where(labels.notna(), MISSING_GROUP).astype(str)
    else:
        group = pd.Series(TOTAL, index=won.index, dtype=object)
    out = pd.DataFrame(
        {
            "closed_at": won["closed_at"].to_numpy(),
            "amount": won["amount"].fillna(0.0).to_numpy(dtype=float),
            "group": group.to_numpy(dtype=object),
        }
    )
    closes = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].dropna()
    out.attrs["observed_from"] = closes.min() if len(closes) else pd.NaT
    dated = really_created(deals)
    out.attrs["first_created"] = deals.loc[dated, "created_at"].min() if dated.any() else pd.NaT
    took = (won["closed_at"] - won["created_at"])[dated.loc[won.index]] / DAY
    out.attrs["win_days"] = float(took.quantile(WIN_QUANTILE)) if len(took) else math.nan
    return out


#: How long "most" wins take from creation: the record's ramp lasts this long.
WIN_QUANTILE = 0.9


def still_filling(won: pd.DataFrame, origin: pd.Timestamp, window_days: float) -> str | None:
    """Why the run rate at `origin` reads a pipeline still filling up, or None where it does not.

    A record that begins on a date (a CRM adopted then, an export cut there) holds no deal
    created before it, so the wins of its first months miss those of older deals: until the
    run rate's window starts a usual time to win (`WIN_QUANTILE` of the wins known) after the
    first creation, the run rate runs low. Before a track record the run rate is what users get
    (`choice.NAIVE_FIRST`): not one that is low by construction."""
    first, days = won.attrs.get("first_created", pd.NaT), won.attrs.get("win_days", math.nan)
    if pd.isna(first) or math.isnan(days):
        return None
    span = _run_rate_days(won, origin, window_days)
    if span is None:
        return None
    start = origin - pd.Timedelta(days=span)
    filled = first + pd.Timedelta(days=days)
    if start >= filled:
        return None
    return (
        f"the run rate's window starts on {start.date()}, before {filled.date()}: the record "
        f"starts with deals created on {first.date()} and {WIN_QUANTILE:.0%} of wins took up "
        f"to {days:.0f} days, so until then wins of deals created before the record are "
        f"missing from it and it runs low (it is shown once its window does, as of "
        f"{(filled + pd.Timedelta(days=span)).date()} at the earliest)"
    )


def _won_between(won: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    inside = won[(won["closed_at"] >= start) & (won["closed_at"] < end)]
    return inside.groupby("group")["amount"].sum()


def _covers(won: pd.DataFrame, start: pd.Timestamp) -> bool:
    """True when the record of outcomes reaches back to `start`."""
    first = won.attrs.get("observed_from", pd.NaT)
    return bool(pd.notna(first) and first <= start)


def run_rate(
    won: pd.DataFrame, origin: pd.Timestamp, window: Period, window_days: float
) -> pd.Series | None:
    """Won revenue over the last `window_days` before the origin (fewer where the record of
    outcomes is shorter, at least a week), per day, times the target window's length in days."""
    days = _run_rate_days(won, origin, window_days)
    if days is None or days < 7:
        return None
    recent = _won_between(won, origin - pd.Timedelta(days=days), origin)
    return recent * (window.days / days)


def _run_rate_days(won: pd.DataFrame, origin: pd.Timestamp, window_days: float) -> float | None:
    """The days the run rate reads: its window, or fewer where the record of outcomes is
    shorter; None without any outcome on record."""
    first = won.attrs.get("observed_from", pd.NaT)
    if pd.isna(first):
        return None
    return min(float(window_days), (origin - first) / DAY)


def last_period(won: pd.DataFrame, origin: pd.Timestamp, window: Period) -> pd.Series | None:
    """Won revenue over the window of the target's length that ends at the origin (for a
    calendar quarter forecast at its start: the quarter before)."""
    start = origin - (window.end - window.start)
    if window.freq in LENGTHS:
        start = origin - LENGTHS[window.freq]
    if not _covers(won, start):
        return None
    return _won_between(won, start, origin)


def same_period_last_year(
    won: pd.DataFrame, origin: pd.Timestamp, window: Period
) -> pd.Series | None:
    """Won revenue over the target window a year earlier, where the record covers it in full
    and it ended before the origin."""
    year = pd.DateOffset(years=1)
    start, end = window.start - year, window.end - year
    if end > origin or not _covers(won, start):
        return None
    return _won_between(won, start, end)


def forecasts(
    won: pd.DataFrame, origin: pd.Timestamp, window: Period, window_days: float
) -> dict[str, pd.Series | None]:
    """Every naive forecast of `window` at `origin`, by name (`NAIVE`)."""
    return {
        "run_rate": run_rate(won, origin, window, window_days),
        "last_period": last_period(won, origin, window),
        "last_year": same_period_last_year(won, origin, window),
    }


#: A period's length as a calendar step (a window of a quarter from 15 May ends 15 August).
LENGTHS: dict[str, pd.DateOffset] = {
    "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3),
    "year": pd.DateOffset(years=1),
}
