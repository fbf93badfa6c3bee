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
