"""The export-state leak check: fields whose first-seen values give away which deals were open.

An export shows each deal as it stood on the export date. Replaying the past from it, a deal's
attributes are taken as they were first seen, which is honest only if the export did not fill
(or blank) them *because* of the deal's state at the export. A CRM that leaves the account blank
until a deal closes, or sets the forecast category to "Closed" at close, writes the outcome into
the field: a model reading it learns "blank account: will not close", which no real pipeline can
tell in advance.

The check compares, at the export, deals still open with deals already closed, using only deals
whose value nothing in the field history dates earlier (closed deals never observed while open,
open deals not observed at their creation). To keep the deals' age out of it (a field added to
the CRM last year is blank on old deals, which are all closed), deals are compared within bands
of creation date. A field is leaking when

- its **blankness** differs: blank on a share of open deals that differs from the share among
  closed deals of the same age by at least `BLANK_GAP`, and by far more than chance allows
  (`BLANK_Z` standard errors of the stratified difference), or
- its **values** (few distinct, say a category or a rounded probability) tell open from closed
  with an AUC of at least `VALUE_AUC`, each deal scored by its value's open share among the
  *other* deals of its band.

A dataset's own columns kept as model inputs (`DealHistory.attributes`, its mapping's
`features:`) are checked exactly like the canonical fields, on every deal: they have no field
history, so nothing dates any deal's value earlier than the export.

A real attribute's mix shifts by chance and by a few points between open and closed deals of the
same age; an export artefact is systematic (in the shared CRM export the account is blank on 68%
of open deals and on none of 6,711 closed ones). The bars sit between the two and were not set
on any data set's figures: a blank share five points apart that chance cannot explain is an
outcome written into the field, since nothing else makes deals of the same age differ by state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from forecast.data.stages import OPEN

if TYPE_CHECKING:
    from forecast.history import DealHistory

#: Smallest difference in blank share (open vs closed deals of the same age) that marks a leak,
#: and how many standard errors it must stand from zero.
BLANK_GAP = 0.05
BLANK_Z = 5.0
#: AUC of a field's values alone, telling open from closed deals of the same age, that marks one.
VALUE_AUC = 0.9
#: Most distinct values for the value test (beyond that, values are names or measurements).
MAX_VALUES = 30
#: Fewest deals of each side for a band of creation dates to count, and bands to cut.
MIN_SIDE = 5
BANDS = 10
#: Fields that are bookkeeping or known only at close, so never model inputs from the export.
NOT_CHECKED = frozenset({"amount_estimated", "csat"})
#: Smoothing of a value's open share (pseudo-deals at the band's open share).
PRIOR = 5.0


@dataclass(frozen=True)
class ExportLeak:
    field: str
    kind: str  # "blank" | "values"
    open_share: float  # blank share among open deals (kind "blank"), else the AUC
    closed_share: float  # blank share among closed deals (kind "blank"), else 0.5
    note: str


def find_export_leaks(history: DealHistory) -> list[ExportLeak]:
    """Fields of `history` that leak the export state (see the module docstring)."""
    deals = history.deals
    if deals.empty or "status" not in deals:
        return []
    is_open = (deals["status"] == OPEN).to_numpy()
    if is_open.all() or not is_open.any():
        return []
    tracked = [
        c
        for c in history.field_log.columns
        if c not in ("opportunity_id", "observed_at", *NOT_CHECKED)
        and not (c == "amount" and not history.options.amount_known_before_close)
    ]  # an amount unknown before close is replaced by the list price while open
    static = [c for c in history.attributes if c not in tracked]
    out = _leaks(deals, _unconfirmed(history, is_open), is_open, tracked)
    return out + _leaks(deals, np.ones(len(deals), dtype=bool), is_open, static)


def _leaks(
    deals: pd.DataFrame, sample: np.ndarray, is_open: np.ndarray, columns: list[str]
) -> list[ExportLeak]:
    """The leaking `columns` among the deals of `sample`."""
    if sample.sum() < 2 * MIN_SIDE or not columns:
        return []
    frame = deals[sample].reset_index(drop=True)
    y = is_open[sample].astype(int)
    if y.min() == y.max():  # open deals only, or closed only: nothing to compare
        return []
    band = _bands(frame["created_at"])
    out = []
    for col in columns:
        if col not in frame:
            continue
        leak = _blank_leak(col, frame[col], y, band) or _value_leak(col, frame[col], y, band)
        if leak:
            out.append(leak)
    return out


def _unconfirmed(history: DealHistory, is_open: np.ndarray) -> np.ndarray:
    """Deals whose values nothing dates earlier than the export state: closed deals with no
    observation before their close, open deals not observed on their creation day."""
    deals = history.deals
    first = history.first_observed()
    created = deals["created_at"].to_numpy("datetime64[us]")
    closed = deals["closed_at"].to_numpy("datetime64[us]")
    never_seen = np.isnat(first)
    late_open = never_seen | (first - created > np.timedelta64(1, "D"))
    if "created_estimated" in deals:
        late_open |= deals["created_estimated"].fillna(False).to_numpy(dtype=bool)
    late_closed = never_seen | np.isnat(closed) | (first >= closed)
    return np.where(is_open, late_open, late_closed)


def _bands(created: pd.Series) -> np.ndarray:
    """Bands of creation date with about the same number of deals each."""
    ranks = created.rank(method="first").fillna(0).to_numpy()
    return np.minimum((ranks - 1) * BANDS // max(len(ranks), 1), BANDS - 1).astype(int)


def _usable_bands(y: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Deals in bands holding enough of both sides; all deals when no band does."""
    ok = np.zeros(len(y), dtype=bool)
    for b in np.unique(band):
        inside = band == b
        if y[inside].sum() >= MIN_SIDE and (1 - y[inside]).sum() >= MIN_SIDE:
            ok |= inside
    return ok if ok.any() else np.ones(len(y), dtype=bool)


def _blank_leak(col: str, values: pd.Series, y: np.ndarray, band: np.ndarray) -> ExportLeak | None:
    blank = values.isna().to_numpy().copy()
    if not is_numeric_dtype(values):
        blank |= (values.astype("str").str.strip() == "").to_numpy()
    open_share, closed_share = blank[y == 1].mean(), blank[y == 0].mean()
    use = _usable_bands(y, band)
    gaps, variances, weights = [], [], []
    for b in np.unique(band[use]):
        inside = use & (band == b)
        n1, n0 = (inside & (y == 1)).sum(), (inside & (y == 0)).sum()
        if n1 == 0 or n0 == 0:
            continue  # a band with one side only says nothing about the difference
        pooled = blank[inside].mean()
        gaps.append(blank[inside & (y == 1)].mean() - blank[inside & (y == 0)].mean())
        variances.append(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        weights.append(n1)
    if not weights:
        return None
    w = np.asarray(weights, dtype=float)
    gap = float(np.average(gaps, weights=w))
    se = float(np.sqrt(np.sum(w**2 * np.asarray(variances)) / w.sum() ** 2))
    if not (np.isfinite(gap) and np.isfinite(se)) or se == 0:
        return None
    if abs(gap) < BLANK_GAP or abs(gap) / se < BLANK_Z:
        return None
    note = (
        f"{col}: blank on {open_share:.0%} of open deals, {closed_share:.0%} of closed "
        f"(same-age gap {gap:+.0%}); left out"
    )
    return ExportLeak(col, "blank", float(open_share), float(closed_share), note)


def _value_leak(col: str, values: pd.Series, y: np.ndarray, band: np.ndarray) -> ExportLeak | None:
    codes, uniques = pd.factorize(values.astype("str").where(values.notna()))
    present = codes >= 0
    if present.sum() < 2 * MIN_SIDE or not 2 <= len(uniques) <= MAX_VALUES:
        return None
    use = _usable_bands(y, band) & present
    yy, cc, bb = y[use].astype(float), codes[use], band[use]
    if yy.min() == yy.max():
        return None
    # Each deal scored by its value's open share among the *other* deals of its band.
    key = bb * len(uniques) + cc
    n = np.bincount(key)[key]
    k = np.bincount(key, weights=yy)[key]
    base = (np.bincount(bb, weights=yy) / np.maximum(np.bincount(bb), 1))[bb]
    score = (k - yy + PRIOR * base) / (n - 1 + PRIOR)
    aucs, weights = [], []
    for b in np.unique(bb):
        inside = bb == b
        if 0 < yy[inside].sum() < inside.sum():
            aucs.append(_auc(yy[inside], score[inside]))
            weights.append(inside.sum())
    if not aucs:
        return None
    # Only the direction of the encoding counts: leaving each deal out biases the AUC *below*
    # 0.5 for a field that says nothing, never above it.
    auc = float(np.average(aucs, weights=weights))
    if auc < VALUE_AUC:
        return None
    note = (
        f"{col}: its values tell open from closed deals (AUC {auc:.2f} among deals of the "
        "same age); left out"
    )
    return ExportLeak(col, "values", auc, 0.5, note)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties count half)."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
