"""Forecast periods: a year, a quarter or a month, as a half-open interval [start, end).

Half-open so that consecutive periods tile time without overlap: a deal closed at midnight on
1 July belongs to Q3, never to both Q2 and Q3. Accepted forms: `2017`, `2017-Q3` (or `2017Q3`,
any case) and `2017-07`. Labels always have a four-digit year (`0001-Q1`, never `1-Q1`), so
they parse back to the same period and sort as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from forecast.errors import InvalidInput, UnknownPeriod

ACCEPTED = "'2017' (a year), '2017-Q3' (a quarter) or '2017-07' (a month)"
FREQS = ("month", "quarter", "year")

_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-?[qQ]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True)
class Period:
    """One forecast period: its label, first instant and the first instant after it."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp
    freq: str

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86_400

    def contains(self, when: pd.Series) -> pd.Series:
        """True where a date falls inside [start, end)."""
        return (when >= self.start) & (when < self.end)

    def to_dict(self) -> dict[str, str]:
        return {
            "label": self.label,
            "start": str(self.start.date()),
            "end": str(self.end.date()),
            "freq": self.freq,
        }


def parse_period(text: str) -> Period:
    """`2017` → the year, `2017-Q3` → July–September, `2017-07` → July; else `UnknownPeriod`."""
    raw = str(text).strip()
    year_text = raw[:4]
    if year_text.isdigit() and not 1 <= int(year_text) <= 9998:  # pandas' calendar, with room
        raise UnknownPeriod(f"unknown period {text!r}: the year is out of range; use {ACCEPTED}")
    if m := _YEAR.match(raw):
        year = int(m.group(1))
        return Period(f"{year:04d}", pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1), "year")
    if m := _QUARTER.match(raw):
        year, q = int(m.group(1)), int(m.group(2))
        start = pd.Timestamp(year, 3 * q - 2, 1)
        return Period(f"{year:04d}-Q{q}", start, start + pd.DateOffset(months=3), "quarter")
    if m := _MONTH.match(raw):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            start = pd.Timestamp(year, month, 1)
            return Period(
                f"{year:04d}-{month:02d}", start, start + pd.DateOffset(months=1), "month"
            )
    raise UnknownPeriod(f"unknown period {text!r}: use {ACCEPTED}")


def period_of(when: object, freq: str) -> Period:
    """The month, quarter or year that contains a date."""
    t = pd.Timestamp(when)
    if freq == "month":
        return parse_period(f"{t.year:04d}-{t.month:02d}")
    if freq == "quarter":
        return parse_period(f"{t.year:04d}-Q{(t.month - 1) // 3 + 1}")
    if freq == "year":
        return parse_period(f"{t.year:04d}")
    raise InvalidInput(f"unknown period frequency {freq!r}; expected one of {list(FREQS)}")


def current_period(now: object, freq: str) -> Period:
    """The period shown and tracked by default on data whose "now" is `now` (`DealHistory.now`:
    today, or the instant after the data's last day where the data ends before today): the one
    holding `now`. Data ending on a quarter's last day has nothing left to forecast in that
    quarter, so a manager opens on the quarter ahead. The dashboard's default view and period
    list, `forecast track`'s current period and its waterfall, and the forecasts it stores for
    the API and the page all read this one definition."""
    return period_of(now, freq)


def periods_between(first: object, last: object, freq: str) -> list[Period]:
    """Every period of `freq` from the one containing `first` to the one containing `last`."""
    current, stop = period_of(first, freq), period_of(last, freq)
    if current.start > stop.start:
        raise InvalidInput(f"the range is empty: {first} is after {last}")
    out = [current]
    while out[-1].start < stop.start:
        out.append(period_of(out[-1].end, freq))
    return out


def default_as_of(period: Period, now: object = None) -> pd.Timestamp:
    """The period start when the period is over (its forecast as made then, to set beside what
    was won), else the day of `now` (default: today): the current and future periods as known
    now."""
    when = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    today = (when.tz_convert(None) if when.tzinfo is not None else when).normalize()
    return period.start if period.end <= today else today
