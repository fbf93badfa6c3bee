"""How figures read to a person, in tables and on the dashboard: one place, one style."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from forecast.errors import InvalidInput

DASH = "–"


def missing(value: Any) -> bool:
    """None or NaN (Python or numpy float)."""
    if value is None:
        return True
    if isinstance(value, float):  # numpy.float64 included
        return math.isnan(value)
    return hasattr(value, "dtype") and bool(value != value)  # other numpy floats


def in_notation(text: str, notation: tuple[str, str | None] | None) -> str:
    """A number Python wrote ("1,234.5": "," groups, "." marks decimals) as a dataset's export
    writes numbers (`notation`: its decimal and thousands marks, `reading.Notation`): "1.234,5"
    for a German export, "1 234,5" for a French one, "1234,5" where it names no grouping."""
    if notation is None:
        return text
    decimal, thousands = notation
    if decimal == "." and thousands in (None, ","):
        return text
    marks = {",": thousands or "", ".": decimal}
    return "".join(marks.get(ch, ch) for ch in text)


def money(value: Any) -> str:
    return DASH if missing(value) else f"{float(value):,.0f}"


def moment(value: Any, *, zone: bool = True) -> str:
    """A moment for people, to the minute and in UTC ("2026-12-07 05:34 UTC"), not the
    microseconds and offsets a stored time or ISO string carries. The store keeps naive UTC, so a
    naive time is read as UTC; an aware one is converted. Without `zone`, no " UTC" (a table's
    column head says it once). Blank for none; text that is not a time is shown as given."""
    if value is None or value == "" or value != value:  # NaN and NaT are not themselves
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):  # pd.Timestamp is a datetime
        return str(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M}" + (" UTC" if zone else "")


def as_of_said(when: Any, *, through: bool = False) -> str:
    """When figures were judged, worded alike by every command: "the start of 2025-12-06" for
    an instant at midnight (what was recorded before that day: a forecast's as-of, a date given
    with --as-of), "the end of 2025-12-05" for figures `through` a day, its records included (the
    KPIs' default, the data's last day), else the minute ("2025-12-05 14:30 UTC"). The start of
    a day and the end of the day before are the same figures."""
    t = datetime.fromisoformat(when) if isinstance(when, str) else when
    if through:
        return f"the end of {t:%Y-%m-%d}"
    if (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0):
        return f"the start of {t:%Y-%m-%d}"
    return moment(t)


def pct(value: Any) -> str:
    """A share (0.25) as a percent (25.0%)."""
    return DASH if missing(value) else f"{100 * float(value):.1f}%"


def rounded(value: Any, digits: int, name: str = "a figure") -> Any:
    """A JSON-ready value: floats rounded (NaN as None), numpy integers as int, others as given;
    an infinite float raises `InvalidInput` naming it (see `finite`)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) else round(finite(f, name), digits)
    return value


def finite(value: float, name: str) -> float:
    """`value`, unless a sum or product overflowed to infinity: then `InvalidInput` naming it.

    JSON has no infinity, and writing null would say "missing" where the truth is "too large".
    Sums of amounts below 1e15 each (the bound the API and the import hold a deal's amount to)
    cannot overflow a float (that would take over 1e293 deals), so only data beyond that bound
    gets here.
    """
    if math.isinf(value):
        raise InvalidInput(
            f"{name} is too large to report (it overflows past 1.8e308): the data holds amounts "
            "far beyond any deal's; a deal's amount must be below 1e15, so correct those "
            "amounts and import again"
        )
    return value
