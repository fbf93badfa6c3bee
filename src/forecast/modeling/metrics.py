"""How good a probability is: ranking, calibration and the top of the list.

Every function takes true labels (0/1), predicted probabilities and optional per-row weights.
Weights let each deal count once when a deal has several as-of snapshots in the test set.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score

from forecast.errors import InvalidInput

#: The metrics `evaluate` returns, in the order a summary shows them.
METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "top_decile_lift",
    "top_decile_capture",
)
#: For each metric, whether a higher value is better.
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "brier": False,
    "log_loss": False,
    "ece": False,
    "top_decile_lift": True,
    "top_decile_capture": True,
}

_EPS = 1e-15


def _arrays(
    y: ArrayLike, p: ArrayLike, weight: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.asarray(p, dtype=float).ravel()
    w_arr = np.ones_like(y_arr) if weight is None else np.asarray(weight, dtype=float).ravel()
    if not (len(y_arr) == len(p_arr) == len(w_arr)):
        raise InvalidInput(
            f"labels, probabilities and weights differ in length: "
            f"{len(y_arr)}, {len(p_arr)}, {len(w_arr)}"
        )
    if len(y_arr) == 0:
        raise InvalidInput("no rows to evaluate")
    if np.isnan(p_arr).any():
        raise InvalidInput("probabilities contain NaN")
    return y_arr, p_arr, w_arr


def roc_auc(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    if len(np.unique(y_arr)) < 2:
        return float("nan")
    return float(roc_auc_score(y_arr, p_arr, sample_weight=w_arr))


def pr_auc(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Average precision (area under the precision-recall curve)."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    if y_arr.max() == 0:
        return float("nan")
    return float(average_precision_score(y_arr, p_arr, sample_weight=w_arr))


def brier(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Mean squared error of the probability (lower is better)."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    return float(np.average((p_arr - y_arr) ** 2, weights=w_arr))


def log_loss(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Mean negative log-likelihood, probabilities clipped away from 0 and 1."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    q = np.clip(p_arr, _EPS, 1 - _EPS)
    return float(np.average(-(y_arr * np.log(q) + (1 - y_arr) * np.log(1 - q)), weights=w_arr))


def calibration_table(
    y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None, bins: int = 10
) -> dict[str, np.ndarray]:
    """Per equal-width probability bin: mean predicted, observed rate, weight (no empty bins)."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    idx = np.minimum((p_arr * bins).astype(int), bins - 1)
    total = np.bincount(idx, weights=w_arr, minlength=bins)
    pred = np.bincount(idx, weights=w_arr * p_arr, minlength=bins)
    obs = np.bincount(idx, weights=w_arr * y_arr, minlength=bins)
    keep = total > 0
    return {
        "predicted": pred[keep] / total[keep],
        "observed": obs[keep] / total[keep],
        "weight": total[keep],
    }


def ece(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None, bins: int = 10) -> float:
    """Expected calibration error: weighted mean |observed − predicted| over 10 equal-width bins."""
    table = calibration_table(y, p, weight, bins)
    gap = np.abs(table["observed"] - table["predicted"])
    return float(np.sum(gap * table["weight"]) / np.sum(table["weight"]))


def _top_fraction_rate(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, fraction: float
) -> tuple[float, float]:
    """(positive weight in the top `fraction` of weight by score, that top's total weight)."""
    order = np.argsort(-p, kind="stable")
    y_s, w_s = y[order], w[order]
    cum = np.cumsum(w_s)
    cutoff = fraction * cum[-1]
    # Rows fully inside the top, plus the straddling row pro rata: ties cannot inflate the top.
    inside = cum <= cutoff
    pos = float(np.sum(y_s[inside] * w_s[inside]))
    taken = float(np.sum(w_s[inside]))
    if taken < cutoff and (~inside).any():
        j = int(np.argmax(~inside))
        share = cutoff - taken
        pos += float(y_s[j]) * share
        taken += share
    return pos, taken


def top_decile_lift(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Positive rate in the top 10% by score divided by the overall positive rate."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    base = np.average(y_arr, weights=w_arr)
    if base == 0:
        return float("nan")
    pos, taken = _top_fraction_rate(y_arr, p_arr, w_arr, 0.1)
    return float((pos / taken) / base) if taken else float("nan")


def top_decile_capture(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Share of all positives that sit in the top 10% by score."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    total_pos = float(np.sum(y_arr * w_arr))
    if total_pos == 0:
        return float("nan")
    pos, _ = _top_fraction_rate(y_arr, p_arr, w_arr, 0.1)
    return pos / total_pos


def gain_curve(
    y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None, points: int = 20
) -> dict[str, np.ndarray]:
    """Cumulative share of positives captured (gain) and lift at each share of rows contacted."""
    y_arr, p_arr, w_arr = _arrays(y, p, weight)
    fractions = np.linspace(1 / points, 1.0, points)
    total_pos = float(np.sum(y_arr * w_arr)) or 1.0
    base = float(np.average(y_arr, weights=w_arr)) or 1.0
    gains, lifts = [], []
    for f in fractions:
        pos, taken = _top_fraction_rate(y_arr, p_arr, w_arr, float(f))
        gains.append(pos / total_pos)
        lifts.append((pos / taken) / base if taken else np.nan)
    return {"fraction": fractions, "gain": np.array(gains), "lift": np.array(lifts)}


def evaluate(y: ArrayLike, p: ArrayLike, weight: ArrayLike | None = None) -> dict[str, float]:
    """All metrics in `METRICS` for one set of predictions."""
    return {
        "roc_auc": roc_auc(y, p, weight),
        "pr_auc": pr_auc(y, p, weight),
        "brier": brier(y, p, weight),
        "log_loss": log_loss(y, p, weight),
        "ece": ece(y, p, weight),
        "top_decile_lift": top_decile_lift(y, p, weight),
        "top_decile_capture": float(top_decile_capture(y, p, weight)),
    }
