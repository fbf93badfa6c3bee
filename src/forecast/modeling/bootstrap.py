"""How sure a holdout metric is: bootstrap intervals, and paired gains between two scorers.

A holdout of a few hundred deals gives an AUC with a standard error of several points, so a
point comparison can promote on noise. Here the holdout is resampled (seeded, vectorised): whole
groups (a deal's snapshots) are drawn with replacement, and each resample is a weight per row.
Every scorer is measured on the same resamples, so the gain of one over another is paired: its
interval is that of the difference on the same rows, much narrower than the two intervals apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse

#: Resamples scored at once, at most.
CHUNK = 100
#: Bytes the arrays of one chunk of resamples may take (about five floats per row or group and
#: resample): a holdout of a million rows is scored a few resamples at a time, not a hundred.
CHUNK_BYTES = 128 * 2**20


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval."""

    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.value, self.low, self.high]


def _group_index(groups: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Each row's group as 0..groups-1 (by sorted group label); without groups each row is one."""
    if groups is None:
        return np.arange(n_rows)
    return np.unique(np.asarray(groups).astype(str), return_inverse=True)[1].ravel()


def _count_chunks(
    n_groups: int, resamples: int, seed: int, chunk: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(first resample, times each group is drawn `(resamples in chunk, groups)`), chunk by
    chunk. The draws are one seeded stream, so chunking does not change them."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.integers(0, n_groups, size=(size, n_groups)) if n_groups else None
        if draws is None:
            yield start, np.zeros((size, 0))
            continue
        flat = (np.arange(size)[:, None] * n_groups + draws).ravel()
        yield start, np.bincount(flat, minlength=size * n_groups).reshape(size, n_groups) * 1.0


def resample_counts(
    groups: np.ndarray | None, n_rows: int, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(times each group is drawn per resample `(resamples, groups)`, group of each row).

    Rows of one group (one deal's snapshots) are drawn together; without groups each row is one."""
    index = _group_index(groups, n_rows)
    n_groups = int(index.max()) + 1 if n_rows else 0
    counts = np.concatenate(
        [c for _, c in _count_chunks(n_groups, resamples, seed, max(resamples, 1))]
    )
    return counts, index


def auc_and_brier(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ROC AUC and Brier score for each row of `weights` `(resamples, rows)` at once.

    AUC = P(score of a positive > score of a negative) + half the ties, from one sort of `p`."""
    return _ByGroup(y, p, np.ones(len(y)), np.arange(len(y)), len(y)).score(weights)


class _ByGroup:
    """One scorer's holdout folded by (tied score, group): a resample, which weighs each group,
    is scored with one sparse product instead of a pass over every row.

    AUC needs, per run of tied scores, the resampled weight of positives and of negatives in it;
    Brier the resampled sums of w·(p − y)² and of w, which fold to one number per group."""

    def __init__(
        self, y: np.ndarray, p: np.ndarray, w: np.ndarray, index: np.ndarray, n_groups: int
    ) -> None:
        order = np.argsort(p, kind="stable")
        p_s = p[order]
        tie = np.cumsum(np.r_[True, p_s[1:] != p_s[:-1]]) - 1 if len(p) else np.zeros(0, int)
        n_ties = int(tie[-1]) + 1 if len(p) else 0
        g, wy = index[order], (w * y)[order]
        shape = (n_ties, n_groups)
        self.pos = sparse.csr_matrix((wy, (tie, g)), shape=shape)
        self.neg = sparse.csr_matrix((w[order] - wy, (tie, g)), shape=shape)
        self.sq = np.bincount(index, weights=w * (p - y) ** 2, minlength=n_groups)
        self.total = np.bincount(index, weights=w, minlength=n_groups)

    def score(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AUC and Brier on each resample, given the times each group is drawn `(k, groups)`."""
        drawn = np.ascontiguousarray(counts.T)
        pos, neg = self.pos @ drawn, self.neg @ drawn  # (tied runs, k)
        below = np.cumsum(neg, axis=0) - neg
        total_pos, total_neg = pos.sum(axis=0), neg.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (pos * (below + 0.5 * neg)).sum(axis=0) / (total_pos * total_neg)
            brier = (counts @ self.sq) / (counts @ self.total)
        auc[(total_pos == 0) | (total_neg == 0)] = np.nan
        return np.asarray(auc), np.asarray(brier)


def replicates(
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    weight: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    *,
    resamples: int = 1000,
    seed: int = 42,
) -> dict[str, dict[str, np.ndarray]]:
    """Per scorer, its AUC and Brier on each of the same `resamples` resamples of the holdout.

    Memory stays near `CHUNK_BYTES` whatever the holdout's size: resamples are drawn and scored
    a chunk at a time, and each scorer's rows are folded by group once (`_ByGroup`)."""
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    index = _group_index(groups, len(y))
    n_groups = int(index.max()) + 1 if len(y) else 0
    folded = {
        name: _ByGroup(y, np.asarray(p, dtype=float), w, index, n_groups)
        for name, p in predictions.items()
    }
    out = {
        name: {"roc_auc": np.empty(resamples), "brier": np.empty(resamples)} for name in predictions
    }
    chunk = int(max(1, min(CHUNK, CHUNK_BYTES // (40 * max(len(y), n_groups, 1)))))
    for start, counts in _count_chunks(n_groups, resamples, seed, chunk):
        stop = start + len(counts)
        for name, by_group in folded.items():
            auc, brier = by_group.score(counts)
            out[name]["roc_auc"][start:stop] = auc
            out[name]["brier"][start:stop] = brier
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
