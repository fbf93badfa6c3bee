"""Why a row scored as it did: the top factors for and against, in the user's own words.

From per-feature contributions of the LightGBM model (log-odds units, summing with the bias to
the raw score): by default the fast path decomposition of `forecast.contributions`, or exact
TreeSHAP (`pred_contrib=True`) with `method="shap"`. Each factor is mapped back to the user's
original field name and value and said in plain words, e.g. "Lead Source = Reference: raises the
score".

One function, `explain`, serves training reports (a DataFrame) and the API (one row as a
mapping). The one-row path builds no DataFrame: it encodes the mapping straight into a 1×d array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from forecast.contributions import contributions

#: Contributions smaller than this (log-odds) are not worth saying.
MIN_CONTRIBUTION = 1e-6


class Reason(NamedTuple):
    field: str
    value: object
    contribution: float
    sentence: str


def format_value(feature: str, value: object) -> str:
    """A value as a person reads it: rates as percents, whole numbers without decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "blank"
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        number = float(value)
        if feature.endswith("_win_rate"):
            return f"{number:.0%}"
        if number.is_integer():
            return f"{int(number):,}"
        return f"{number:,.1f}" if abs(number) >= 10 else f"{number:.2f}"
    return str(value)


def factor(feature: str, label: str, value: object, contribution: float) -> Reason:
    shown = format_value(feature, value)
    effect = "raises the score" if contribution > 0 else "lowers the score"
    text = f"{label} is blank: {effect}" if shown == "blank" else f"{label} = {shown}: {effect}"
    return Reason(label, None if shown == "blank" else value, float(contribution), text)


def top_factors(
    contrib: np.ndarray, top: int, min_contribution: float
) -> tuple[list[int], list[int]]:
    """Indices of the `top` largest positive and negative contributions (largest first)."""
    order = np.argsort(contrib)
    against = [int(j) for j in order[:top] if contrib[j] < -min_contribution]
    up = [int(j) for j in order[::-1][:top] if contrib[j] > min_contribution]
    return up, against


def _labels(model: Any) -> dict[str, str]:
    return dict(getattr(model, "field_labels_", None) or {})


def explain_row(
    model: Any, row: Mapping[str, Any], top: int = 3,
    min_contribution: float = MIN_CONTRIBUTION, method: str = "path",
) -> dict[str, list[Reason]]:
    """Top factors for and against one row given as a mapping field → value (the fast path)."""
    labels = _labels(model)
    sub = model.model_for_row(row)
    x = sub.encode_row(row)
    contrib = contributions(sub, x, method)[0]
    up, down = top_factors(contrib, top, min_contribution)
    cols = sub.encoder_.columns

    def make(j: int) -> Reason:
        col = cols[j]
        value = sub.encoder_.decode(j, x[0, j])
        return factor(col, labels.get(col, col), value, contrib[j])

    return {"for": [make(j) for j in up], "against": [make(j) for j in down]}


def explain(
    model: Any, data: pd.DataFrame | Mapping[str, Any], top: int = 3,
    min_contribution: float = MIN_CONTRIBUTION, method: str = "path",
) -> list[dict[str, list[Reason]]]:
    """Per row, the `top` factors raising (`for`) and lowering (`against`) the score.

    `model` is a fitted `BoostedClassifier` or `PerTeamClassifier` (each row is explained by the
    model that scored it). `data` is a DataFrame of the model's input columns, or one row as a
    mapping. Each factor is a `Reason(field, value, contribution, sentence)`.
    """
    if isinstance(data, Mapping):
        return [explain_row(model, data, top, min_contribution, method)]
    labels = _labels(model)
    out: list[dict[str, list[Reason]] | None] = [None] * len(data)
    for mask, sub in model.parts(data):
        rows = np.flatnonzero(mask)
        matrix = sub.encode(data.iloc[rows])
        contrib = contributions(sub, matrix, method)
        cols = sub.encoder_.columns
        encoder = sub.encoder_
        for k, i in enumerate(rows):
            up, down = top_factors(contrib[k], top, min_contribution)
            made = {
                side: [
                    factor(cols[j], labels.get(cols[j], cols[j]),
                            encoder.decode(j, matrix[k, j]), contrib[k, j])
                    for j in picked
                ]
                for side, picked in (("for", up), ("against", down))
            }
            out[i] = made
    return out  # type: ignore[return-value]


def as_dicts(reasons: dict[str, list[Reason]]) -> dict[str, list[dict[str, object]]]:
    """Plain JSON-ready form of one row's reasons (no numpy types)."""
    def plain(r: Reason) -> dict[str, object]:
        value = r.value.item() if isinstance(r.value, np.generic) else r.value
        return {"field": r.field, "value": value, "contribution": round(r.contribution, 4),
                "sentence": r.sentence}

    return {side: [plain(r) for r in items] for side, items in reasons.items()}
