"""How sure a holdout metric is: bootstrap intervals, and paired gains between two scorers.

A holdout of a few hundred deals gives an AUC with a standard error of several points, so a
point comparison can promote on noise. Here the holdout is resampled (seeded, vectorised): whole
groups (a deal's snapshots) are drawn with replacement, and each resample is a weight per row.
Every scorer is measured on the same resamples, so the gain of one over another is paired: its
interval is that of the difference on the same rows, much narrower than the two intervals apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Resamples scored at once (rows × this many floats held in memory).
CHUNK = 100


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval."""

    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.value, self.low, self.high]


def resample_counts(
    groups: np.ndarray | None, n_rows: int, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(times each group is drawn per resample `(resamples, groups)`, group of each row).

    Rows of one group (one deal's snapshots) are drawn together; without groups each row is one."""
    if groups is None:
        index = np.arange(n_rows)
    else:
        _, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(index.max()) + 1 if n_rows else 0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    counts = np.zeros((resamples, n_groups))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    return counts, index


def auc_and_brier(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ROC AUC and Brier score for each row of `weights` `(resamples, rows)` at once.

    AUC = P(score of a positive > score of a negative) + half the ties, from one sort of `p`."""
    order = np.argsort(p, kind="stable")
    p_s, y_s, w_s = p[order], y[order], weights[:, order]
    starts = np.flatnonzero(np.r_[True, p_s[1:] != p_s[:-1]])  # groups of tied scores
    pos = np.add.reduceat(w_s * y_s, starts, axis=1)
    neg = np.add.reduceat(w_s * (1.0 - y_s), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
        brier = (weights * (p - y) ** 2).sum(axis=1) / weights.sum(axis=1)
    auc[(total_pos == 0) | (total_neg == 0)] = np.nan
    return auc, brier


def replicates(
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    weight: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    *,
    resamples: int = 1000,
    seed: int = 42,
) -> dict[str, dict[str, np.ndarray]]:
    """Per scorer, its AUC and Brier on each of the same `resamples` resamples of the holdout."""
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    counts, index = resample_counts(groups, len(y), resamples, seed)
    out = {
        name: {"roc_auc": np.empty(resamples), "brier": np.empty(resamples)} for name in predictions
    }
    for start in range(0, resamples, CHUNK):
        rows_w = counts[start : start + CHUNK][:, index] * w
        for name, p in predictions.items():
            auc, brier = auc_and_brier(y, np.asarray(p, dtype=float), rows_w)
            out[name]["roc_auc"][start : start + CHUNK] = auc
            out[name]["brier"][start : start + CHUNK] = brier
    return out


def interval(value: float, draws: np.ndarray) -> Interval:
    """`value` with the 2.5th and 97.5th percentiles of its resampled `draws` (NaN if none)."""
    draws = draws[~np.isnan(draws)]
    if len(draws) == 0:
        return Interval(value, float("nan"), float("nan"))
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(value, float(low), float(high))


def gain(
    mine: Mapping[str, np.ndarray],
    theirs: Mapping[str, np.ndarray],
    point_mine: Mapping[str, float],
    point_theirs: Mapping[str, float],
) -> dict[str, Interval]:
    """How much better `mine` is than `theirs` on AUC (higher) and Brier (lower), paired: the
    gain is positive when `mine` is better, with the interval of the resampled differences."""
    return {
        "roc_auc": interval(
            point_mine["roc_auc"] - point_theirs["roc_auc"], mine["roc_auc"] - theirs["roc_auc"]
        ),
        "brier": interval(
            point_theirs["brier"] - point_mine["brier"], theirs["brier"] - mine["brier"]
        ),
    }


def with_intervals(
    metrics: Mapping[str, float], draws: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """`metrics` plus `<metric>_ci_low` / `_ci_high` for AUC and Brier."""
    out = dict(metrics)
    for name in ("roc_auc", "brier"):
        ci = interval(float(metrics[name]), draws[name])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = ci.low, ci.high
    return out
