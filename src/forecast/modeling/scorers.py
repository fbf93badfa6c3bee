"""What serving scores with: the champion model, or a labelled fallback when there is none.

A fallback is a real answer, said in words in every response: the per-stage historical win rate
for deals, the overall conversion rate for leads. A stage without a rate of its own (never seen,
or every stage when the stage history is flat and the rates cannot tell stages apart) gets the
overall win rate, and the fallback says that rather than call it the stage's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.errors import ModelNotReady
from forecast.modeling.deal_fitting import FLAT_STAGE_SHARE
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier
from forecast.modeling.stage_prior import said_of

MODEL = "model"
STAGE_WIN_RATE = "stage_win_rate"
BASE_RATE = "base_rate"
#: The label and rate wording of a stage-rate fallback whose stage history is flat.
FLAT_LABEL = (
    "fallback: overall historical win rate (the stage history is flat, so there is no "
    "per-stage win rate; no champion model yet)"
)
FLAT_WORDING = "overall win rate (no per-stage rate: the stage history is flat)"
UNDATED_LABEL = (
    "fallback: overall historical win rate (the ended deals lack the creation and close dates "
    "a per-stage win rate is learnt from; no champion model yet)"
)
UNDATED_WORDING = "overall win rate (no per-stage rate: the ended deals are not dated)"


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

    @property
    def ranks(self) -> bool:
        """Whether its scores can put one row above another: a model's, or a fallback whose
        rate differs by stage. One rate for every row (the base rate; the overall win rate of a
        flat or undated stage history) ranks nothing, so its scores get no grade."""
        if self.method == MODEL:
            return True
        return len({*(self.stage_rates or {}).values(), self.overall}) > 1

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

    def rate_sentence(self, stage: object, p: float) -> str:
        """A stage-rate fallback's reason for one deal: the stage's rate, or the overall win
        rate said as such when the fallback has no rate for that stage."""
        if self.stage_rates is not None and str(stage) in self.stage_rates:
            return f"Stage = {stage}: {self.rate_wording} {p:.0%} (no champion model yet)"
        return (
            f"Stage = {stage}: overall win rate {p:.0%}, as there is no per-stage rate for this "
            "stage (no champion model yet)"
        )

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

    `stage_rates` is a fitted `baselines.StageWinRate` or a {stage: rate} dict. A
    `StageWinRate` fitted on a flat stage history (nearly every snapshot in one stage) is the
    overall win rate for every stage, and labelled so. Raises `ModelNotReady` when there is
    neither a model nor anything to fall back on.
    """
    if model is not None:
        return Scorer(MODEL, "model", model=model)
    if stage_rates is not None:
        rates = getattr(stage_rates, "rates_", stage_rates)
        overall = getattr(stage_rates, "overall_", None)
        if overall is None:
            overall = float(np.mean(list(rates.values()))) if rates else 0.0
        if getattr(stage_rates, "top_share_", 0.0) >= FLAT_STAGE_SHARE:
            return Scorer(
                STAGE_WIN_RATE,
                FLAT_LABEL,
                stage_rates={},
                overall=float(overall),
                rate_wording=FLAT_WORDING,
            )
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


def undated_scorer(overall: float) -> Scorer:
    """The fallback of deals whose ended ones carry no dates: no stage can be told from another
    at a past date, so every deal gets the share of ended deals that were won, and says so."""
    return Scorer(
        STAGE_WIN_RATE,
        UNDATED_LABEL,
        stage_rates={},
        overall=float(overall),
        rate_wording=UNDATED_WORDING,
    )


def crm_stage_scorer(
    probabilities: Mapping[str, float], overall: float, origin: str = "mapping"
) -> Scorer:
    """The fallback of a flat export (current stages only, so no per-stage win rate to learn):
    the dataset's stage probabilities, which still rank a later stage above an earlier one,
    said as what they are (`origin`: the CRM's preset, the mapping's, read off the export).
    A stage whose probability is below the `overall` win rate scores at that rate, said as the
    overall rate: every won deal went through each open stage, so deals in any of them are won
    at least as often as deals at their creation (a CRM's 10% for a first stage whose deals
    were won 44% of the time put every new deal on the at-risk list)."""
    level = float(overall)
    rates = {str(s): float(p) for s, p in probabilities.items() if float(p) > level}
    floor = (
        f"; none below the overall win rate, {level:.0%}" if len(rates) < len(probabilities) else ""
    )
    return Scorer(
        STAGE_WIN_RATE,
        f"fallback: {said_of(origin)}{floor} (the export holds no stage history to learn "
        "per-stage win rates from, and no champion model yet)",
        stage_rates=rates,
        overall=level,
        rate_wording=said_of(origin, many=False),
    )
