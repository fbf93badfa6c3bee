"""The scoring models: a calibrated LightGBM classifier, per-team models, scores and grades.

- `BoostedClassifier`: LightGBM on the matrix `encoding.FeatureEncoder` makes, then a calibrator
  fitted on rows the booster never trained on; grade cut points (A–D) are stored with it. It
  follows the scikit-learn estimator contract (parameters stored unchanged in `__init__`, `fit`
  returns self, fitted state ends in `_`, `NotFittedError` before fit).
- `PerTeamClassifier`: one global model plus a model per team that has enough history and whose
  model ranks the team's unseen rows better than the global one.
- `to_score` and `grades_for`: a probability as the 0–100 score and the letter grade users see.
- `group_fractions`: the stable split by group (deal) the models and the training runs share.

What serving scores with (the model, or the labelled fallback) is chosen in `scorers`. The
scoring path for one row (`score_row`, `encode_row`) touches no DataFrame and no scikit-learn
pipeline: a dict lookup per field and one `Booster.predict` on a 1×d array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from forecast.errors import InvalidInput
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.memory import give_back

GRADES = ("A", "B", "C", "D")
_GRADE_LETTERS = np.array(GRADES[::-1])


#: A probability this little below a cut point is graded at it. The cut points are training
#: leads' own probabilities, and the ways a model's trees are summed (LightGBM's, tree by tree;
#: the compiled model's, in blocks) agree to 1e-12, not to the last bit: a lead at a cut point
#: would otherwise get an A from the API and a B from a batch without reasons.
GRADE_TOLERANCE = 1e-12


def grades_for(p: np.ndarray, cuts: tuple[float, float, float]) -> np.ndarray:
    """Letter grades: A at or above the first (highest) cut point, B at or above the second...
    (`GRADE_TOLERANCE` below one counts as at it)."""
    a, b, c = cuts
    return _GRADE_LETTERS[np.searchsorted([c, b, a], p + GRADE_TOLERANCE, side="right")]


def to_score(p: float | np.ndarray) -> int | np.ndarray:
    """A probability as the 0–100 score users see (grades come from the model's cut points).

    One probability gives an `int`; an array gives an array of them (rounded half to even, as
    Python's `round`)."""
    if isinstance(p, float):  # as numpy rounds it (half to even), without numpy's calls
        return round(100.0 * min(max(p, 0.0), 1.0))
    scaled = np.rint(100.0 * np.clip(np.asarray(p, dtype=float), 0.0, 1.0))
    return int(scaled) if scaled.ndim == 0 else scaled.astype(int)


# --- splitting by group -------------------------------------------------------------------------


def group_fractions(groups: Sequence[object] | np.ndarray, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per row, equal for rows of the same group.

    Rows of one deal (its snapshots) land on the same side of every split, and the same deal lands
    on the same side in every model that uses the same seed (global and per-team alike).
    """
    values = np.asarray(groups)
    if values.dtype == object:  # ids as text: each distinct id hashed once, then spread
        found, distinct = pd.factorize(values, use_na_sentinel=False)
        if all(isinstance(v, str) for v in distinct):  # else ids equal as objects, not text
            return _fractions(np.asarray(distinct, dtype=object), seed)[found]
    return _fractions(values, seed)


def per_group_weights(w: np.ndarray, groups: Sequence[object] | np.ndarray) -> np.ndarray:
    """`w` / the number of rows of each row's group: each group (deal) weighs its mean weight.

    What the booster fits and stops on: a deal open for a year has many snapshots, and unweighed
    they would make the trees mostly about long deals. The calibrator and the grade cut points
    take the rows' own weights, so the probabilities stay those of the rows as met."""
    found, _ = pd.factorize(np.asarray(groups), use_na_sentinel=False)
    return np.asarray(w, float) / np.bincount(found)[found]


def _fractions(values: np.ndarray, seed: int) -> np.ndarray:
    text = pd.Series(values).astype(str)
    hashed = pd.util.hash_pandas_object(text, index=False, hash_key=f"{seed:016d}"[:16])
    return (hashed.to_numpy() >> np.uint64(11)).astype(float) / float(2**53)


# --- the boosted model --------------------------------------------------------------------------


def _check_fit_input(X: object, y: object, sample_weight: object) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(X, pd.DataFrame):
        raise InvalidInput("the model takes a pandas DataFrame of features")
    if X.shape[1] == 0:
        raise InvalidInput("no feature columns to learn from")
    y_arr = np.asarray(y, dtype=float).ravel()
    if len(y_arr) != len(X):
        raise InvalidInput(f"{len(X)} rows but {len(y_arr)} labels")
    if np.isnan(y_arr).any() or not np.isin(y_arr, (0.0, 1.0)).all():
        raise InvalidInput("labels must be 0 or 1 with no missing values")
    if len(np.unique(y_arr)) < 2:
        raise InvalidInput("the labels hold one class only: a model needs both outcomes")
    w = np.ones(len(y_arr)) if sample_weight is None else np.asarray(sample_weight, float).ravel()
    if len(w) != len(y_arr):
        raise InvalidInput(f"{len(y_arr)} labels but {len(w)} weights")
    return y_arr, w


class BoostedClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM + calibration (isotonic or Platt), with grade cut points.

    Rows are split by group (e.g. deal id) into a fitting part, a small early-stopping part and a
    calibration part (`calibration_fraction`); the calibrator only sees rows the booster did not
    train on. The booster weighs each group one (`per_group_weights`), the calibrator each row
    its own weight. `grade_shares` are the target shares of grades A, B, C (D takes the rest),
    turned into probability cut points on the calibration rows and stored in `grade_cuts_`.
    `monotone_increasing` names inputs whose rise may never lower the score (LightGBM's
    `monotone_constraints`): a past win rate, where a noise split would otherwise give a
    higher rate a lower score and a reason that reads backwards.
    """

    # Set by fit: ("sigmoid", slope, intercept) or ("isotonic", x thresholds, y thresholds).
    calibrator_: tuple[str, float | np.ndarray, float | np.ndarray]
    #: A model saved before the parameter was kept reads none.
    monotone_increasing: tuple[str, ...] = ()

    def __init__(
        self,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        reg_lambda: float = 5.0,
        colsample_bytree: float = 0.8,
        subsample: float = 0.8,
        cat_smooth: float = 20.0,
        early_stopping_rounds: int = 50,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.2,
        validation_fraction: float = 0.1,
        max_levels: int = 200,
        grade_shares: tuple[float, float, float] = (0.2, 0.3, 0.3),
        n_jobs: int | None = None,
        random_state: int = 42,
        monotone_increasing: tuple[str, ...] = (),
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.cat_smooth = cat_smooth
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.validation_fraction = validation_fraction
        self.max_levels = max_levels
        self.grade_shares = grade_shares
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.monotone_increasing = monotone_increasing

    # -- fitting

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "feature_fraction": self.colsample_bytree,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "cat_smooth": self.cat_smooth,
            "min_data_per_group": max(10, self.min_child_samples // 2),
            "num_threads": self.n_jobs or 0,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _monotone(self, columns: Sequence[str]) -> dict[str, Any]:
        """LightGBM's `monotone_constraints` for `columns` (1: a rise never lowers the score),
        or nothing where no input of them is named in `monotone_increasing`."""
        rising = set(self.monotone_increasing)
        constraints = [1 if c in rising else 0 for c in columns]
        return {"monotone_constraints": constraints} if any(constraints) else {}

    def fit(
        self,
        X: pd.DataFrame,
        y: object,
        sample_weight: object = None,
        groups: object = None,
    ) -> BoostedClassifier:
        """Fit the booster, then the calibrator on rows it did not see. Returns self."""
        y_arr, w = _check_fit_input(X, y, sample_weight)
        if self.calibration not in ("sigmoid", "isotonic"):
            raise InvalidInput(
                f"calibration must be 'sigmoid' or 'isotonic', not {self.calibration!r}"
            )
        self.encoder_ = FeatureEncoder(self.max_levels).fit(X)
        self.feature_names_in_ = np.array(self.encoder_.columns, dtype=object)
        self.n_features_in_ = len(self.encoder_.columns)
        groups_arr = np.arange(len(X)) if groups is None else np.asarray(groups)
        u = group_fractions(groups_arr, self.random_state)
        calib = u < self.calibration_fraction
        valid = (~calib) & (u < self.calibration_fraction + self.validation_fraction)
        fit = ~(calib | valid)
        for part, name in ((fit, "fitting"), (calib, "calibration"), (valid, "early-stopping")):
            if len(np.unique(y_arr[part])) < 2:
                raise InvalidInput(
                    f"too few rows to fit: the {name} part ({int(part.sum())} rows) holds one "
                    "class only; give more history"
                )
        give_back()  # what checking, the levels and the split took, before the matrix
        self.booster_ = self._train(X, y_arr, per_group_weights(w, groups_arr), fit, valid)
        best = self.booster_.best_iteration or self.n_estimators
        if best < self.booster_.current_iteration():
            self.booster_ = lgb.Booster(model_str=self.booster_.model_to_string(num_iteration=best))
        self.best_iteration_ = int(best)
        # Dense input, so the booster returns a dense array.
        raw = cast(
            np.ndarray, self.booster_.predict(self.encoder_.transform(X, calib), raw_score=True)
        )
        self._fit_calibrator(raw, y_arr[calib], w[calib])
        p_calib = self._calibrate(raw)
        self.grade_cuts_ = self._grade_cuts(p_calib, w[calib])
        self.feature_importances_ = self.booster_.feature_importance("gain")
        self.classes_ = np.array([0, 1])
        self.n_rows_ = {
            "fit": int(fit.sum()),
            "early_stopping": int(valid.sum()),
            "calibration": int(calib.sum()),
        }
        return self

    def _train(
        self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray, fit: np.ndarray, valid: np.ndarray
    ) -> lgb.Booster:
        """The booster on the `fit` rows, stopped early on the `valid` rows.

        Each part's matrix is encoded on its own (`FeatureEncoder.transform` of the part's
        rows) and handed to its Dataset alone, which frees it once constructed
        (`free_raw_data`): no whole matrix beside copies of its parts (issue 14: at a million
        deals the matrix was 510 MiB and its fitting part 360 MiB)."""
        cat_idx = self.encoder_.categorical_indices
        train_set = lgb.Dataset(
            self.encoder_.transform(X, fit),
            y[fit],
            weight=w[fit],
            categorical_feature=cat_idx,
            free_raw_data=True,
        )
        valid_set = lgb.Dataset(
            self.encoder_.transform(X, valid),
            y[valid],
            weight=w[valid],
            categorical_feature=cat_idx,
            reference=train_set,
        )
        return lgb.train(
            {**self._lgb_params(), **self._monotone(self.encoder_.columns)},
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )

    def _fit_calibrator(self, raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        if self.calibration == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(raw.reshape(-1, 1), y.astype(int), sample_weight=w)
            self.calibrator_ = ("sigmoid", float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        else:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
            iso.fit(raw, y, sample_weight=w)
            self.calibrator_ = (
                "isotonic",
                np.asarray(iso.X_thresholds_, float),
                np.asarray(iso.y_thresholds_, float),
            )

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        kind, a, b = self.calibrator_
        if kind == "sigmoid":
            if len(raw) == 1:  # the same operations on one number: one numpy call, not six
                return np.array([1.0 / (1.0 + np.exp(-(a * float(raw[0]) + b)))])
            return 1.0 / (1.0 + np.exp(-(a * raw + b)))
        return np.interp(raw, a, b)

    def _grade_cuts(self, p: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(w[order]) / np.sum(w)
        cuts = []
        share = 0.0
        for s in self.grade_shares:
            share += s
            k = min(int(np.searchsorted(cum, share)), len(p) - 1)
            cuts.append(float(p[order][k]))
        return tuple(cuts)  # type: ignore[return-value]

    # -- scoring

    def _check(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("this BoostedClassifier is not fitted yet: call fit first")

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        self._check()
        return self.encoder_.transform(X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's raw score (log-odds before calibration)."""
        matrix = self.encode(X)
        return cast(np.ndarray, self.booster_.predict(matrix, raw_score=True))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def encode_row(self, row: Mapping[str, Any]) -> np.ndarray:
        self._check()
        return self.encoder_.encode_row(row)

    def score_row(self, row: Mapping[str, Any]) -> float:
        """Calibrated probability for one row given as a mapping (the fast path)."""
        x = self.encode_row(row)
        raw = cast(np.ndarray, self.booster_.predict(x, raw_score=True, num_threads=1))
        return float(self._calibrate(raw)[0])

    def grade(self, p: float | np.ndarray) -> str | np.ndarray:
        """Letter grade(s) from probability: A at or above the first cut point, and so on."""
        self._check()
        a, b, c = self.grade_cuts_
        if isinstance(p, float) or np.ndim(p) == 0:
            p = p + GRADE_TOLERANCE
            return "A" if p >= a else "B" if p >= b else "C" if p >= c else "D"
        return grades_for(np.asarray(p), (a, b, c))

    def model_for_row(self, row: Mapping[str, Any]) -> BoostedClassifier:
        return self

    def parts(self, X: pd.DataFrame) -> list[tuple[np.ndarray, BoostedClassifier]]:
        """(row mask, model) pairs covering X: here one model for all rows."""
        return [(np.ones(len(X), dtype=bool), self)]

    def importance(self) -> pd.Series:
        """Gain importance per input column, largest first."""
        self._check()
        return pd.Series(self.feature_importances_, index=self.encoder_.columns).sort_values(
            ascending=False
        )


# --- per-team models ----------------------------------------------------------------------------


class PerTeamClassifier(ClassifierMixin, BaseEstimator):
    """A global model, plus a model per team with enough history where it ranks better.

    A team gets its own model when its training part holds at least `min_won` won and `min_lost`
    lost groups (deals), and keeps it only if, on the team's rows that neither booster trained on
    (the shared calibration split), the team model's ROC AUC is higher than the global model's.
    All other teams, and teams never seen, use the global model.
    """

    def __init__(
        self,
        base: BoostedClassifier | None = None,
        team_column: str = "team",
        min_won: int = 200,
        min_lost: int = 200,
    ) -> None:
        self.base = base
        self.team_column = team_column
        self.min_won = min_won
        self.min_lost = min_lost

    def fit(
        self, X: pd.DataFrame, y: object, sample_weight: object = None, groups: object = None
    ) -> PerTeamClassifier:
        from sklearn.base import clone

        y_arr, w = _check_fit_input(X, y, sample_weight)
        base = self.base if self.base is not None else BoostedClassifier()
        groups_arr = np.arange(len(X)) if groups is None else np.asarray(groups)
        self.global_ = clone(base).fit(X, y_arr, w, groups_arr)
        give_back()  # the global fit's working memory, before the teams' fits
        self.team_models_: dict[str, BoostedClassifier] = {}
        self.team_report_: dict[str, dict[str, Any]] = {}
        if self.team_column in X:
            # Codes and distinct teams in order of appearance, not a Python object per row.
            team_codes, distinct = pd.factorize(X[self.team_column], use_na_sentinel=True)
            calib = group_fractions(groups_arr, base.random_state) < base.calibration_fraction
            for code, team in enumerate(distinct):
                mask = team_codes == code
                deals = pd.DataFrame({"g": groups_arr[mask], "y": y_arr[mask]}).drop_duplicates("g")
                won, lost = int(deals["y"].sum()), int((1 - deals["y"]).sum())
                entry: dict[str, Any] = {"won": won, "lost": lost, "used": False}
                self.team_report_[str(team)] = entry
                if won < self.min_won or lost < self.min_lost:
                    entry["why"] = (
                        f"too little history ({won} won, {lost} lost; needs "
                        f"{self.min_won} and {self.min_lost})"
                    )
                    continue
                try:
                    model = clone(base).fit(X[mask], y_arr[mask], w[mask], groups_arr[mask])
                except InvalidInput as exc:
                    entry["why"] = str(exc)
                    continue
                finally:
                    give_back()
                held = mask & calib
                if len(np.unique(y_arr[held])) < 2:
                    entry["why"] = "no held-out rows of both outcomes to compare on"
                    continue
                auc_team = roc_auc_score(
                    y_arr[held], model.decision_function(X[held]), sample_weight=w[held]
                )
                auc_global = roc_auc_score(
                    y_arr[held], self.global_.decision_function(X[held]), sample_weight=w[held]
                )
                entry.update(auc_team=float(auc_team), auc_global=float(auc_global))
                if auc_team > auc_global:
                    self.team_models_[str(team)] = model
                    entry["used"] = True
                    entry["why"] = "own model ranks the team's held-out deals better"
                else:
                    entry["why"] = "global model ranks the team's held-out deals as well or better"
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = self.global_.feature_names_in_
        self.n_features_in_ = self.global_.n_features_in_
        self.grade_cuts_ = self.global_.grade_cuts_
        return self

    def _check(self) -> None:
        if not hasattr(self, "global_"):
            raise NotFittedError("this PerTeamClassifier is not fitted yet: call fit first")

    def parts(self, X: pd.DataFrame) -> list[tuple[np.ndarray, BoostedClassifier]]:
        self._check()
        if not self.team_models_ or self.team_column not in X:
            return [(np.ones(len(X), dtype=bool), self.global_)]
        teams = X[self.team_column].astype(object).astype(str).to_numpy()
        out, rest = [], np.ones(len(X), dtype=bool)
        for team, model in self.team_models_.items():
            mask = teams == team
            if mask.any():
                out.append((mask, model))
                rest &= ~mask
        if rest.any():
            out.append((rest, self.global_))
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.empty(len(X))
        for mask, model in self.parts(X):
            p[mask] = model.predict_proba(X[mask])[:, 1]
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def model_for_row(self, row: Mapping[str, Any]) -> BoostedClassifier:
        self._check()
        return self.team_models_.get(str(row.get(self.team_column)), self.global_)

    def score_row(self, row: Mapping[str, Any]) -> float:
        return self.model_for_row(row).score_row(row)

    def grade(self, p: float | np.ndarray) -> str | np.ndarray:
        return self.global_.grade(p)

    def importance(self) -> pd.Series:
        return self.global_.importance()

    @property
    def teams_with_own_model(self) -> list[str]:
        self._check()
        return sorted(self.team_models_)
