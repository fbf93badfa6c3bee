"""How old a deal the deal model saw in training, and a score's note for a deal beyond that.

A model says nothing reliable about a deal far older, or far longer in its stage, than any open
deal it learnt from: a tree model scores it as its oldest, a linear one extends its trend. So
the fit keeps, on the model, the largest value each time input had in the training rows
(`largest_seen_`, by `largest_seen`), and a score of a deal beyond it says so in its notes
(`beyond_seen`). A model trained before this was kept has none and gives no such note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: The time inputs whose training range is kept, and how a note says a deal is beyond it.
TIME_INPUTS: dict[str, str] = {
    "age_days": "age {value} is beyond the oldest open deal the model learnt from ({top})",
    "days_in_stage": "{value} in its stage is beyond the longest stay in a stage the model "
    "learnt from ({top})",
}


def largest_seen(X: pd.DataFrame) -> dict[str, float]:
    """The largest value of each time input among the training rows `X` (the inputs the model
    reads, with a value in some row): what a score compares a deal's with."""
    out = {}
    for name in TIME_INPUTS:
        if name in X:
            values = pd.to_numeric(X[name], errors="coerce")
            if values.notna().any():
                out[name] = float(values.max())
    return out


def beyond_seen(model: Any, columns: Sequence[str], matrix: np.ndarray) -> list[tuple[int, str]]:
    """(row, note) for each row of `matrix` (the model's inputs, in `columns`' order) whose time
    input is beyond the largest `model` saw in training; none where the model kept no range.
    A few rows are compared as Python floats, more a column at a time: only the rows beyond
    are looked at again."""
    checks = _checks(model, columns)
    if not checks or not len(matrix):
        return []
    if len(matrix) <= FEW:  # the API's one row: numpy's calls would cost more than the work
        return [
            (i, _note(name, x, top))
            for i, row in enumerate(matrix.tolist())
            for j, name, top in checks
            if (x := row[j]) > top
        ]
    return [
        (i, _note(name, float(matrix[i, j]), top))
        for j, name, top in checks
        for i in np.flatnonzero(matrix[:, j] > top).tolist()
    ]


#: Up to this many rows, compared one by one.
FEW = 8
#: Each model's checks as last made: `id(model)` → (model, columns, [(column index, input,
#: largest seen)]). Kept for few models (the served ones and their teams'); past that, afresh.
_CHECKS: dict[int, tuple[Any, Sequence[str], list[tuple[int, str, float]]]] = {}
_CHECKS_KEPT = 64


def _checks(model: Any, columns: Sequence[str]) -> list[tuple[int, str, float]]:
    """(column index, input, largest seen) per time input `model` kept a range of, made once per
    model served, not per request."""
    kept = _CHECKS.get(id(model))
    if kept is not None and kept[0] is model and kept[1] is columns:
        return kept[2]
    largest: dict[str, float] = getattr(model, "largest_seen_", None) or {}
    checks = [(columns.index(n), n, top) for n, top in largest.items() if n in columns]
    if len(_CHECKS) >= _CHECKS_KEPT:
        _CHECKS.clear()
    _CHECKS[id(model)] = (model, columns, checks)
    return checks


def _note(name: str, value: float, top: float) -> str:
    beyond = TIME_INPUTS[name].format(value=f"{value:,.0f} days", top=f"{top:,.0f} days")
    return f"{beyond}: the model has no evidence on such a deal, take its probability with care"
