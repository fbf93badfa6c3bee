"""The simple model families that may serve instead of LightGBM: logistic regression and naive
Bayes, as additive scorers on the same encoded matrix (`encoding.FeatureEncoder`).

On a small or plain dataset a logistic regression can rank as well as a boosted model, and then
it should serve rather than nothing. Both families here are additive in log-odds, one term per
input field, so their reasons are exact and cheap:

- `LinearClassifier`: logistic regression on one-hot text (levels seen `min_frequency` times;
  blank has its own column) and median-imputed, scaled numbers (plus a missing flag). A field's
  contribution is Σ coef × (x − training mean) over its design columns; with the bias (intercept
  + coef · mean) they sum to the log-odds.
- `NaiveBayesClassifier`: each field's value (text level, or a quantile bin of a number; blank is
  a value of its own) adds its log-likelihood ratio log P(v | won) / P(v | lost) (Laplace
  smoothed) to the prior log-odds; a Platt scaling fitted on the training rows tempers the
  overconfidence naive Bayes has when fields are correlated.

Both serve through the same path as `BoostedClassifier` (`forecast.scoring`): `encoder_`,
`contributions(matrix)`, `bias_`, `_calibrate(raw)`, `grade`, `model_for_row`, `parts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import _check_fit_input, grades_for

LIGHTGBM, LOGISTIC, NAIVE_BAYES = "lightgbm", "logistic_regression", "naive_bayes"
#: Every family a scorer run fits, the most complex first (a tie in the ranking goes to the
#: simpler one).
FAMILIES = (LIGHTGBM, LOGISTIC, NAIVE_BAYES)


def family_of(model: object) -> str:
    """The family of a fitted scorer (a model saved before families existed is LightGBM)."""
    return str(getattr(model, "family", LIGHTGBM))


def _grade_cuts(
    p: np.ndarray, w: np.ndarray, shares: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Probability cut points that give grades A, B, C about `shares` of the weight."""
    order = np.argsort(-p, kind="stable")
    cum = np.cumsum(w[order]) / np.sum(w)
    cuts, share = [], 0.0
    for s in shares:
        share += s
        cuts.append(float(p[order][min(int(np.searchsorted(cum, share)), len(p) - 1)]))
    return cuts[0], cuts[1], cuts[2]


#: Rows scored at once by `OneModel.decision_function` and by the holdout comparison
#: (`fitting.score_models`).
SCORE_ROWS = 65_536


class OneModel:
    """An additive scorer of one fitted model (no per-team parts): log-odds as a bias plus one
    term per input, probabilities, one row's score, grades, and itself as every row's model.
    The class using it gives what is declared below for the type checker."""

    if TYPE_CHECKING:
        encoder_: FeatureEncoder
        bias_: float
        grade_cuts_: tuple[float, float, float]

        def _check(self) -> None: ...

        def contributions(self, matrix: np.ndarray) -> np.ndarray: ...

        def _calibrate(self, raw: np.ndarray) -> np.ndarray: ...

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        self._check()
        return self.encoder_.transform(X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The log-odds: the bias plus each input's term (before calibration or clipping).

        Scored `SCORE_ROWS` rows at a time: a row's terms are its own, so the values are those
        of all rows at once, while a logistic regression's design of a million-row holdout
        (a float per level of every field, twice) is never whole (issue 14)."""
        self._check()
        parts = [
            self.contributions(self.encoder_.transform(X.iloc[i : i + SCORE_ROWS])).sum(axis=1)
            + self.bias_
            for i in range(0, len(X), SCORE_ROWS)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def score_row(self, row: Mapping[str, Any]) -> float:
        self._check()
        x = self.encoder_.encode_row(row)
        return float(self._calibrate(self.contributions(x).sum(axis=1) + self.bias_)[0])

    def grade(self, p: float | np.ndarray) -> str | np.ndarray:
        self._check()
        graded = grades_for(np.atleast_1d(np.asarray(p, dtype=float)), self.grade_cuts_)
        return str(graded[0]) if np.ndim(p) == 0 else graded

    def model_for_row(self, row: Mapping[str, Any]) -> Any:
        return self

    def parts(self, X: pd.DataFrame) -> list[tuple[np.ndarray, Any]]:
        return [(np.ones(len(X), dtype=bool), self)]

    @property
    def teams_with_own_model(self) -> list[str]:
        return []


class _Additive(OneModel, ClassifierMixin, BaseEstimator):
    """What both families share: encode, a log-odds that is a bias plus one term per field, a
    calibration, grades. Subclasses learn the terms (`_fit_terms`) and give them (`contributions`).
    """

    family = ""
    grade_shares: tuple[float, float, float] = (0.2, 0.3, 0.3)
    max_levels: int = 200

    def _fit_terms(self, matrix: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        raise NotImplementedError

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Each field's term of the log-odds, `(rows, fields)`; the bias is `bias_`."""
        raise NotImplementedError

    def fit(
        self, X: pd.DataFrame, y: object, sample_weight: object = None, groups: object = None
    ) -> _Additive:
        """Encode, learn the terms and the calibration, set grade cut points. Returns self."""
        y_arr, w = _check_fit_input(X, y, sample_weight)
        self.encoder_ = FeatureEncoder(self.max_levels).fit(X)
        self.feature_names_in_ = np.array(self.encoder_.columns, dtype=object)
        self.n_features_in_ = len(self.encoder_.columns)
        matrix = self.encoder_.transform(X)
        self._fit_terms(matrix, y_arr, w)
        contrib = self.contributions(matrix)
        raw = contrib.sum(axis=1) + self.bias_
        self._fit_calibration(raw, y_arr, w)
        self.grade_cuts_ = _grade_cuts(self._calibrate(raw), w, self.grade_shares)
        self.importance_ = pd.Series(
            np.average(np.abs(contrib), axis=0, weights=w), index=self.encoder_.columns
        ).sort_values(ascending=False)
        self.classes_ = np.array([0, 1])
        return self

    def _fit_calibration(self, raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        self.platt_ = (1.0, 0.0)

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.platt_
        return 1.0 / (1.0 + np.exp(-(a * np.asarray(raw, dtype=float) + b)))

    def _check(self) -> None:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")

    def importance(self) -> pd.Series:
        """Mean absolute contribution per input field on the training rows, largest first."""
        self._check()
        return self.importance_


class LinearClassifier(_Additive):
    """Logistic regression whose reasons are coef × (x − training mean), summed per field; a
    number beyond the training range counts as its edge.

    `monotone_increasing` names inputs whose rise may never lower the score (as
    `BoostedClassifier`'s): a past win rate, which a confounded input can leave with a negative
    weight, so a rep with a better record scores lower and hears "win rate 80%: lowers the
    score". Such an input's weight is held at zero and the rest refitted without it, until no
    named input weighs against (`held_at_zero_`); where none does, the fit is the plain one.
    """

    family = LOGISTIC
    #: A model saved before the parameter was kept reads none, and held none at zero.
    monotone_increasing: tuple[str, ...] = ()
    held_at_zero_: tuple[str, ...] = ()

    def __init__(
        self,
        C: float = 1.0,
        min_frequency: int = 10,
        max_iter: int = 2000,
        max_levels: int = 200,
        grade_shares: tuple[float, float, float] = (0.2, 0.3, 0.3),
        monotone_increasing: tuple[str, ...] = (),
    ) -> None:
        self.C = C
        self.min_frequency = min_frequency
        self.max_iter = max_iter
        self.max_levels = max_levels
        self.grade_shares = grade_shares
        self.monotone_increasing = monotone_increasing

    def _fit_terms(self, matrix: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        categorical = set(self.encoder_.categorical_indices)
        self.plan_: list[tuple[int, str, Any]] = []  # (field, "level"|"blank"|"number"|"flag", x)
        self.held_at_zero_ = ()
        for j in range(matrix.shape[1]):
            column = matrix[:, j]
            blank = np.isnan(column)
            if j in categorical:
                codes, counts = np.unique(column[~blank], return_counts=True)
                self.plan_ += [(j, "level", float(c)) for c in codes[counts >= self.min_frequency]]
                if blank.any():
                    self.plan_.append((j, "blank", None))
            elif not blank.all():
                median = float(np.median(column[~blank]))
                filled = np.where(blank, median, column)
                scale = float(np.std(filled)) or 1.0
                edges = (float(np.min(filled)), float(np.max(filled)))
                self.plan_.append((j, "number", (median, float(np.mean(filled)), scale, *edges)))
                if blank.any():
                    self.plan_.append((j, "flag", None))
        self.owner_ = np.array([j for j, _, _ in self.plan_], dtype=np.intp)
        design = self._design(matrix)
        if design.shape[1] == 0:  # no level seen often enough: the overall rate, nothing else
            rate = float(np.average(y, weights=w))
            self.coef_, self.mean_ = np.zeros(0), np.zeros(0)
            self.bias_ = float(np.log(rate / (1 - rate)))
            return
        self.coef_, intercept = self._fit_rising(design, y, w)
        self.mean_ = np.average(design, axis=0, weights=w)
        self.bias_ = float(intercept + self.coef_ @ self.mean_)

    def _fit_rising(self, design: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[Any, float]:
        """The coefficients and intercept of the logistic regression on `design`, no input named
        in `monotone_increasing` weighing against: each that does is held at zero and the rest
        refitted, until none does. Its number's design column is (clipped x − mean) / scale,
        rising with x, so a weight of zero or more never lowers the score as x rises; its blank
        flag is no rise of x and is left as learnt."""
        rising = set(self.monotone_increasing)
        names = self.encoder_.columns
        ruled = np.array([names[j] in rising and what == "number" for j, what, _ in self.plan_])
        kept = np.ones(design.shape[1], dtype=bool)
        while True:
            coef = np.zeros(design.shape[1])
            if not kept.any():  # every input held at zero: the overall rate
                rate = float(np.average(y, weights=w))
                intercept = float(np.log(rate / (1 - rate)))
                break
            lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
            lr.fit(design if kept.all() else design[:, kept], y.astype(int), sample_weight=w)
            coef[kept], intercept = lr.coef_[0], float(lr.intercept_[0])
            backwards = ruled & (coef < 0)
            if not backwards.any():
                break
            kept &= ~backwards
        self.held_at_zero_ = tuple(names[self.plan_[k][0]] for k in np.flatnonzero(~kept))
        return coef, intercept

    def _design(self, matrix: np.ndarray) -> np.ndarray:
        columns = []
        for j, what, x in self.plan_:
            column = matrix[:, j]
            if what == "level":
                columns.append(column == x)
            elif what in ("blank", "flag"):
                columns.append(np.isnan(column))
            else:
                # Beyond what training saw, a number counts as its edge: a straight line carried
                # past the data (a deal 700 days old where the oldest learnt from was 160) would
                # take the score to 0 or 1 on a slope nothing measured there.
                median, mean, scale, *edges = x  # a model saved before edges has none
                filled = np.where(np.isnan(column), median, column)
                if edges:
                    filled = np.clip(filled, *edges)
                columns.append((filled - mean) / scale)
        return np.column_stack(columns).astype(float) if columns else np.zeros((len(matrix), 0))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        self._check()
        terms = (self._design(matrix) - self.mean_) * self.coef_
        out = np.zeros((len(matrix), self.n_features_in_))
        np.add.at(out.T, self.owner_, terms.T)
        return out


class NaiveBayesClassifier(_Additive):
    """Naive Bayes over every field (numbers in quantile bins); reasons are each field's
    log-likelihood ratio."""

    family = NAIVE_BAYES

    def __init__(
        self,
        alpha: float = 1.0,
        numeric_bins: int = 5,
        max_levels: int = 200,
        grade_shares: tuple[float, float, float] = (0.2, 0.3, 0.3),
    ) -> None:
        self.alpha = alpha
        self.numeric_bins = numeric_bins
        self.max_levels = max_levels
        self.grade_shares = grade_shares

    def _values(self, matrix: np.ndarray) -> np.ndarray:
        """Each field's value as an index into its table: 0 for blank, then levels or bins."""
        out = np.zeros(matrix.shape, dtype=np.intp)
        for j in range(matrix.shape[1]):
            column = matrix[:, j]
            blank = np.isnan(column)
            edges = self.edges_.get(j)
            value = np.digitize(column, edges) if edges is not None else column
            out[:, j] = np.where(blank, 0, np.nan_to_num(value, nan=0.0).astype(np.intp) + 1)
        return out

    def _fit_terms(self, matrix: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        categorical = set(self.encoder_.categorical_indices)
        self.edges_: dict[int, np.ndarray] = {}
        sizes = []
        for j in range(matrix.shape[1]):
            column = matrix[:, j]
            if j in categorical:
                sizes.append(len(self.encoder_.levels[self.encoder_.columns[j]]) + 1)
                continue
            known = column[~np.isnan(column)]
            qs = np.linspace(0, 1, self.numeric_bins + 1)[1:-1]
            self.edges_[j] = np.unique(np.quantile(known, qs)) if len(known) else np.zeros(0)
            sizes.append(len(self.edges_[j]) + 2)
        values = self._values(matrix)
        w_pos, w_neg = float(np.sum(w * y)), float(np.sum(w * (1 - y)))
        self.tables_ = []
        for j, size in enumerate(sizes):
            pos = np.bincount(values[:, j], weights=w * y, minlength=size)
            neg = np.bincount(values[:, j], weights=w * (1 - y), minlength=size)
            p_pos = (pos + self.alpha) / (w_pos + self.alpha * size)
            p_neg = (neg + self.alpha) / (w_neg + self.alpha * size)
            # A value no training row had (a blank where none was, a level too rare to keep)
            # says nothing: smoothing alone would give it the classes' size ratio, raising the
            # score of every lead that leaves a field out where converted leads are fewer.
            self.tables_.append(np.where(pos + neg > 0, np.log(p_pos / p_neg), 0.0))
        self.bias_ = float(np.log(w_pos / w_neg))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        self._check()
        values = self._values(matrix)
        out = np.empty(values.shape)
        for j, table in enumerate(self.tables_):
            out[:, j] = table[np.minimum(values[:, j], len(table) - 1)]
        return out

    def _fit_calibration(self, raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(raw.reshape(-1, 1), y.astype(int), sample_weight=w)
        self.platt_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))


def family_model(family: str, monotone_increasing: tuple[str, ...] = ()) -> _Additive:
    """An unfitted model of a simple family (LightGBM is built by `fitting.boosted_classifier`).
    `monotone_increasing`: inputs whose rise may never lower the logistic regression's score
    (`LinearClassifier`); naive Bayes takes none (it scores each value's own bin)."""
    if family == LOGISTIC:
        return LinearClassifier(monotone_increasing=monotone_increasing)
    if family == NAIVE_BAYES:
        return NaiveBayesClassifier()
    raise ValueError(f"family must be {LOGISTIC!r} or {NAIVE_BAYES!r}, not {family!r}")


def held_at_zero_note(model: object, labels: Mapping[str, str]) -> str | None:
    """What training says of the inputs a fitted logistic regression (alone, or the per-deal
    model of a `StagePriorClassifier`) held at zero (`LinearClassifier.held_at_zero_`): the
    user sees why a past win rate they expect to count does not. None where it held none."""
    held = getattr(getattr(model, "base_", model), "held_at_zero_", ())
    if not held:
        return None
    named = ", ".join(labels.get(c, c) for c in held)
    return (
        f"logistic regression left out {named}: fitted on these deals, a higher value would "
        "have lowered its score (another input carries its effect), and a rise in it may "
        "never lower a score"
    )
