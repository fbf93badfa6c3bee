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

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

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
    out += _leaks(deals, np.ones(len(deals), dtype=bool), is_open, static)
    out += _leaks(_checked(history, "stage"), _stage_sample(history, is_open), is_open, ["stage"])
    return [said for leak in out if (said := _stage_said(leak)) is not None]


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
    observation before their close (as `final_deals` has it), open deals not observed on their
    creation day."""
    deals = history.final_deals
    first = history.first_observed()
    created = deals["created_at"].to_numpy("datetime64[us]")
    closed = deals["closed_at"].to_numpy("datetime64[us]")
    never_seen = np.isnat(first)
    late_open = never_seen | (first - created > np.timedelta64(1, "D"))
    if "created_estimated" in deals:
        late_open |= deals["created_estimated"].fillna(False).to_numpy(dtype=bool)
    late_closed = never_seen | np.isnat(closed) | (first >= closed)
    return np.where(is_open, late_open, late_closed)


def _stage_sample(history: DealHistory, is_open: np.ndarray) -> np.ndarray:
    """The deals whose stage as first seen the export alone gives: really created (not dated at
    the export, standing in for a blank date), and, where closed, with no open stage on record
    before their close (a deal whose history records one is not the export's artefact)."""
    deals = history.deals
    dated = deals["created_at"].notna().to_numpy(copy=True)
    if "created_estimated" in deals:
        dated &= ~deals["created_estimated"].fillna(False).to_numpy(dtype=bool)
    return dated & (is_open | ~history.open_stage_before_close())


def _checked(history: DealHistory, check: str) -> pd.DataFrame:
    """The deals as a check reads them. For "stage": each deal's stage as first seen, just
    after its creation, blank where that is the first open stage (where a deal with no open
    stage on record stands). A flat export records an open deal's current stage, which stands
    from its creation, and a closed deal's outcome only: closed deals are then all "blank"."""
    deals = history.deals
    if check != "stage":
        return deals
    seen = history.first_seen_stages()
    stages = history.stages
    seen[pd.Series(seen).isin([stages.open_stages[0], stages.won, stages.lost]).to_numpy()] = None
    return pd.DataFrame({"created_at": deals["created_at"], "stage": seen})


def _stage_said(leak: ExportLeak) -> ExportLeak | None:
    """A stage leak said as what it is (the stage, not a blank field); None where the gap runs
    the other way (closed deals past the first stage more often: no export shows that)."""
    if leak.field != "stage":
        return leak
    if leak.kind == "blank" and leak.open_share >= leak.closed_share:
        return None
    shown = (
        f"{1 - leak.open_share:.0%} of open deals stand past the first stage from their "
        f"creation, {1 - leak.closed_share:.0%} of closed deals"
        if leak.kind == "blank"
        else f"AUC {leak.open_share:.2f} among deals of the same age"
    )
    note = (
        f"stage: the export records an open deal's current stage, which stands from its "
        f"creation, and only the outcome of a closed deal ({shown}): a deal's stage in the past "
        "would tell which deals stay open, so the time-to-close model reads every deal as in "
        "its first stage (the deal model, the funnel and the open pipeline still read stages)"
    )
    return replace(leak, note=note)


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
    return _blank_verdict(col, gaps, variances, weights, open_share, closed_share)


def _blank_verdict(
    col: str,
    gaps: list[float],
    variances: list[float],
    weights: list[float],
    open_share: float,
    closed_share: float,
) -> ExportLeak | None:
    """A blank leak where the same-age gaps (closed won minus lost, per age band, weighted by
    won deals) are large and clear of their noise; the same verdict from rows or from counts."""
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
        f"(same-age gap {gap:+.0%}); left out of model inputs"
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
    return _value_verdict(col, aucs, weights)


def _value_verdict(col: str, aucs: list[float], weights: list[float]) -> ExportLeak | None:
    """A value leak where the same-age AUCs (weighted by deals per band) reach `VALUE_AUC`; the
    same verdict from rows or from counts. Only the direction of the encoding counts: leaving
    each deal out biases the AUC *below* 0.5 for a field that says nothing, never above it."""
    if not aucs:
        return None
    auc = float(np.average(aucs, weights=weights))
    if auc < VALUE_AUC:
        return None
    note = (
        f"{col}: its values tell open from closed deals (AUC {auc:.2f} among deals of the "
        "same age); left out of model inputs"
    )
    return ExportLeak(col, "values", auc, 0.5, note)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties count half)."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# --- the same check over slices of the deals (a partitioned read on a Dask cluster) -----------
#
# `find_export_leaks` reads every deal at once. Over slices held apart (`parquet_export.
# read_partitioned`), each slice counts what the check reads of its deals, the bands of creation
# date are ranked over every slice's dates in one place, and the tests run on the summed
# counts. Each test's figures are sums of whole numbers and the same float operations on them,
# so the findings equal `find_export_leaks` on the whole history (`test_dask_training`).

#: Bands as count indices: band -1 (no creation date) first, then 0..BANDS-1.
_BAND_SLOTS = BANDS + 1
#: The checks: fields with a field history on the unconfirmed deals, the dataset's own columns
#: on every deal, and the stage as first seen on the deals really dated (`find_export_leaks`).
CHECKS = ("tracked", "static", "stage")


def _columns(history: DealHistory) -> dict[str, list[str]]:
    """Each check's columns, as `find_export_leaks` picks them."""
    tracked = [
        c
        for c in history.field_log.columns
        if c not in ("opportunity_id", "observed_at", *NOT_CHECKED)
        and not (c == "amount" and not history.options.amount_known_before_close)
    ]
    static = [c for c in history.attributes if c not in tracked]
    return {"tracked": tracked, "static": static, "stage": ["stage"]}


def _samples(history: DealHistory) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(open or not, each check's deals) of a history's deals."""
    deals = history.deals
    is_open = (deals["status"] == OPEN).to_numpy()
    sample = {
        "tracked": _unconfirmed(history, is_open),
        "static": np.ones(len(deals), bool),
        "stage": _stage_sample(history, is_open),
    }
    return is_open, sample


def slice_dates(history: DealHistory) -> dict[str, Any]:
    """On a worker, first pass over a slice: its deals, open deals, each check's columns, and
    the creation dates of each check's deals (ranked into bands over every slice)."""
    deals = history.deals
    if "status" not in deals:
        return {"deals": len(deals), "open": 0, "columns": _columns(history), "dated": False}
    is_open, sample = _samples(history)
    created = deals["created_at"].to_numpy("datetime64[us]")
    return {
        "deals": len(deals),
        "open": int(is_open.sum()),
        "columns": _columns(history),
        "dated": True,
        "sampled": {check: int(mask.sum()) for check, mask in sample.items()},
        "sampled_open": {check: int(is_open[mask].sum()) for check, mask in sample.items()},
        "created": {check: created[mask] for check, mask in sample.items()},
    }


def without_dates(dates: dict[str, Any]) -> dict[str, Any]:
    """A slice's `slice_dates` without the dates (what `leaks_from_counts` reads)."""
    return {k: v for k, v in dates.items() if k != "created"}


def slice_bands(dates: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    """On a worker: each check's deals' bands of creation date over every slice (`_bands` on
    their dates in slice order), cut back into slices."""
    out: list[dict[str, np.ndarray]] = [{} for _ in dates]
    for check in CHECKS:
        parts = [d.get("created", {}).get(check, np.zeros(0, "datetime64[us]")) for d in dates]
        band = _bands(pd.Series(np.concatenate(parts)))
        bounds = np.cumsum([0, *(len(p) for p in parts)])
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            out[i][check] = band[a:b]
    return out


def bands_of(bands: list[dict[str, np.ndarray]], index: int) -> dict[str, np.ndarray]:
    """One slice's part of `slice_bands`."""
    return bands[index]


def _text_values(values: pd.Series) -> pd.Series:
    return values.astype("str").where(values.notna())


def slice_counts(
    history: DealHistory, bands: dict[str, np.ndarray]
) -> dict[str, dict[str, dict[str, Any]]]:
    """On a worker, second pass over a slice (`bands`: its part of `slice_bands`): per check
    and column, the counts the blank and value tests read, by band slot and side (closed,
    open)."""
    is_open, sample = _samples(history)
    columns = _columns(history)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for check in CHECKS:
        frame = _checked(history, check)[sample[check]].reset_index(drop=True)
        y = is_open[sample[check]].astype(int)
        slot = bands[check] + 1
        cell = slot * 2 + y
        size = _BAND_SLOTS * 2
        out[check] = {}
        for col in columns[check]:
            if col not in frame:
                continue
            values = frame[col]
            blank = values.isna().to_numpy().copy()
            if not is_numeric_dtype(values):
                blank |= (values.astype("str").str.strip() == "").to_numpy()
            codes, uniques = pd.factorize(_text_values(values))
            by_value = None
            if len(uniques) <= MAX_VALUES:  # more here means more over every slice
                present = codes >= 0
                by_value = {
                    str(v): np.bincount(cell[present & (codes == i)], minlength=size)
                    for i, v in enumerate(uniques)
                }
            out[check][col] = {
                "deals": np.bincount(cell, minlength=size),
                "blank": np.bincount(cell[blank], minlength=size),
                "values": by_value,
            }
    return out


def leaks_from_counts(
    dates: list[dict[str, Any]], counts: list[dict[str, dict[str, dict[str, Any]]]]
) -> list[ExportLeak]:
    """`find_export_leaks` of the whole history, from its slices' `slice_dates` (`without_dates`)
    and `slice_counts`, in slice order."""
    n, n_open = sum(d["deals"] for d in dates), sum(d["open"] for d in dates)
    if n == 0 or not all(d["dated"] for d in dates) or n_open in (0, n):
        return []
    out: list[ExportLeak] = []
    for check in CHECKS:
        columns = dates[0]["columns"][check]
        sampled = sum(d["sampled"][check] for d in dates)
        sampled_open = sum(d["sampled_open"][check] for d in dates)
        if sampled < 2 * MIN_SIDE or not columns or sampled_open in (0, sampled):
            continue
        for col in columns:
            parts = [c[check][col] for c in counts if col in c[check]]
            if not parts:
                continue
            deals = _by_band(sum(p["deals"] for p in parts))
            blank = _by_band(sum(p["blank"] for p in parts))
            values = _merged_values([p["values"] for p in parts])
            leak = _blank_leak_counts(col, deals, blank) or _value_leak_counts(col, deals, values)
            if leak and (said := _stage_said(leak)) is not None:
                out.append(said)
    return out


def _by_band(flat: np.ndarray) -> np.ndarray:
    """Counts `(band slot, side)` from their flat form."""
    return np.asarray(flat, dtype=np.int64).reshape(_BAND_SLOTS, 2)


def _merged_values(parts: list[dict[str, np.ndarray] | None]) -> dict[str, np.ndarray] | None:
    """Each value's counts summed over the slices, in order of first appearance; None past
    `MAX_VALUES` values (the value test then does not run)."""
    if any(p is None for p in parts):
        return None
    merged: dict[str, np.ndarray] = {}
    for part in parts:
        for value, c in (part or {}).items():
            merged[value] = merged[value] + c if value in merged else c.copy()
            if len(merged) > MAX_VALUES:
                return None
    return {v: _by_band(c) for v, c in merged.items()}


def _usable_slots(deals: np.ndarray) -> np.ndarray:
    """`_usable_bands` by band slot: both sides at least `MIN_SIDE`; every band if none."""
    ok = (deals[:, 1] >= MIN_SIDE) & (deals[:, 0] >= MIN_SIDE)
    return ok if ok.any() else np.ones(len(deals), dtype=bool)


def _blank_leak_counts(col: str, deals: np.ndarray, blank: np.ndarray) -> ExportLeak | None:
    """`_blank_leak` from counts by (band slot, side)."""
    n_side, blank_side = deals.sum(axis=0), blank.sum(axis=0)
    open_share, closed_share = blank_side[1] / n_side[1], blank_side[0] / n_side[0]
    use = _usable_slots(deals)
    gaps, variances, weights = [], [], []
    for s in np.flatnonzero(use & (deals.sum(axis=1) > 0)):
        n1, n0 = deals[s, 1], deals[s, 0]
        if n1 == 0 or n0 == 0:
            continue
        pooled = blank[s].sum() / deals[s].sum()
        gaps.append(blank[s, 1] / n1 - blank[s, 0] / n0)
        variances.append(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        weights.append(n1)
    return _blank_verdict(col, gaps, variances, weights, open_share, closed_share)


def _value_leak_counts(
    col: str, deals: np.ndarray, values: dict[str, np.ndarray] | None
) -> ExportLeak | None:
    """`_value_leak` from each value's counts by (band slot, side): a deal's score depends on
    its band, value and side only, so each band's AUC is a rank sum over those cells."""
    if values is None:
        return None
    cells = np.stack(list(values.values())) if values else np.zeros((0, _BAND_SLOTS, 2), int)
    if cells.sum() < 2 * MIN_SIDE or not 2 <= len(values) <= MAX_VALUES:
        return None
    cells = cells * _usable_slots(deals)[None, :, None]  # (value, band slot, side)
    if cells[:, :, 1].sum() in (0, cells.sum()):
        return None
    n = cells.sum(axis=2)  # deals per (value, band)
    k = cells[:, :, 1].astype(float)  # open deals per (value, band)
    band_n, band_k = n.sum(axis=0), k.sum(axis=0)
    aucs, weights = [], []
    for s in np.flatnonzero(band_n):
        if not 0 < band_k[s] < band_n[s]:
            continue
        base = band_k[s] / max(band_n[s], 1)
        seen = n[:, s] > 0
        k_s, n_s = k[seen, s], n[seen, s]
        opened, closed = cells[seen, s, 1], cells[seen, s, 0]
        # The open deals of a cell score (k − 1 + …), its closed deals (k − 0 + …).
        score = np.r_[
            (k_s - 1.0 + PRIOR * base) / (n_s - 1 + PRIOR),
            (k_s - 0.0 + PRIOR * base) / (n_s - 1 + PRIOR),
        ]
        none = np.zeros_like(opened)
        aucs.append(_auc_counts(score, np.r_[opened, none], np.r_[none, closed]))
        weights.append(band_n[s])
    return _value_verdict(col, aucs, weights)


def _auc_counts(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """`_auc` of deals given as (score, positives, negatives) groups: tied scores share their
    average rank. Ranks are half-integers, so the rank sum is exact, as in `_auc`."""
    levels, at = np.unique(score, return_inverse=True)
    p = np.bincount(at, weights=pos, minlength=len(levels))
    q = np.bincount(at, weights=neg, minlength=len(levels))
    size = p + q
    before = np.cumsum(size) - size
    rank = before + (size + 1) / 2
    n1, n0 = p.sum(), q.sum()
    return float(((p * rank).sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
