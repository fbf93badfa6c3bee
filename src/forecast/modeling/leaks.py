"""The training-time leak warning: a column that alone predicts the label almost perfectly.

Such a column is usually filled in after the outcome is known (a CRM field set at close), so a
model reading it looks better on the holdout than it can be on new rows. Both training runs warn
about it; the user declares it a leak column to leave it out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from forecast.modeling import metrics as m
from forecast.modeling.estimators import group_fractions


def _bin_codes(series: pd.Series, bins: int = 20) -> np.ndarray:
    """Integer codes: numbers in quantile bins, text by value; missing gets a code of its own."""
    if is_numeric_dtype(series):
        values = series.to_numpy(dtype=float)
        known = values[~np.isnan(values)]
        if len(known) > 200_000:
            known = np.random.default_rng(0).choice(known, 200_000, replace=False)
        edges = (
            np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(known)
            else np.array([])
        )
        codes = np.searchsorted(edges, values, side="right")
        codes[np.isnan(values)] = len(edges) + 1
        return codes
    codes = pd.factorize(series, use_na_sentinel=True)[0]
    codes[codes < 0] = codes.max() + 1
    return codes


def single_column_auc(
    X: pd.DataFrame, y: np.ndarray, weight: np.ndarray | None = None, groups: object = None
) -> dict[str, float]:
    """How well each column alone separates the outcomes (AUC, flipped to be ≥ 0.5).

    Each column's values (numbers in 20 quantile bins, missing as a value) are scored by their
    outcome rate, learned on one half of the rows and applied to the other (cross-fitted, so a
    column of many distinct values does not look perfect by memorising).
    """
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    if len(np.unique(y)) < 2:
        return {}
    half = group_fractions(np.arange(len(y)) if groups is None else np.asarray(groups), 7) < 0.5
    prior = float(np.average(y, weights=w))
    out: dict[str, float] = {}
    for col in X.columns:
        codes = _bin_codes(X[col])
        k = int(codes.max()) + 1
        score = np.empty(len(y))
        for learn in (half, ~half):
            yw = np.bincount(codes[learn], weights=(y * w)[learn], minlength=k)
            ww = np.bincount(codes[learn], weights=w[learn], minlength=k)
            rate = (yw + prior) / (ww + 1.0)
            score[~learn] = rate[codes[~learn]]
        auc = m.roc_auc(y, score, w)
        out[str(col)] = max(auc, 1 - auc)
    return out


def leak_warnings(
    X: pd.DataFrame,
    y: np.ndarray,
    threshold: float,
    weight: np.ndarray | None = None,
    groups: object = None,
) -> list[str]:
    """A warning per column that alone predicts the label almost perfectly."""
    aucs = single_column_auc(X, y, weight, groups)
    return [
        f"column {col!r} alone predicts the label almost perfectly (AUC {auc:.3f}): it may be "
        "filled in after the outcome is known; declare it a leak column if so"
        for col, auc in sorted(aucs.items(), key=lambda kv: -kv[1])
        if auc >= threshold
    ]
