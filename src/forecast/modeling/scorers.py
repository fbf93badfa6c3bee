"""What serving scores with: the champion model, or a labelled fallback when there is none.

A fallback is a real answer, said in words in every response: the per-stage historical win rate
for deals, the overall conversion rate for leads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.errors import ModelNotReady
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier

MODEL = "model"
STAGE_WIN_RATE = "stage_win_rate"
BASE_RATE = "base_rate"


@dataclass
class Scorer:
    """What scores requests: `method` says which, `label` says it in words for every response."""

    method: str
    label: str
    model: Any = None
    stage_rates: dict[str, float] | None = None
    overall: float | None = None
    stage_column: str = "stage"
    #: What a stage-rate fallback's rates are, said in its reasons.
    rate_wording: str = "historical win rate"

    @property
    def is_fallback(self) -> bool:
        return self.method != MODEL

    def fallback_inputs(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """What a fallback reads of each row, as a float matrix: the position of the row's stage
        in `stage_rates` (NaN for a stage it holds no rate for); nothing for the base rate."""
        if self.method != STAGE_WIN_RATE or self.stage_rates is None:
            return np.empty((len(rows), 0))
        codes = {stage: float(i) for i, stage in enumerate(self.stage_rates)}
        column = self.stage_column
        return np.array(
            [codes.get(str(r.get(column)), math.nan) for r in rows], dtype=float
        ).reshape(len(rows), 1)

    def fallback_rates(self, inputs: np.ndarray) -> np.ndarray:
        """A fallback's probability per row of `fallback_inputs`: the stage's historical win
        rate, else the overall rate."""
        overall = float(self.overall or 0.0)
        if inputs.shape[1] == 0 or self.stage_rates is None:
            return np.full(len(inputs), overall)
        rates = np.array([*self.stage_rates.values(), overall], dtype=float)
        codes = inputs[:, 0]
        return rates[np.where(np.isnan(codes), len(rates) - 1, codes).astype(np.intp)]

    def score_row(self, row: Mapping[str, Any]) -> float:
        """One row's probability, without reasons (the service: `forecast.scoring.score`)."""
        if self.method == MODEL:
            return self.model.score_row(row)
        return float(self.fallback_rates(self.fallback_inputs([row]))[0])


def select_scorer(
    model: BoostedClassifier | PerTeamClassifier | None,
    *,
    stage_rates: Any = None,
    base_rate: float | None = None,
) -> Scorer:
    """The model if there is one; otherwise the per-stage win rate (deals) or base rate (leads).

    `stage_rates` is a fitted `baselines.StageWinRate` or a {stage: rate} dict. Raises
    `ModelNotReady` when there is neither a model nor anything to fall back on.
    """
    if model is not None:
        return Scorer(MODEL, "model", model=model)
    if stage_rates is not None:
        rates = getattr(stage_rates, "rates_", stage_rates)
        overall = getattr(stage_rates, "overall_", None)
        if overall is None:
            overall = float(np.mean(list(rates.values()))) if rates else 0.0
        return Scorer(
            STAGE_WIN_RATE,
            "fallback: per-stage historical win rate (no champion model yet)",
            stage_rates=dict(rates),
            overall=float(overall),
        )
    if base_rate is not None:
        return Scorer(
            BASE_RATE,
            "fallback: overall conversion rate (no champion model yet)",
            overall=float(base_rate),
        )
    raise ModelNotReady(
        "no trained model and no history to fall back on: import data and run `forecast train`"
    )


def crm_stage_scorer(probabilities: Mapping[str, float], overall: float) -> Scorer:
    """The fallback of a flat export (current stages only, so no per-stage win rate to learn):
    the CRM's own stage probabilities, which still rank a later stage above an earlier one."""
    return Scorer(
        STAGE_WIN_RATE,
        "fallback: the CRM's stage probabilities (the export holds no stage history to learn "
        "per-stage win rates from, and no champion model yet)",
        stage_rates=dict(probabilities),
        overall=float(overall),
        rate_wording="the CRM's stage probability",
    )
