"""The timing baseline: per stage, the historical close-time distribution by deal age
(Kaplan–Meier with delayed entry, split into won and lost by the Aalen–Johansen estimator),
conditioned on the deal's current age."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from forecast.timing.rows import CENSORED, EVENT_LOST, EVENT_WON, _check_survival, _observed_from

# --- the baseline: per-stage close-time distributions --------------------------------------------


class StageKaplanMeier:
    """Per stage, cumulative incidence of won and lost closes by deal age (Aalen–Johansen).

    Each deal enters a stage's curve at the age it was first seen in that stage (delayed
    entry) and leaves at its close or at the cut (censored). A deal of age a in stage s then
    closes won within h days with probability (F_won(a+h) − F_won(a)) / S(a).
    """

    def __init__(self, max_age_days: int = 730, one_stage: bool = False) -> None:
        self.max_age_days = max_age_days
        self.one_stage = one_stage  # every deal in its first stage (as `TimeToClose.one_stage`)

    def _stages(self, rows: pd.DataFrame, blank: float) -> np.ndarray:
        if getattr(self, "one_stage", False):
            return np.zeros(len(rows), dtype=int)
        return np.nan_to_num(rows["stage_index"].to_numpy(dtype=float), nan=blank).astype(int)

    def fit(self, rows: pd.DataFrame, n_stages: int | None = None) -> StageKaplanMeier:
        _check_survival(rows)
        ordered = rows.sort_values("as_of", kind="stable")
        first = ordered.assign(_stage=self._stages(ordered, 0.0)).drop_duplicates(["id", "_stage"])
        stage = first["_stage"].to_numpy()
        self.n_stages_ = int(n_stages or (stage.max() + 1 if len(stage) else 1))
        age = first["age_days"].to_numpy(dtype=float).clip(min=0)
        exit_ = age + first["duration_days"].to_numpy(dtype=float)
        entry = np.minimum(age + _observed_from(first), exit_)
        ev = first["event"].to_numpy(dtype=int)
        self.curves_ = {
            s: self._curves(entry[stage == s], exit_[stage == s], ev[stage == s])
            for s in range(self.n_stages_)
        }
        self.pooled_ = self._curves(entry, exit_, ev)
        return self

    def _curves(self, entry: np.ndarray, exit_: np.ndarray, ev: np.ndarray) -> np.ndarray:
        """[S, F_won, F_lost] on the day grid 0..max_age (S(t): still open after day t)."""
        top = self.max_age_days
        e = np.clip(np.floor(entry).astype(int), 0, top)
        x = np.clip(np.ceil(exit_).astype(int), 0, top + 1)
        ev = np.where(np.ceil(exit_) > top, CENSORED, ev)
        size = top + 2
        enters = np.bincount(e + 1, minlength=size + 1)[:size]
        leaves = np.bincount(np.minimum(x + 1, size), minlength=size + 1)[:size]
        at_risk = np.cumsum(enters) - np.cumsum(leaves)  # entry < t <= exit
        d_won = np.bincount(x[ev == EVENT_WON], minlength=size)[:size]
        d_lost = np.bincount(x[ev == EVENT_LOST], minlength=size)[:size]
        with np.errstate(divide="ignore", invalid="ignore"):
            h_won = np.where(at_risk > 0, d_won / at_risk, 0.0)
            h_lost = np.where(at_risk > 0, d_lost / at_risk, 0.0)
        h = np.clip(h_won + h_lost, 0, 1)
        surv = np.cumprod(1.0 - h)
        before = np.concatenate([[1.0], surv[:-1]])
        f_won, f_lost = np.cumsum(before * h_won), np.cumsum(before * h_lost)
        return np.stack([surv, f_won, f_lost])[:, : top + 1]

    def cumulative(self, rows: pd.DataFrame, horizons_days: Sequence[float]) -> dict[str, Any]:
        if not hasattr(self, "curves_"):
            raise NotFittedError("this StageKaplanMeier is not fitted yet: call fit first")
        horizons = np.asarray(horizons_days, dtype=float)
        n = len(rows)
        stage = self._stages(rows, -1.0)
        age = np.nan_to_num(rows["age_days"].to_numpy(dtype=float), nan=0.0).clip(0)
        a = np.minimum(np.floor(age).astype(int), self.max_age_days)
        won, lost = np.zeros((n, len(horizons))), np.zeros((n, len(horizons)))
        for s in np.unique(stage):
            curves = self.curves_.get(int(s), self.pooled_)
            mask = stage == s
            surv, f_won, f_lost = curves
            base = surv[a[mask]]
            end = np.minimum(
                a[mask, None] + np.floor(horizons[None, :]).astype(int), self.max_age_days
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                won[mask] = np.where(
                    base[:, None] > 1e-12, (f_won[end] - f_won[a[mask], None]) / base[:, None], 0.0
                )
                lost[mask] = np.where(
                    base[:, None] > 1e-12,
                    (f_lost[end] - f_lost[a[mask], None]) / base[:, None],
                    0.0,
                )
        won, lost = won.clip(0, 1), lost.clip(0, 1)
        return {"won": won, "lost": lost, "closed": won + lost}
