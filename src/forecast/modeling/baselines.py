"""The simple methods a user would otherwise use, which every model must beat.

- `StageWinRate`: the weighted pipeline: P(won) = the historical win rate of the deal's stage.
- `FrequencyNaiveBayes`: the frequency-based naive Bayes over categorical fields that open-source
  CRMs ship as "predictive lead scoring" (each field value's frequency among won and lost).
- `LogisticBaseline`: one-hot + scaled logistic regression, the usual first model.

All follow the scikit-learn classifier contract (`fit(X, y, sample_weight)` → self,
`predict_proba(X)` → (n, 2)) on the same feature frames the main model takes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from forecast import features as feat
from forecast.data.stages import LOST, WON
from forecast.errors import InvalidInput
from forecast.history import DealHistory

_MISSING = "(missing)"


def _check_xy(X: pd.DataFrame, y: object, sample_weight: object) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(X, pd.DataFrame):
        raise InvalidInput("baselines take a pandas DataFrame of features")
    y_arr = np.asarray(y, dtype=float).ravel()
    if len(y_arr) != len(X):
        raise InvalidInput(f"{len(X)} rows but {len(y_arr)} labels")
    if len(X) == 0:
        raise InvalidInput("no rows to fit")
    if np.isnan(y_arr).any() or not np.isin(y_arr, (0.0, 1.0)).all():
        raise InvalidInput("labels must be 0 or 1 with no missing values")
    w = np.ones(len(y_arr)) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    return y_arr, w


def _as_proba(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    return np.column_stack([1.0 - p, p])


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are not numeric (text, categories): pandas 3 text is the `str` dtype."""
    return [c for c in X.columns if not is_numeric_dtype(X[c])]


def stage_sums(stage: pd.Series, won: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """Weighted wins (`yw`) and weights (`w`) per stage: all `StageWinRate` learns from rows."""
    named = stage.astype(object).where(stage.notna(), _MISSING)
    frame = pd.DataFrame({"stage": named.to_numpy(), "yw": won * weight, "w": weight})
    return frame.groupby("stage")[["yw", "w"]].sum()


class StageWinRate(ClassifierMixin, BaseEstimator):
    """Per-stage historical win rate (smoothed toward the overall rate by `prior` pseudo-deals)."""

    def __init__(self, stage_column: str = "stage", prior: float = 10.0) -> None:
        self.stage_column = stage_column
        self.prior = prior

    def fit(self, X: pd.DataFrame, y: object, sample_weight: object = None) -> StageWinRate:
        y_arr, w = _check_xy(X, y, sample_weight)
        if self.stage_column not in X:
            raise InvalidInput(f"the stage win-rate baseline needs a {self.stage_column!r} column")
        self.overall_ = float(np.average(y_arr, weights=w))
        return self._fit_sums(stage_sums(X[self.stage_column], y_arr, w))

    def fit_sums(self, sums: pd.DataFrame) -> StageWinRate:
        """Fitted from per-stage sums of weighted wins and weights (`stage_sums`), added up
        over parts of the rows (slices of a dataset read on a cluster)."""
        sums = sums.groupby(level=0)[["yw", "w"]].sum()
        if len(sums) == 0 or float(sums["w"].sum()) <= 0:
            raise InvalidInput("no rows to fit")
        self.overall_ = float(sums["yw"].sum() / sums["w"].sum())
        return self._fit_sums(sums)

    def _fit_sums(self, agg: pd.DataFrame) -> StageWinRate:
        rates = (agg["yw"] + self.prior * self.overall_) / (agg["w"] + self.prior)
        self.rates_ = {str(k): float(v) for k, v in rates.items()}
        # How much of the weight sits in one stage: near 1, the rows come from a flat history
        # (an export of current stages only) and the rates cannot tell open stages apart.
        total = float(agg["w"].sum())
        self.top_share_ = float(agg["w"].max()) / total if total > 0 else 1.0
        self.classes_ = np.array([0, 1])
        return self

    def rate(self, stage: object) -> float:
        """The win rate of one stage (the overall rate for a stage never seen)."""
        check_is_fitted(self, "rates_")
        key = _MISSING if stage is None or stage != stage else str(stage)
        return self.rates_.get(key, self.overall_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "rates_")
        stage = X[self.stage_column].astype(object).where(X[self.stage_column].notna(), _MISSING)
        p = stage.astype(str).map(self.rates_).fillna(self.overall_).to_numpy(dtype=float)
        return _as_proba(p)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class FrequencyNaiveBayes(ClassifierMixin, BaseEstimator):
    """Naive Bayes over categorical fields from value frequencies among won and lost.

    P(won | x) ∝ P(won) · Π_f P(x_f | won), with Laplace smoothing `alpha`. A missing value is a
    value of its own. Numeric columns are ignored unless `numeric_bins` > 0 (then cut into that
    many quantile bins), matching what CRMs ship: their lead scoring uses categorical fields only.
    """

    def __init__(self, alpha: float = 1.0, numeric_bins: int = 0) -> None:
        self.alpha = alpha
        self.numeric_bins = numeric_bins

    def _values(self, X: pd.DataFrame, col: str) -> pd.Series:
        series = X[col]
        if col in self.bin_edges_:
            binned = np.digitize(series.to_numpy(dtype=float), self.bin_edges_[col])
            out = pd.Series(binned.astype(str), index=X.index).astype(object)
            return out.where(series.notna(), _MISSING)
        return series.astype(object).where(series.notna(), _MISSING).astype(str)

    def fit(self, X: pd.DataFrame, y: object, sample_weight: object = None) -> FrequencyNaiveBayes:
        y_arr, w = _check_xy(X, y, sample_weight)
        if len(np.unique(y_arr)) < 2:
            raise InvalidInput("naive Bayes needs both classes in the training labels")
        self.bin_edges_: dict[str, np.ndarray] = {}
        cats = categorical_columns(X)
        if self.numeric_bins > 0:
            for col in X.columns:
                if col not in cats and X[col].notna().any():
                    qs = np.linspace(0, 1, self.numeric_bins + 1)[1:-1]
                    self.bin_edges_[col] = np.unique(np.nanquantile(X[col].astype(float), qs))
        self.columns_ = cats + list(self.bin_edges_)
        w_pos, w_neg = float(np.sum(w * y_arr)), float(np.sum(w * (1 - y_arr)))
        self.log_prior_ = float(np.log(w_pos / w_neg))
        self.tables_: dict[str, tuple[dict[str, float], float]] = {}
        for col in self.columns_:
            values = self._values(X, col)
            frame = pd.DataFrame({"v": values.to_numpy(), "pos": w * y_arr, "neg": w * (1 - y_arr)})
            agg = frame.groupby("v")[["pos", "neg"]].sum()
            k = len(agg) + 1  # one slot for values never seen
            pos = (agg["pos"] + self.alpha) / (w_pos + self.alpha * k)
            neg = (agg["neg"] + self.alpha) / (w_neg + self.alpha * k)
            unseen = float(
                np.log(
                    (self.alpha / (w_pos + self.alpha * k))
                    / (self.alpha / (w_neg + self.alpha * k))
                )
            )
            self.tables_[col] = ({str(v): float(r) for v, r in np.log(pos / neg).items()}, unseen)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "tables_")
        logit = np.full(len(X), self.log_prior_)
        for col in self.columns_:
            table, unseen = self.tables_[col]
            if col not in X:
                continue
            logit += self._values(X, col).map(table).fillna(unseen).to_numpy(dtype=float)
        return _as_proba(1.0 / (1.0 + np.exp(-logit)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class LogisticBaseline(ClassifierMixin, BaseEstimator):
    """Logistic regression: numeric imputed (median + missing flag) and scaled, text one-hot."""

    def __init__(self, C: float = 1.0, min_frequency: int = 10, max_iter: int = 2000) -> None:
        self.C = C
        self.min_frequency = min_frequency
        self.max_iter = max_iter

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X[self.columns_].copy()
        for col in self.categorical_:
            X[col] = X[col].astype(object).where(X[col].notna(), _MISSING).astype(str)
        for col in self.numeric_:
            X[col] = X[col].astype(float)
        return X

    def fit(self, X: pd.DataFrame, y: object, sample_weight: object = None) -> LogisticBaseline:
        y_arr, w = _check_xy(X, y, sample_weight)
        self.columns_ = list(X.columns)
        self.categorical_ = categorical_columns(X)
        self.numeric_ = [
            c for c in self.columns_ if c not in self.categorical_ and X[c].notna().any()
        ]
        steps = []
        if self.numeric_:
            steps.append(
                (
                    "num",
                    make_pipeline(
                        SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                    ),
                    self.numeric_,
                )
            )
        if self.categorical_:
            steps.append(
                (
                    "cat",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist", min_frequency=self.min_frequency
                    ),
                    self.categorical_,
                )
            )
        self.pipeline_ = Pipeline(
            [
                ("prep", ColumnTransformer(steps)),
                ("lr", LogisticRegression(C=self.C, max_iter=self.max_iter)),
            ]
        )
        self.pipeline_.fit(self._prepare(X), y_arr.astype(int), lr__sample_weight=w)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict_proba(self._prepare(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def baselines_for(kind: str) -> dict[str, BaseEstimator]:
    """The baselines run beside a model: all three for deals; no stage for leads."""
    found: dict[str, BaseEstimator] = {}
    if kind == "deals":
        found["stage_win_rate"] = StageWinRate()
    found["naive_bayes"] = FrequencyNaiveBayes()
    found["logistic_regression"] = LogisticBaseline()
    return found


def stage_win_rates(history: DealHistory, *, every_days: int = 14) -> StageWinRate | None:
    """The per-stage win rate from whatever history exists (for scoring when no model is ready).

    Fitted on the same rows as the models' training rows (`features.deal_training_rows`: each
    ended deal at its snapshots), each snapshot weighing one (`_stage_rows`); only their stage
    and label are built: the rest of a row (fields, rep and account rates) is most of its
    cost, and the forecast asks for these rates at every date it is made. Returns None when
    no deal has ended.
    """
    if len(history.deals) == 0:
        return None
    stage, won, weight = _stage_rows(history, every_days)
    if len(stage) == 0:
        return None
    return StageWinRate().fit(pd.DataFrame({"stage": stage}), won, sample_weight=weight)


def history_stage_sums(history: DealHistory, *, every_days: int = 14) -> pd.DataFrame:
    """`stage_sums` of the rows `stage_win_rates` learns from: a slice of a history's, added
    up with the other slices' (`StageWinRate.fit_sums`), give the whole history's rates."""
    if len(history.deals) == 0:
        return stage_sums(pd.Series([], dtype=object), np.zeros(0), np.zeros(0))
    stage, won, weight = _stage_rows(history, every_days)
    return stage_sums(stage, won, weight)


def _stage_rows(history: DealHistory, every_days: int) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Stage, won (1/0) and weight of `deal_training_rows`' rows, in the same order, from the
    snapshot points and the stage history alone. Each snapshot weighs one: a stage's rate is
    then the share won of the deals met in it. Weighted 1 / a deal's rows, a won deal (longer
    lived, more rows) weighed less in each stage, and the first stage's rate, which the
    weighted pipeline and the fallback score by, came out a third of the truth (a walkthrough
    measured 12% where 36% of the deals in Prospecting were won)."""
    deals = history.final_deals  # as `features._ended`: the same rows
    ended = deals[
        deals["status"].isin([WON, LOST]) & deals["created_at"].notna() & deals["closed_at"].notna()
    ]
    spans = ended[["id", "created_at"]].assign(end=ended["closed_at"])
    spans = spans[spans["end"] >= spans["created_at"]]
    points = feat.snapshot_points(history, spans, every_days)
    pos = history.positions(points["id"])
    when = points["as_of"].to_numpy("datetime64[us]")
    created = deals["created_at"].to_numpy("datetime64[us]")
    keep = pos >= 0
    keep[keep] = created[pos[keep]] < when[keep]
    pos, when = pos[keep], when[keep]
    order = np.lexsort((when.view("int64"), pos))
    pos, when = pos[order], when[order]
    stage, _ = history.stage_at(pos, when)
    won = (deals["status"].to_numpy()[pos] == WON).astype(float)
    return pd.Series(stage).astype("str"), won, np.ones(len(won))
