"""How figures read to a person, in tables and on the dashboard: one place, one style."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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


def rounded(value: Any, digits: int) -> Any:
    """A JSON-ready value: floats rounded (NaN as None), numpy integers as int, others as given."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) else round(f, digits)
    return value
