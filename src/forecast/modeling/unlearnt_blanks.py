"""Blanks a model never learnt from: remembered at training, made neutral and said at scoring.

Where every training row had a value of an input, a model has nothing to say of a blank there:
LightGBM sends it down each split's default branch, which no training row took; a logistic
regression reads the blank's design column, all zeros in training. Either way a blank moves the
score by an amount no deal supports, and "Deal pipeline is blank: raises the score" reads as a
finding.

Neutral here is the input's expected contribution over the training rows (each deal weighing
one): the part an average training deal gets from it (a logistic regression's centred term
averages 0). `remember` keeps, per model, each input it reads (its terms are not all zero) that
no training row left blank, with that part (`neutral_blanks_`), so scoring needs no data.
`neutral` then gives a row whose value of such an input reached the model blank (not given, or
a value it could not read) that part instead of the blank's: its raw score moves by the
difference and is calibrated again, the input is no reason (its contribution said is 0), and a
note says so. The trees' other splits below one on that input still follow the blank's branch:
the part replaced is the input's own (its path contributions), not the interactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecast.modeling.contributions import bias, contributions
from forecast.modeling.estimators import per_group_weights
from forecast.modeling.reasons import is_blank

#: Training rows whose contributions are summed at once (a million rows: never all at once).
CHUNK_ROWS = 65_536


def remember(
    model: Any, X: pd.DataFrame, w: np.ndarray | None = None, groups: np.ndarray | None = None
) -> None:
    """Keep on each fitted part of `model` (a per-team model's global and team models, else
    itself) its inputs never blank in the training rows `X` and their neutral parts."""
    if hasattr(model, "global_"):  # per team: the global model learnt from every row
        _remember_one(model.global_, X, w, groups)
        column = model.team_column
        for team, part in model.team_models_.items():
            mask = (X[column].astype(object).astype(str) == team).to_numpy()
            _remember_one(
                part,
                X[mask],
                None if w is None else w[mask],
                None if groups is None else groups[mask],
            )
        return
    _remember_one(model, X, w, groups)


def _remember_one(
    model: Any, X: pd.DataFrame, w: np.ndarray | None, groups: np.ndarray | None
) -> None:
    encoder = model.encoder_
    weights = np.ones(len(X)) if w is None else np.asarray(w, float)
    if groups is not None:  # each deal weighs one, not each of its snapshots
        weights = per_group_weights(weights, groups)
    width = len(encoder.columns)
    blank_seen = np.zeros(width, dtype=bool)
    moves = np.zeros(width, dtype=bool)
    total = np.zeros(width)
    for start in range(0, len(X), CHUNK_ROWS):
        matrix = encoder.transform(X.iloc[start : start + CHUNK_ROWS])
        terms = contributions(model, matrix)
        blank_seen |= np.isnan(matrix).any(axis=0)
        moves |= (terms != 0).any(axis=0)
        total += weights[start : start + CHUNK_ROWS] @ terms
    mean = total / max(float(weights.sum()), 1e-12)
    model.neutral_blanks_ = {
        encoder.columns[j]: float(mean[j]) for j in range(width) if moves[j] and not blank_seen[j]
    }


def has_any(parts: Sequence[tuple[Any, np.ndarray]], matrix: np.ndarray) -> bool:
    """Whether a row of `matrix` reaches one of its model's never-blank inputs blank."""
    for model, index in parts:
        columns = _columns(model)
        if len(columns) and np.isnan(_cells(matrix, index, columns)).any():
            return True
    return False


def neutral(
    parts: Sequence[tuple[Any, np.ndarray]],
    rows: Sequence[Mapping[str, Any]],
    matrix: np.ndarray,
    probabilities: np.ndarray,
    terms: np.ndarray,
    labels: Mapping[str, str],
) -> dict[int, list[str]]:
    """Each row's blank in an input its model never saw blank made neutral (module docstring):
    `probabilities` calibrated again and `terms` (the per-input contributions, which give the
    reasons) zeroed there, in place; the notes said, by row."""
    notes: dict[int, list[str]] = {}
    for model, index in parts:
        neutral_parts = getattr(model, "neutral_blanks_", None) or {}
        columns = _columns(model)
        if not len(columns):
            continue
        blank = np.isnan(_cells(matrix, index, columns))
        hit = np.flatnonzero(blank.any(axis=1))
        if not len(hit):
            continue
        names = model.encoder_.columns
        at = index[hit]
        raw = terms[at, : len(names)].sum(axis=1) + bias(model)
        for k, j in enumerate(columns.tolist()):
            rows_j = at[blank[hit, k]]
            part = neutral_parts[names[j]]
            raw[blank[hit, k]] += part - terms[rows_j, j]
            terms[rows_j, j] = 0.0
            for i in rows_j.tolist():
                notes.setdefault(i, []).append(_said(names[j], rows[i], labels))
        probabilities[at] = model._calibrate(raw)
    return notes


def _columns(model: Any) -> np.ndarray:
    """The positions of the model's inputs never blank in training (none for a model trained
    before they were kept)."""
    kept = getattr(model, "neutral_blanks_", None) or {}
    at = [j for j, c in enumerate(model.encoder_.columns) if c in kept]
    return np.array(at, dtype=np.intp)


def _cells(matrix: np.ndarray, index: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The `columns` of the rows `index` (every row: the columns alone, no copy of the rest)."""
    return matrix[:, columns] if len(index) == len(matrix) else matrix[index][:, columns]


def _said(column: str, row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    label = labels.get(column, column)
    value = row.get(column)
    what = (
        f"{label} was not given; the model never learnt from a deal without it"
        if is_blank(value)
        else f"{label} = {value!r} is not a value the model can read for it"
    )
    return (
        f"{what}: its part of the score is left neutral (an average training deal's) and not "
        "said as a reason"
    )
