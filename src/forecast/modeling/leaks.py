"""Training-time leak checks: columns that give the label away.

Such a column is usually filled in after the outcome is known (a CRM field set at close), so a
model reading it looks better on the holdout than it can be on new rows. A lead column that the
outcome itself wrote (`outcome_written`: filled, blanked or set on one outcome's leads only) is
left out of the lead model; any column that alone predicts the label almost perfectly is warned
about (`leak_warnings`, both training runs), and the user declares it a leak column if it is one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


#: A group of leads (a value, or blank, or filled) gives the outcome away when at most this share
#: of its leads has the other outcome, ...
PURE_SHARE = 0.01
#: ... while chance, at the overall rate, would have put at least this many of them there ...
MIN_EXPECTED = 10.0
#: ... and a column is written by the outcome when such groups hold this share of one outcome's
#: leads. A real attribute seldom separates a quarter of one outcome from every lead of the other;
#: a field the CRM fills at conversion ("Became a Customer Date", "Lost reason", a lead status of
#: "Open Deal") does exactly that.
REVEALED_SHARE = 0.25
_OUTCOMES = ("not converted", "converted")


@dataclass(frozen=True)
class OutcomeWritten:
    """A lead column whose values or blankness tell the outcome itself."""

    column: str
    outcome: str  # the outcome its revealing groups belong to
    revealed: int  # leads of that outcome in them
    of: int  # leads of that outcome in all
    groups: list[str]  # "filled", "blank" or the values that reveal it
    others: int  # leads of the other outcome in them
    others_of: int

    @property
    def note(self) -> str:
        shown = ", ".join(self.groups[:4]) + (" …" if len(self.groups) > 4 else "")
        what = self.groups[0] if self.groups[0] in ("filled", "blank") else f"set to {shown}"
        other = _OUTCOMES[1 - _OUTCOMES.index(self.outcome)]
        return (
            f"column {self.column!r} is {what} on {self.revealed:,} of {self.of:,} "
            f"{self.outcome} leads and on {self.others:,} of {self.others_of:,} {other}: written "
            "once the outcome is known, which a new lead cannot have; left out of the model "
            "(--include-leaks keeps it)"
        )


def outcome_written(X: pd.DataFrame, y: np.ndarray) -> list[OutcomeWritten]:
    """Columns filled, blanked or set by the outcome (see `REVEALED_SHARE`), strongest first.

    Two partitions of each column are tried: blank against filled (a date or reason written at
    conversion has one distinct value per lead, so only its blankness shows), and its values
    (numbers in quantile bins, blank as a value: a status set by the sales process).
    """
    y = np.asarray(y, dtype=float)
    counts = np.array([(y == 0).sum(), (y == 1).sum()], dtype=float)
    if counts.min() == 0:
        return []
    share = counts / counts.sum()
    found: list[OutcomeWritten] = []
    for col in X.columns:
        series = X[col]
        blank = series.isna().to_numpy()
        best: OutcomeWritten | None = None
        codes = _bin_codes(series)
        partitions = [
            (blank.astype(int), ["filled", "blank"]),
            (codes, None),
        ]
        for part, names in partitions:
            k = int(part.max()) + 1
            per = np.stack([np.bincount(part[y == c], minlength=k) for c in (0, 1)]).astype(float)
            n = per.sum(axis=0)
            for c in (0, 1):
                other = per[1 - c]
                pure = (n > 0) & (other <= PURE_SHARE * n) & (n * share[1 - c] >= MIN_EXPECTED)
                revealed = int(per[c][pure].sum())
                if revealed < REVEALED_SHARE * counts[c]:
                    continue
                if best is not None and revealed / counts[c] <= best.revealed / best.of:
                    continue
                groups = (
                    [names[g] for g in np.flatnonzero(pure)]
                    if names
                    else _group_names(series, part, np.flatnonzero(pure), per[c])
                )
                best = OutcomeWritten(
                    str(col),
                    _OUTCOMES[c],
                    revealed,
                    int(counts[c]),
                    groups,
                    int(other[pure].sum()),
                    int(counts[1 - c]),
                )
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda f: -f.revealed / f.of)


def _group_names(
    series: pd.Series, codes: np.ndarray, groups: np.ndarray, sizes: np.ndarray
) -> list[str]:
    """The revealing groups' names: values largest first, number ranges from the lowest (as a
    reader scans them: "0–4, 37–41, 55–60"), "blank" last of the ranges."""
    named = []
    for g in sorted(groups, key=lambda g: -sizes[g]):
        members = series[codes == g]
        if members.isna().all():
            named.append((math.inf, "blank"))
        elif is_numeric_dtype(series):
            low, high = members.min(), members.max()
            named.append((float(low), f"{low:g}" if low == high else f"{low:g}–{high:g}"))
        else:
            named.append((0.0, str(members.iloc[0])))
    if is_numeric_dtype(series):
        named.sort(key=lambda pair: pair[0])
    return [name for _, name in named]
