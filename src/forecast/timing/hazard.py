"""The time-to-close model: a discrete-time competing-risks hazard (see `forecast.timing`).

Each probability is a logit `T(time cell) + S(deal attributes)`, fitted as two LightGBM boosters
in turn (the time part, then the attribute part with the time part as its offset). The time
cell is (stage, size band, age bin, days-in-stage bin, week of the quarter the bucket falls in).
The time part is evaluated once over every cell into a lookup table and the attribute part is
one booster call per deal, so scoring 100,000 deals over a quarter stays well under a second.
Scoring walks the buckets one at a time and keeps only running sums, so its memory grows with
the number of deals, not with how far ahead the window lies.

Fitting and scoring run checkpoints (`forecast.budget.check`: before each boosting round and
each time bucket), so a caller's time budget or cancel flag stops them within one step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from forecast import budget
from forecast.errors import InsufficientHistory
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import group_fractions
from forecast.timing.cohort import CohortLevel, cohort_level
from forecast.timing.kaplan_meier import StageKaplanMeier
from forecast.timing.life_table import amount_slope, centred_log_amount, life_table
from forecast.timing.logistic import expit
from forecast.timing.rows import EVENT_WON, STATIC_FEATURES, _check_survival, _observed_from

# --- the hazard model ----------------------------------------------------------------------------


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass
class _Part:
    """One probability (close hazard or won share): base + time table + attribute booster."""

    base: float
    table: np.ndarray  # [stage, age bin, days-in-stage bin] → logit offset
    booster: lgb.Booster | None
    #: A slope on log(1 + amount) (column `amount_column` of the attribute matrix, centred
    #: at `amount_center`): the size effect beyond the size bands, which trees shrink to nothing
    #: in the few largest deals that carry the revenue.
    amount_slope: float = 0.0
    amount_column: int = -1
    amount_center: float = 0.0

    def linear(self, matrix: np.ndarray) -> np.ndarray:
        j = getattr(self, "amount_column", -1)  # (a part saved before the slope has none)
        if j < 0 or len(matrix) == 0 or not getattr(self, "amount_slope", 0.0):
            return np.zeros(len(matrix))
        return self.amount_slope * centred_log_amount(matrix[:, j], self.amount_center)

    def static(self, matrix: np.ndarray) -> np.ndarray:
        out = self.linear(matrix)
        if self.booster is None or len(matrix) == 0:
            return out
        return out + cast(np.ndarray, self.booster.predict(matrix, raw_score=True))

    def shift_to(self, cell: np.ndarray, matrix: np.ndarray, y: np.ndarray) -> float:
        """Move this part's level (base and table) to what the rows given (the recent ones) show
        and return the shift. The model learns from years of weighted history, so a business
        that changed (new deals won half as often) reaches it only as the old rows fade; one
        offset fitted on the recent rows alone (a logistic intercept with the model as its
        offset, a few Newton steps) follows the change within a quarter. The offset is shrunk
        by its own noise, δ × max(0, 1 − var(δ) / δ²), so a steady business, where the recent
        rows differ by chance, keeps its model."""
        if len(y) == 0 or y.min() == y.max():
            return 0.0
        offset = self.table[cell] + self.static(matrix)
        target = y.astype(float)
        delta, info = 0.0, 0.0
        for _ in range(8):
            p = expit(offset + delta)
            info = float((p * (1 - p)).sum())
            if info <= 0:
                return 0.0
            step = float((target - p).sum()) / info
            delta += step
            if abs(step) < 1e-6:
                break
        if delta == 0:
            return 0.0
        delta *= max(0.0, 1.0 - (1.0 / info) / delta**2)  # 1 / info: the variance of δ
        self.base += delta
        self.table = self.table + delta
        return delta


class TimeToClose:
    """Competing-risks discrete-time hazard (see the module docstring): fit, then `cumulative`.

    Hyperparameters are stored unchanged; fitted state ends in `_`.
    """

    def __init__(
        self,
        bucket_days: int = 7,
        max_age_days: int = 364,
        size_bins: int = 4,
        calendar_weeks: int = 14,
        horizon_days: int = 182,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        reg_lambda: float = 5.0,
        n_estimators: int = 200,
        early_stopping_rounds: int = 30,
        validation_fraction: float = 0.15,
        n_jobs: int | None = None,
        random_state: int = 42,
        recent_days: float = 91.0,
        one_stage: bool = False,
    ) -> None:
        self.bucket_days = bucket_days
        #: Read every deal as in its first stage since creation: the leak check left the stage
        #: out (`export_leaks`: a flat export's, which tells which deals stay open).
        self.one_stage = one_stage
        self.max_age_days = max_age_days
        self.size_bins = size_bins
        self.calendar_weeks = calendar_weeks
        self.horizon_days = horizon_days
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.recent_days = recent_days

    # -- shapes

    @property
    def _bins(self) -> int:
        return int(math.ceil(self.max_age_days / self.bucket_days)) + 1

    @property
    def _weeks(self) -> int:
        return max(1, self.calendar_weeks)

    def _row_times(self, rows: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """Segment (stage × size band), age, days in stage and date (in days) of each row."""
        stage = np.nan_to_num(rows["stage_index"].to_numpy(dtype=float), nan=0.0)
        stage = stage.clip(0, self.n_stages_ - 1).astype(np.int64)
        amount = np.log1p(np.nan_to_num(rows["amount"].to_numpy(dtype=float), nan=0.0).clip(0))
        age = np.nan_to_num(rows["age_days"].to_numpy(dtype=float), nan=0.0).clip(min=0)
        dis = np.nan_to_num(rows["days_in_stage"].to_numpy(dtype=float), nan=0.0).clip(min=0)
        if getattr(self, "one_stage", False):  # (a model saved before the flag reads stages)
            stage, dis = np.zeros_like(stage), age
        stage = stage * self.n_sizes_ + np.searchsorted(self.size_edges_, amount, side="right")
        day = rows["as_of"].to_numpy("datetime64[us]").astype(np.int64) / 86_400e6
        return stage, age, dis, day

    def _cells(
        self, stage: np.ndarray, age: np.ndarray, dis: np.ndarray, day: np.ndarray, k: np.ndarray
    ) -> np.ndarray:
        """Flat time-table index `k` buckets after the landmark (broadcasts): segment, age bin,
        days-in-stage bin and the week of the quarter the bucket falls in (quarter-end push)."""
        b, top = self.bucket_days, self._bins - 1
        age_bin = np.minimum((age + k * b) // b, top).astype(np.int64)
        dis_bin = np.minimum((dis + k * b) // b, top).astype(np.int64)
        week = np.zeros(age_bin.shape, dtype=np.int64)
        if self.calendar_weeks > 0 and age_bin.size:
            mid = np.floor(day + k * b + b / 2).astype(np.int64)
            first = int(mid.min())
            week = _week_of_quarter(first, int(mid.max()) - first + 1, self._weeks)[mid - first]
        return ((stage * self._bins + age_bin) * self._bins + dis_bin) * self._weeks + week

    # -- fitting

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs or 1,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _train(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        init: np.ndarray,
        valid: np.ndarray,
        cat_idx: Sequence[int] = (),
    ) -> lgb.Booster | None:
        """One booster on top of `init` (logits), early-stopped on the `valid` rows if usable."""
        if len(y) == 0 or y.min() == y.max():
            return None

        def usable(m: np.ndarray) -> bool:
            return bool(m.any()) and 0 < float(y[m].max()) and float(y[m].min()) < 1

        use_valid = usable(valid) and usable(~valid)
        fit = ~valid if use_valid else np.ones(len(y), dtype=bool)
        train = lgb.Dataset(
            X[fit],
            y[fit],
            weight=w[fit],
            init_score=init[fit],
            categorical_feature=list(cat_idx),
            free_raw_data=True,
        )
        kwargs: dict[str, Any] = {"callbacks": [budget.lightgbm_callback()]}
        if use_valid:
            kwargs["valid_sets"] = [
                lgb.Dataset(
                    X[valid],
                    y[valid],
                    weight=w[valid],
                    init_score=init[valid],
                    categorical_feature=list(cat_idx),
                    reference=train,
                )
            ]
            kwargs["callbacks"].append(
                lgb.early_stopping(self.early_stopping_rounds, verbose=False)
            )
        rounds = self.n_estimators if use_valid else max(20, self.n_estimators // 5)
        booster = lgb.train(params, train, num_boost_round=rounds, **kwargs)
        best = booster.best_iteration or booster.current_iteration()
        if best < booster.current_iteration():
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        return booster

    @property
    def _shape(self) -> tuple[int, ...]:
        """The time table's axes: stage, size band, age bin, days-in-stage bin, week; the flat
        cell index (`_cells`) is the C-order index into this shape."""
        return (self.n_stages_, self.n_sizes_, self._bins, self._bins, self._weeks)

    def _fit_part(
        self,
        cell: np.ndarray,
        static_X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        groups: np.ndarray,
    ) -> _Part:
        """base + T(time cell) + S(attributes): T first, then S with T as offset.

        T only sees the binned time features, so its rows are aggregated per (cell, label,
        split) with summed weights: exact for a binary log-loss, and fast.
        """
        base = _logit(float(np.average(y, weights=w))) if len(y) else 0.0
        valid = group_fractions(groups, self.random_state) < self.validation_fraction
        size = self.n_segments_ * self._bins * self._bins * self._weeks
        # The boosters start from the life table (the rate per age bin and segment, shrunk
        # toward the pooled rate by pseudo-counts), not from one pooled rate: early stopping
        # then shrinks the table toward the life table, not toward a flat hazard.
        start = life_table(self._shape, cell, y, w, base)
        key = (cell * 2 + y.astype(np.int64)) * 2 + valid
        weight = np.bincount(key, weights=w, minlength=size * 4)
        present = np.flatnonzero(weight > 0)
        agg_cell, agg_y, agg_valid = present // 4, (present // 2) % 2, (present % 2).astype(bool)
        t_params = {
            **self._params(),
            "min_data_in_leaf": 1,
            "min_sum_hessian_in_leaf": 0.05 * self.min_child_samples,
        }
        t = self._train(
            t_params,
            np.column_stack(np.unravel_index(agg_cell, self._shape)).astype(float),
            agg_y.astype(float),
            weight[present],
            start[agg_cell],
            agg_valid,
        )
        t_raw = np.zeros(size) if t is None else grid_scores(t, self._shape)
        table = start + t_raw
        part = _Part(base=base, table=table, booster=None)
        columns = list(getattr(self.encoder_, "columns", []))
        fitted = amount_slope(columns, part.table[cell], static_X, y, w)
        if fitted is not None:
            part.amount_slope, part.amount_column, part.amount_center = fitted
        part.booster = self._train(
            self._params(),
            static_X,
            y,
            w,
            table[cell] + part.linear(static_X),
            valid,
            self.encoder_.categorical_indices,
        )
        return part

    def fit(self, rows: pd.DataFrame, n_stages: int | None = None) -> TimeToClose:
        """Fit on `survival_rows` output. Returns self."""
        _check_survival(rows)
        if not (rows["event"] > 0).any():
            raise InsufficientHistory(
                "no deal closed in the training data: the time to close cannot be learnt yet"
            )
        stage_index = rows["stage_index"].to_numpy(dtype=float)
        self.n_stages_ = int(n_stages or (np.nanmax(stage_index) + 1 if len(rows) else 1))
        # Size bands: big deals move slower, which a shift of the attribute part alone cannot
        # say, so size is part of the time table. The bands are cut at quantiles of the deals
        # and of their value (`_value_quantiles`), so the few largest deals, which carry the
        # revenue, get timing of their own.
        amounts = np.log1p(np.nan_to_num(rows["amount"].to_numpy(dtype=float), nan=0.0).clip(0))
        qs = np.linspace(0, 1, self.size_bins + 1)[1:-1]
        self.size_edges_ = (
            np.unique(np.concatenate([np.quantile(amounts, qs), _value_quantiles(amounts, qs)]))
            if len(qs)
            else np.array([])
        )
        self.n_sizes_ = len(self.size_edges_) + 1
        self.n_segments_ = self.n_stages_ * self.n_sizes_
        b, horizon = self.bucket_days, int(math.ceil(self.horizon_days / self.bucket_days))
        dur = rows["duration_days"].to_numpy(dtype=float)
        fol = rows["followup_days"].to_numpy(dtype=float)
        ev = rows["event"].to_numpy(dtype=int)
        n_full = np.floor(fol / b).astype(int)
        k_close = np.floor(dur / b).astype(int)
        usable = (ev > 0) & (k_close < n_full) & (k_close < horizon)
        n_rows = np.where(usable, k_close + 1, np.minimum(n_full, horizon))
        idx = np.repeat(np.arange(len(rows)), n_rows)
        k = np.arange(len(idx)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        # Weeks before observation started are not "still open": leave them out.
        seen = k * b >= _observed_from(rows)[idx]
        idx, k = idx[seen], k[seen]
        closes = usable[idx] & (k == k_close[idx])
        won = closes & (ev[idx] == EVENT_WON)
        if not closes.any():
            raise InsufficientHistory(
                "no close falls in a fully observed week before the cut: "
                "the time to close cannot be learnt yet"
            )
        stage0, age0, dis0, day0 = self._row_times(rows)
        cell = self._cells(stage0[idx], age0[idx], dis0[idx], day0[idx], k)
        self.encoder_ = FeatureEncoder().fit(rows[list(STATIC_FEATURES)])
        static_rows = self.encoder_.transform(rows[list(STATIC_FEATURES)])
        static_X = static_rows[idx]
        w = rows["weight"].to_numpy(dtype=float)[idx]
        groups = rows["id"].to_numpy()[idx]
        self.close_ = self._fit_part(cell, static_X, closes.astype(float), w, groups)
        budget.check()
        self.won_ = self._fit_part(
            cell[closes], static_X[closes], won[closes].astype(float), w[closes], groups[closes]
        )
        cut_day = float((day0 + rows["followup_days"].to_numpy(dtype=float)).max())
        # The deals created in the last `recent_days`, against older deals at the same ages
        # (`timing.cohort`): their level, in place of the recent one below.
        cohort = self._cohort_level(
            rows, idx, k, cell, static_X, closes, won, w, day0 - age0, cut_day - self.recent_days
        )
        # The level the last `recent_days` of the record show, where it differs beyond its noise.
        recent = (day0[idx] + k * b) >= cut_day - self.recent_days
        self.recent_shift_ = {
            "close": self.close_.shift_to(cell[recent], static_X[recent], closes[recent]),
            "won": self.won_.shift_to(
                cell[recent & closes], static_X[recent & closes], won[recent & closes]
            ),
        }
        self.cohort_ = replace(
            cohort, close_shift=self.recent_shift_["close"], won_shift=self.recent_shift_["won"]
        )
        self.n_rows_ = {
            "landmarks": len(rows),
            "deals": int(rows["id"].nunique()),
            "person_periods": len(idx),
            "closes": int(closes.sum()),
            "won_closes": int(won.sum()),
        }
        return self

    def _cohort_level(
        self,
        rows: pd.DataFrame,
        idx: np.ndarray,
        k: np.ndarray,
        cell: np.ndarray,
        static_X: np.ndarray,
        closes: np.ndarray,
        won: np.ndarray,
        w: np.ndarray,
        created: np.ndarray,
        since: float,
    ) -> CohortLevel:
        """The level of the deals created from `since` (days since 1970) on, each followed from
        its first landmark (its creation) until it closed or the cut, against the older deals
        followed from theirs over the same ages (`timing.cohort`)."""
        if self.recent_days <= 0:
            return CohortLevel(math.inf)
        ids = rows["id"].to_numpy()
        age = rows["age_days"].to_numpy(dtype=float)
        order = np.lexsort((age, ids))
        first = order[np.r_[True, ids[order][1:] != ids[order][:-1]]] if len(order) else order
        first = first[age[first] < self.bucket_days]  # a deal's creation landmark
        side = np.full(len(rows), -1)
        side[first] = np.where(created[first] >= since, 0, 1)  # 0: the cohort, 1: older deals
        at = side[idx]
        same_ages = k * self.bucket_days < self.recent_days
        parts = []
        for which in (0, 1):
            mine = (at == which) & same_ages
            h = expit(self.close_.table[cell[mine]] + self.close_.static(static_X[mine]))
            q = expit(self.won_.table[cell[mine]] + self.won_.static(static_X[mine]))
            parts.append((h, q, closes[mine], won[mine], w[mine] if which else None))
        return cohort_level(since, parts[0], parts[1], int((side == 0).sum()))

    # -- scoring

    def _check(self) -> None:
        if not hasattr(self, "close_"):
            raise NotFittedError("this TimeToClose is not fitted yet: call fit first")

    def static_scores(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The attribute parts (close, won) of each row's logits: they do not change with time,
        so a caller scoring the same deals at several dates computes them once."""
        self._check()
        static = (
            self.encoder_.transform(rows[list(STATIC_FEATURES)])
            if len(rows)
            else np.empty((0, len(STATIC_FEATURES)))
        )
        return self.close_.static(static), self.won_.static(static)

    def _buckets(
        self,
        rows: pd.DataFrame,
        buckets: int,
        static: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(won, lost) probability of closing in each of the next `buckets` buckets, one bucket
        at a time (N values each): memory stays per deal however many buckets are asked for."""
        self._check()
        stage0, age0, dis0, day0 = self._row_times(rows)
        s_close, s_won = static if static is not None else self.static_scores(rows)
        level = getattr(self, "cohort_", None)  # a model saved before it has none
        created = day0 - rows["age_days"].to_numpy(dtype=float)  # NaN (undated): left as is
        survive = np.ones(len(rows))
        for k in range(buckets):
            budget.check()
            cell = self._cells(stage0, age0, dis0, day0, np.full(len(rows), k))
            close, won = self.close_.table[cell] + s_close, self.won_.table[cell] + s_won
            if level is None:
                h, q = expit(close), expit(won)
            else:
                h, q = level.apply(created, close, won)
            closing = survive * h
            yield closing * q, closing * (1.0 - q)
            survive = survive * (1.0 - h)

    def bucket_probabilities(
        self,
        rows: pd.DataFrame,
        buckets: int,
        static: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, ...]:
        """(won, lost) probability of closing in each of the next `buckets` buckets (N × K)."""
        steps = list(self._buckets(rows, buckets, static))
        if not steps:
            empty = np.zeros((len(rows), 0))
            return empty, empty
        return np.column_stack([w for w, _ in steps]), np.column_stack([lo for _, lo in steps])

    def cumulative(
        self,
        rows: pd.DataFrame,
        horizons_days: Sequence[float],
        static: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """P(won / lost / closed within h days of each row's as_of), one column per horizon.

        Within a bucket the chance is spread uniformly (a horizon halfway through a bucket gets
        half of that bucket's closes)."""
        horizons = np.asarray(horizons_days, dtype=float)
        buckets = max(1, int(math.ceil(horizons.max() / self.bucket_days)))
        at = horizons / self.bucket_days
        whole = np.minimum(np.floor(at).astype(int), buckets)
        frac = np.where(whole < buckets, at - whole, 0.0)
        n = len(rows)
        won, lost = np.zeros((n, len(at))), np.zeros((n, len(at)))
        sum_won, sum_lost = np.zeros(n), np.zeros(n)
        for k, (w, lo) in enumerate(self._buckets(rows, buckets, static)):
            for j in np.flatnonzero(whole == k):
                won[:, j] = sum_won + frac[j] * w
                lost[:, j] = sum_lost + frac[j] * lo
            sum_won += w
            sum_lost += lo
        for j in np.flatnonzero(whole == buckets):
            won[:, j], lost[:, j] = sum_won, sum_lost
        return {"won": won, "lost": lost, "closed": won + lost}


def grid_scores(booster: lgb.Booster, shape: Sequence[int]) -> np.ndarray:
    """The booster's raw score at every point of the integer grid range(shape[0]) × ... (flat,
    C order): exactly `booster.predict(grid, raw_score=True)`, at a fraction of its cost.

    A numerical split sends x left when x <= its threshold, so values of a feature with the same
    number of the ensemble's thresholds below them take the same path through every tree: one
    representative per such class is scored and the rest are copies (0 is a class of its own,
    as LightGBM may treat zero as missing). The time table's grid (~800,000 cells) shrinks to
    the classes its trees tell apart (~100,000-200,000).
    """
    cuts: list[set[float]] = [set() for _ in shape]
    numerical = True

    def walk(node: dict[str, Any]) -> None:
        nonlocal numerical
        if "split_feature" in node:
            numerical = numerical and node.get("decision_type", "<=") == "<="
            if numerical:
                cuts[node["split_feature"]].add(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    if not numerical:  # a categorical split: no classes to read, score every point
        grid = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1)
        return cast(np.ndarray, booster.predict(grid.reshape(-1, len(shape)), raw_score=True))
    codes, representatives = [], []
    for axis, n in enumerate(shape):
        values = np.arange(n, dtype=float)
        below = np.searchsorted(np.array(sorted(cuts[axis])), values, side="left")
        key = np.where(values == 0, -1, below)
        _, first, code = np.unique(key, return_index=True, return_inverse=True)
        codes.append(code)
        representatives.append(values[first])
    points = np.stack(np.meshgrid(*representatives, indexing="ij"), -1).reshape(-1, len(shape))
    scores = cast(np.ndarray, booster.predict(points, raw_score=True))
    classes = scores.reshape([len(r) for r in representatives])
    return classes[np.ix_(*codes)].reshape(-1)


def _value_quantiles(log_amounts: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Edges of the size bands: quantiles of log(1 + amount) weighted by the amount (where any
    amount is positive), so each band holds an equal share of the value rather than of the
    deals. Revenue is carried by the largest deals, which also move slowest: count quantiles put
    them in one band with deals a tenth their size, and the forecast has them winning too fast."""
    value = np.expm1(log_amounts)
    if not (value > 0).any():
        return np.unique(np.quantile(log_amounts, qs))
    order = np.argsort(log_amounts, kind="stable")
    share = np.cumsum(value[order]) / value.sum()
    at = np.searchsorted(share, qs, side="left").clip(0, len(order) - 1)
    return np.unique(log_amounts[order][at])


def _week_of_quarter(first_day: int, days: int, weeks: int) -> np.ndarray:
    """Week of the quarter (0-based, capped) of each day from `first_day` (days since 1970)."""
    date = np.arange(first_day, first_day + days).astype("datetime64[D]")
    month = date.astype("datetime64[M]").astype(np.int64)
    start = (month - month % 3).astype("datetime64[M]").astype("datetime64[D]")
    return np.minimum((date - start).astype(np.int64) // 7, weeks - 1)


def window_probabilities(
    model: TimeToClose | StageKaplanMeier,
    rows: pd.DataFrame,
    start_days: float,
    end_days: float,
) -> dict[str, np.ndarray]:
    """P(won / lost / closed inside [as_of + start, as_of + end)) per row."""
    start, end = max(0.0, float(start_days)), max(0.0, float(end_days))
    if end <= start or len(rows) == 0:
        zeros = np.zeros(len(rows))
        return {"won": zeros, "lost": zeros, "closed": zeros}
    cum = model.cumulative(rows, [start, end])
    return {k: np.clip(v[:, 1] - v[:, 0], 0.0, 1.0) for k, v in cum.items()}
