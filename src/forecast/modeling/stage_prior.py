"""The deal model for a flat CRM export: a per-deal model at creation, times the CRM's stage odds.

A flat export (each deal's current stage, no stage dates) puts every training snapshot in the
first open stage, so a snapshot model cannot learn what a later stage is worth: the same open
deal scores the same at every stage. What the data does tell is how the deal's own attributes,
known at its creation, bear on the outcome; what the CRM tells is its configured probability of
each stage (a preset's stock probabilities or a mapping's `stage_probabilities`). The two are
combined in odds:

    logit p(won | x, s) = logit p_deal(x) + logit p_stage(s) − logit p_stage(first open stage)

where p_deal is a model fitted on one row per deal of what was known at its creation (its
attributes and the rep's and account's past win rates as of then: no stage, no age, nothing
observed later), which is P(won | x) in the first open stage. Why this combination: by Bayes'
rule, odds(won | x, s) = odds(won | s) × LR(x | s), where LR is the likelihood ratio of the
deal's attributes; if what the attributes say about the outcome is the same at every stage
(x independent of s given the outcome), LR(x | s) = odds(won | x, first) / odds(won | first),
which gives the line above. Only the CRM's *relative* stage odds enter, so the level stays the
one the data measured at creation (a CRM's stock 20% for the first stage need not be this
dataset's rate), and a later stage the CRM rates higher never scores lower. Stage
probabilities are clipped to [`FLOOR`, 1 − `FLOOR`] so that a stage configured at 0% or 100%
does not make a certainty of any deal.

The CRM's stage odds are a claim the flat export cannot confirm stage by stage (its closed deals
show no stage), and a CRM whose first stage says 10% where the data shows 35% won may overstate
every step after it: multiplied onto the data's level, its odds made a 75% stage score 94% where
35% of such deals were won. What the export can show is how many of the deals open now will be
won: the closed deals' times to close, won and lost, with the open ones censored at their age
(`won_after`, Aalen–Johansen), give each open deal's chance of being won from its age on. So the
stage's term is counted at the weight `stage_weight_` (between 0 and 1) that makes the open deals'
mean score that share (`OpenPipeline`): 1 where the CRM's odds are borne out (or the export
cannot tell), 0 where the open deals win no more often than new ones. A stage's score never
exceeds the CRM's odds over the first stage applied to the data's rate at creation, and the
pipeline's scores agree with the revenue forecast, whose time-to-close model reads the same
closes. A stage
without a probability (none in the export, or outside the known ones in the funnel) adds
nothing: it scores as a deal at creation, the level the data shows.

`StagePriorClassifier` serves like the simple families (`families`): additive in log-odds, one
term per input, the stage's term said with where its probability came from ("Stage = Contract
Sent: the CRM's preset stage probability 90% ...", or the mapping's, or one a drafted mapping
read off the export's deals: `said_of`). Once stage changes are pushed through the CRM sync API
(or an export with stage dates is imported), the history is real and the snapshot model learns
stage itself.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError

from forecast import features as feat
from forecast.data.stages import LOST, WON
from forecast.errors import InvalidInput
from forecast.history import JUST_AFTER, DealHistory
from forecast.modeling.contributions import bias as bias_of
from forecast.modeling.contributions import contributions as contributions_of
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import _check_fit_input
from forecast.modeling.families import OneModel, _grade_cuts, family_of
from forecast.modeling.reasons import Reason

#: Inputs that tell where a deal stands since its creation: never in the per-deal model.
STAGE_DEPENDENT: tuple[str, ...] = ("stage", "stage_index", "age_days", "days_in_stage")
#: Stage probabilities (and the combined one) are kept this far from 0 and 1.
FLOOR = 0.01
METHOD = "stage_prior"


def said_of(origin: str, many: bool = True) -> str:
    """Stage probabilities named by where they came from (a dataset's options'
    `stage_probabilities_from`): a drafted mapping's are read off the export's deals, neither
    a setting the user gave nor a win rate measured on the data."""
    noun = "stage probabilities" if many else "stage probability"
    if origin == "estimated":
        return f"the {noun} read off the export's deals"
    return f"the CRM's preset {noun}" if origin == "preset" else f"the mapping's {noun}"


def stage_probabilities(
    open_stages: Sequence[str], given: Mapping[str, float] | Sequence[tuple[str, float]]
) -> dict[str, float] | None:
    """Each open stage's probability in pipeline order, from the CRM's, kept within [`FLOOR`,
    1 − `FLOOR`]; None where no open stage has one. A stage without a probability between two
    that have one takes one between theirs (linear in log-odds: the funnel order puts it there);
    one before the first or after the last known is left out, not given its neighbour's (a
    stage drafted last for want of a probability is not known to be the last): a model scores
    it as a deal at creation, a fallback at the overall win rate."""
    probabilities = dict(given)
    known = {
        i: _logit(float(probabilities[s]))
        for i, s in enumerate(open_stages)
        if probabilities.get(s) is not None and not math.isnan(float(probabilities[s]))
    }
    if not known:
        return None
    at = sorted(known)
    inside = range(at[0], at[-1] + 1)
    filled = np.interp(np.asarray(inside), at, [known[i] for i in at])
    return {
        str(open_stages[i]): round(1.0 / (1.0 + math.exp(-v)), 6)
        for i, v in zip(inside, filled, strict=True)
    }


def _logit(p: float) -> float:
    p = min(max(p, FLOOR), 1 - FLOOR)
    return math.log(p / (1 - p))


def creation_rows(history: DealHistory, ids: Sequence[object]) -> pd.DataFrame:
    """One row per deal as it was known just after its creation (the as-of rule of
    `features.deal_rows_at`: fields as first known, win rates over deals closed before)."""
    deals = history.deals.iloc[history.positions(pd.unique(np.asarray(ids, dtype=object)))]
    points = pd.DataFrame(
        {"id": deals["id"].to_numpy(), "as_of": (deals["created_at"] + JUST_AFTER).to_numpy()}
    )
    return feat.deal_rows_at(history, points)


class StageEncoder(FeatureEncoder):
    """The per-deal model's encoder plus the stage, whose levels are the open stages in pipeline
    order; it says the stage's term as a stage probability of where it came from
    (`reasons.Wording`; a model saved before `origin` was kept says the mapping's)."""

    stage_column: str = "stage"
    probabilities: dict[str, float]
    origin: str = "mapping"
    #: The share of the stage's log-odds counted (`StagePriorClassifier.stage_weight_`).
    weight: float = 1.0

    def say(self, column: str, label: str, value: object, contribution: float) -> Reason | None:
        """The stage's reason in words; None for any other input (said the usual way)."""
        if column != self.stage_column or value is None:
            return None
        first = next(iter(self.probabilities))
        effect = "raises the score" if contribution > 0 else "lowers the score"
        counted = (
            f"; its odds counted at {self.weight:.0%}, as far as the closed deals' times to "
            "close bear them out"
            if self.weight < 1
            else ""
        )
        sentence = (
            f"{label} = {value}: {said_of(self.origin, many=False)} "
            f"{self.probabilities.get(str(value), math.nan):.0%} "
            f"({self.probabilities[first]:.0%} at {first}{counted}) {effect}"
        )
        return Reason(label, value, float(contribution), sentence)


class StagePriorClassifier(OneModel, ClassifierMixin, BaseEstimator):
    """A per-deal model of what was known at creation, combined in odds with the CRM's stage
    probabilities (the module docstring says why this way).

    `base` is an unfitted scorer (a `BoostedClassifier` with sigmoid calibration, or a
    `families` model); `stage_probabilities` maps stages to the CRM's probabilities and
    `open_stages` gives the pipeline order. `fit` takes one row per deal at its creation; the
    inputs in `drop` (stage, age) are never read by the per-deal model. Scores like the simple
    families (`encoder_`, `contributions`, `bias_`, `_calibrate`), so serving, reasons and the
    registry treat it as they treat them. Served, a deal's rep and account win rates are those
    of the scoring date (known then, so no leak; the model learned them as of creation). Grade
    cut points come from the training rows, all in the first stage, so later stages grade high.
    """

    def __init__(
        self,
        base: Any = None,
        stage_probabilities: Mapping[str, float] | None = None,
        open_stages: Sequence[str] = (),
        stage_column: str = "stage",
        drop: Sequence[str] = STAGE_DEPENDENT,
        grade_shares: tuple[float, float, float] = (0.2, 0.3, 0.3),
        probabilities_from: str = "mapping",
    ) -> None:
        self.base = base
        self.stage_probabilities = stage_probabilities
        self.open_stages = open_stages
        self.stage_column = stage_column
        self.drop = drop
        self.grade_shares = grade_shares
        self.probabilities_from = probabilities_from

    @property
    def family(self) -> str:
        """The per-deal model's family, with the stage prior (what serving's label says)."""
        inner = family_of(self.base_) if hasattr(self, "base_") else family_of(self.base)
        return f"{inner} with stage prior"

    def fit(
        self,
        X: pd.DataFrame,
        y: object,
        sample_weight: object = None,
        groups: object = None,
        pipeline: OpenPipeline | None = None,
    ) -> StagePriorClassifier:
        """Fit the per-deal model on creation rows `X` (stage and age left out), then set the
        stage terms (weighed so that the open deals of `pipeline` average the share of them
        the data says will be won: `stage_weight`; all of the CRM's odds without it), grade cut
        points and importance. Returns self."""
        y_arr, w = _check_fit_input(X, y, sample_weight)
        prior = stage_probabilities(self.open_stages, dict(self.stage_probabilities or {}))
        if prior is None:
            raise InvalidInput(
                "stage_probabilities: none of the open stages "
                f"{list(self.open_stages)} has a probability; give the CRM's stage probabilities"
            )
        inputs = X.drop(columns=[c for c in self.drop if c in X.columns])
        if self.base is None:
            raise InvalidInput("base: give the per-deal model to fit (an unfitted scorer)")
        base = clone(self.base)
        base.fit(inputs, y_arr, w) if groups is None else base.fit(inputs, y_arr, w, groups)
        self.base_ = base
        self.slope_, self.intercept_ = _sigmoid_calibration(base)
        first = _logit(next(iter(prior.values())))
        crm_offsets = np.array([_logit(p) - first for p in prior.values()], dtype=float)
        self.pipeline_check_: dict[str, float] = {}
        self.stage_weight_ = 1.0
        if pipeline is not None and len(pipeline.rows):
            z = _logit_of(self._per_deal(base, pipeline.rows))
            where = {stage: i for i, stage in enumerate(prior)}
            at = np.array([where.get(str(v), -1) for v in pipeline.stages], dtype=np.intp)
            offsets = np.where(at >= 0, crm_offsets[at], 0.0)
            self.stage_weight_ = stage_weight(z, offsets, pipeline.share_won)
            self.pipeline_check_ = {
                "open_deals": float(len(z)),
                "share_won_by_timing": round(pipeline.share_won, 4),
                "mean_score_at_the_crms_odds": round(float(_sigmoid(z + offsets).mean()), 4),
                "stage_weight": round(self.stage_weight_, 4),
            }
        self.offsets_ = self.stage_weight_ * crm_offsets
        self.encoder_ = _stage_encoder(base.encoder_, self.stage_column, prior)
        self.encoder_.origin = self.probabilities_from
        self.encoder_.weight = self.stage_weight_
        self.feature_names_in_ = np.array(self.encoder_.columns, dtype=object)
        self.n_features_in_ = len(self.encoder_.columns)
        self.bias_ = float(self.slope_ * bias_of(base) + self.intercept_)
        self.classes_ = np.array([0, 1])
        matrix = self.encoder_.transform(X)
        contrib = self.contributions(matrix)
        p = self._calibrate(contrib.sum(axis=1) + self.bias_)
        self.grade_cuts_ = _grade_cuts(p, w, self.grade_shares)
        spread = np.abs(contrib).mean(axis=0)
        spread[-1] = float(np.mean(np.abs(self.offsets_)))  # every stage, not only the first
        self.importance_ = pd.Series(spread, index=self.encoder_.columns).sort_values(
            ascending=False
        )
        return self

    def _per_deal(self, base: Any, X: pd.DataFrame) -> np.ndarray:
        inputs = X.drop(columns=[c for c in self.drop if c in X.columns])
        return np.asarray(base.predict_proba(inputs))[:, 1]

    def _check(self) -> None:
        if not hasattr(self, "base_"):
            raise NotFittedError("this StagePriorClassifier is not fitted yet: call fit first")

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Each input's term of the log-odds, `(rows, inputs)`: the per-deal model's terms
        (scaled by its calibration slope) and, last, the stage's log-odds over the first
        stage's (0 for a blank or unknown stage); the bias is `bias_`."""
        self._check()
        matrix = np.atleast_2d(matrix)
        out = np.empty((len(matrix), self.n_features_in_))
        out[:, :-1] = self.slope_ * contributions_of(self.base_, matrix[:, :-1])
        codes = matrix[:, -1]
        known = ~np.isnan(codes)
        out[:, -1] = 0.0
        out[known, -1] = self.offsets_[codes[known].astype(np.intp)]
        return out

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=float)))
        return np.clip(p, FLOOR, 1 - FLOOR)

    def per_deal_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The per-deal model's own probability (as at the first stage), for reports."""
        self._check()
        return np.asarray(self.base_.predict_proba(X))[:, 1]

    def importance(self) -> pd.Series:
        """Mean absolute log-odds term per input on the training rows (the stage: over the
        open stages), largest first."""
        self._check()
        return self.importance_


@dataclass(frozen=True)
class OpenPipeline:
    """What a flat export shows of the deals open now: their feature rows (`rows`), current
    stages (`stages`), and the share of them the closed deals' times to close say will be won
    (`share_won`, from their ages: `won_after`)."""

    rows: pd.DataFrame
    stages: np.ndarray
    share_won: float


def open_pipeline(history: DealHistory) -> OpenPipeline | None:
    """The deals open at the data's now with the share of them the data says will be won;
    None where there are none, or no dated closed deal to measure the timing on."""
    now = history.now()
    rows = feat.open_deal_rows(history, now)
    deals = history.final_deals
    ended = deals[
        deals["status"].isin([WON, LOST]) & deals["created_at"].notna() & deals["closed_at"].notna()
    ]
    if not len(rows) or not len(ended):
        return None
    day = pd.Timedelta(days=1)
    ages = ((now - rows["created_at"]) / day).to_numpy(dtype=float)
    ages = np.nan_to_num(ages, nan=0.0).clip(min=0)
    lasted = ((ended["closed_at"] - ended["created_at"]) / day).to_numpy(dtype=float).clip(min=0)
    won = (ended["status"] == WON).to_numpy()
    censored = np.zeros(len(ages), dtype=bool)
    chance = won_after(
        np.concatenate([lasted, ages]),
        np.concatenate([won, censored]),
        np.concatenate([~won, censored]),
        ages,
    )
    return OpenPipeline(
        feat.deal_features(rows, history.left_out),
        rows["stage"].astype("str").to_numpy(),
        float(chance.mean()),
    )


def won_after(
    durations: np.ndarray, won: np.ndarray, lost: np.ndarray, ages: np.ndarray
) -> np.ndarray:
    """P(won | still open at age a) for each of `ages` (days), from deals' `durations` (days to
    close, or to now where neither `won` nor `lost`: censored) by the Aalen–Johansen estimator:
    the won share of what closes after a, over what is still open at a. What is still open after
    the longest duration is split as the closed deals were, won or lost."""
    won, lost = np.asarray(won, dtype=bool), np.asarray(lost, dtype=bool)
    order = np.lexsort((~(won | lost), durations))  # at equal times, closes before censoring
    t = np.asarray(durations, dtype=float)[order]
    w, lo = won[order], lost[order]
    at_risk = len(t) - np.arange(len(t))
    open_after = np.cumprod(1.0 - (w | lo) / at_risk)
    open_before = np.concatenate([[1.0], open_after[:-1]])
    f_won = np.cumsum(open_before * w / at_risk)
    f_lost = np.cumsum(open_before * lo / at_risk)
    share = f_won[-1] / max(f_won[-1] + f_lost[-1], 1e-12)
    k = np.searchsorted(t, np.asarray(ages, dtype=float), side="right")
    still = np.where(k > 0, open_after[k - 1], 1.0)
    before = np.where(k > 0, f_won[k - 1], 0.0)
    later = f_won[-1] - before + open_after[-1] * share
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(still > 1e-12, np.clip(later / still, 0.0, 1.0), share)


def stage_weight(z: np.ndarray, offsets: np.ndarray, share_won: float) -> float:
    """The weight w in [0, 1] of the stage's log-odds `offsets` over the per-deal log-odds `z`
    at which the open deals' mean score σ(z + w·offsets) is `share_won` (bisection): 1 where
    even the CRM's full odds leave it below, 0 where the deals' own chances already reach it."""

    def mean(w: float) -> float:
        return float(_sigmoid(z + w * offsets).mean())

    if mean(1.0) <= share_won or not np.any(offsets):
        return 1.0
    if mean(0.0) >= share_won:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if mean(middle) < share_won else (low, middle)
    return (low + high) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _logit_of(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), FLOOR, 1 - FLOOR)
    return np.log(q / (1 - q))


def _sigmoid_calibration(model: Any) -> tuple[float, float]:
    """(slope, intercept) of the model's calibration p = σ(slope·raw + intercept): what lets its
    per-input terms be added to the stage's in log-odds."""
    calibrator = getattr(model, "calibrator_", None)
    if calibrator is not None:
        kind, a, b = calibrator
        if kind != "sigmoid":
            raise InvalidInput(
                "the per-deal model must be calibrated with a sigmoid (calibration='sigmoid') "
                "to be combined with stage probabilities"
            )
        return float(a), float(b)
    a, b = model.platt_
    return float(a), float(b)


def _stage_encoder(
    inner: FeatureEncoder, column: str, probabilities: Mapping[str, float]
) -> StageEncoder:
    """The per-deal model's encoder with the stage added last, its levels the open stages in
    pipeline order."""
    encoder = StageEncoder(inner.max_levels)
    encoder.__setstate__(
        {
            "max_levels": inner.max_levels,
            "columns": [*inner.columns, column],
            "levels": {**copy.deepcopy(inner.levels), column: list(probabilities)},
            "stage_column": column,
            "probabilities": dict(probabilities),
        }
    )
    return encoder


def fit_prior_families(
    X: pd.DataFrame,
    y: np.ndarray,
    probabilities: Mapping[str, float],
    bases: Mapping[str, Any],
    labels: dict[str, str],
    warnings: list[str],
    origin: str = "mapping",
    history: DealHistory | None = None,
) -> dict[str, StagePriorClassifier]:
    """One `StagePriorClassifier` per family in `bases` (family → unfitted per-deal model),
    fitted on creation rows `X`; a family that cannot be fitted is left out with a warning.
    `origin`: where the probabilities came from (`said_of`); `history`: the data whose open
    deals weigh the stage odds (`open_pipeline`), said in a warning."""
    pipeline = open_pipeline(history) if history is not None else None
    fitted: dict[str, StagePriorClassifier] = {}
    for family, base in bases.items():
        model = StagePriorClassifier(
            base, dict(probabilities), tuple(probabilities), probabilities_from=origin
        )
        try:
            fitted[family] = model.fit(X, y, pipeline=pipeline)
        except (InvalidInput, ValueError) as exc:
            warnings.append(f"{family} could not be fitted ({exc}): left out of the comparison")
            continue
        fitted[family].field_labels_ = labels
    if checked := [m.pipeline_check_ for m in fitted.values() if m.pipeline_check_]:
        warnings.append(_weight_note(checked, said_of(origin)))
    return fitted


def _weight_note(checks: Sequence[Mapping[str, float]], said: str) -> str:
    """What the open deals said of the stage odds (per family fitted), for the run's warnings."""
    weights = sorted(c["stage_weight"] for c in checks)
    counted = f"{weights[0]:.0%}" + (f"–{weights[-1]:.0%}" if weights[-1] > weights[0] else "")
    full = max(c["mean_score_at_the_crms_odds"] for c in checks)
    outcome = (
        "so they are counted in full" if weights[0] >= 1 else f"so they are counted at {counted}"
    )
    return (
        f"stage odds checked on the {int(checks[0]['open_deals'])} open deals: with {said} in "
        f"full they would average up to {full:.0%}; the closed deals' times to close say "
        f"{checks[0]['share_won_by_timing']:.0%} of deals open at their ages are won, {outcome} "
        "(a stage's score stays between the data's rate at creation and the one the CRM's odds "
        "over its first stage give)"
    )
