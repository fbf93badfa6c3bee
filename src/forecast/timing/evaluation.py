"""Timing models scored on a time holdout: calibration at each horizon, Brier, concordance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.stages import WON
from forecast.errors import InsufficientHistory
from forecast.history import DealHistory, as_timestamp
from forecast.timing.rows import DAY, pipeline_rows

# --- evaluation on a time holdout ----------------------------------------------------------------


def concordance_index(time_: np.ndarray, risk: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C: among comparable pairs (the earlier time is an observed close), the share
    where the earlier closer got the higher risk (ties in risk count one half)."""
    t = np.asarray(time_, dtype=float)
    r = np.asarray(risk, dtype=float)
    e = np.asarray(event, dtype=bool)
    good = ties = pairs = 0.0
    for start in range(0, len(t), 2_000):
        i = np.arange(start, min(start + 2_000, len(t)))
        i = i[e[i]]
        if len(i) == 0:
            continue
        comparable = t[i, None] < t[None, :]
        diff = r[i, None] - r[None, :]
        pairs += comparable.sum()
        good += (comparable & (diff > 0)).sum()
        ties += (comparable & (diff == 0)).sum()
    return float((good + 0.5 * ties) / pairs) if pairs else float("nan")


@dataclass
class TimingEvaluation:
    """Per model: calibration at each horizon, Brier scores and concordance on a holdout."""

    metrics: dict[str, dict[str, float]]
    calibration: dict[str, dict[str, list[float]]]
    landmarks: list[str]
    rows: int
    #: The distinct deals those rows are of (a deal open at several landmarks counts once).
    deals: int = 0


def evaluate_timing(
    models: dict[str, Any],
    history: DealHistory,
    at: Sequence[pd.Timestamp],
    observed_until: pd.Timestamp,
    *,
    horizons: Sequence[int] = (30, 60, 90),
) -> TimingEvaluation:
    """Score each model on the deals open at each date in `at`, against what happened next.

    Each landmark must lie at least max(horizons) days before `observed_until`, so every
    outcome inside the horizons is known. Features come from what was known at the landmark.
    """
    parts = []
    for t in at:
        rows = pipeline_rows(history, t)
        if rows.empty:
            continue
        parts.append(rows)
    if not parts:
        raise InsufficientHistory("no open deals at the holdout dates: nothing to evaluate on")
    rows = pd.concat(parts, ignore_index=True)
    truth = history.deals.set_index("id")
    closed_at = rows["id"].map(truth["closed_at"]).astype("datetime64[us]")
    won_final = rows["id"].map(truth["status"]).to_numpy() == WON
    days = ((closed_at - rows["as_of"]) / DAY).to_numpy(dtype=float)
    has_close = ~np.isnan(days)
    follow = ((observed_until - rows["as_of"]) / DAY).to_numpy(dtype=float)
    metrics: dict[str, dict[str, float]] = {}
    calibration: dict[str, dict[str, list[float]]] = {}
    hmax = max(horizons)
    for name, model in models.items():
        cum = model.cumulative(rows, list(horizons))
        out: dict[str, float] = {}
        briers = []
        for j, h in enumerate(horizons):
            closed_h = has_close & (days < h)
            won_h = closed_h & won_final
            p_close, p_won = cum["closed"][:, j], cum["won"][:, j]
            out[f"closed_{h}d_predicted"] = float(p_close.mean())
            out[f"closed_{h}d_observed"] = float(closed_h.mean())
            out[f"won_{h}d_predicted"] = float(p_won.mean())
            out[f"won_{h}d_observed"] = float(won_h.mean())
            out[f"brier_closed_{h}d"] = float(np.mean((p_close - closed_h) ** 2))
            out[f"brier_won_{h}d"] = float(np.mean((p_won - won_h) ** 2))
            briers.append(out[f"brier_won_{h}d"])
        out["brier"] = float(np.mean(briers))
        event = has_close & (days < follow)
        time_to = np.where(event, days, follow)
        risk = cum["closed"][:, list(horizons).index(hmax)]
        out["concordance"] = concordance_index(time_to, risk, event)
        metrics[name] = out
        p = cum["won"][:, -1]
        observed = (has_close & (days < hmax) & won_final).astype(float)
        bins = np.minimum((p * 10).astype(int), 9)
        table: dict[str, list[float]] = {"predicted": [], "observed": [], "count": []}
        for b in range(10):
            m = bins == b
            if m.any():
                table["predicted"].append(float(p[m].mean()))
                table["observed"].append(float(observed[m].mean()))
                table["count"].append(float(m.sum()))
        calibration[name] = table
    return TimingEvaluation(
        metrics,
        calibration,
        [str(as_timestamp(t).date()) for t in at],
        len(rows),
        int(rows["id"].nunique()),
    )
