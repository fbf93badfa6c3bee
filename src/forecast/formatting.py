"""How figures read to a person, in tables and on the dashboard: one place, one style."""

from __future__ import annotations

import math
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
