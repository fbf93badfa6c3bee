"""Time to close: when will an open deal close, and will it be won when it does?

The forecast needs, per open deal, P(won AND closed inside [t0, t1)). Win and timing are linked
(in the shared data lost deals close in a median 14 days, won ones in 57), so multiplying a win
probability by an independent "closes in the period" probability is wrong. We model them as
**competing risks in discrete time**:

    h_k = P(closes in bucket k | still open at its start)      (the close hazard)
    q_k = P(won | closes in bucket k)                          (the won share at close)
    P(won in bucket k) = S_k · h_k · q_k,   S_k = Π_{j<k} (1 − h_j)

which is exactly the cause-specific hazard decomposition (h_won = h·q, h_lost = h·(1−q)).
P(won within a window) sums these over the buckets the window covers (pro rata at its edges).

Censoring: each training deal is seen from **landmarks** (its creation, each stage entry and
every `every_days` while open) and followed bucket by bucket until it closes or observation
ends. A deal still open at the end contributes "did not close" for every fully observed bucket
and nothing after: censored, not dropped. A bucket is used only when it ended before the cut,
so a close in a half-observed bucket is never counted (that would bias the hazard upward).
Features are those known at the landmark (stage, age, days in stage, amount, product, team,
rep's and account's past win rates); the stage is frozen at the landmark, which is what a
forecast can know about the future.

Each probability is a logit `T(time cell) + S(deal attributes)`, fitted as two LightGBM boosters
in turn (the time part, then the attribute part with the time part as its offset). The time
cell is (stage, size band, age bin, days-in-stage bin, week of the quarter the bucket falls in):
size because big deals move slower, which a shift of the attribute part alone cannot say; the
week because deals cluster their closes at quarter end. The time part is evaluated once over
every cell into a lookup table and the attribute part is one booster call per deal, so scoring
100,000 deals over a quarter stays well under a second, which a booster evaluated per deal
*and* bucket could not do.

Landmarks weigh one each (weighting a deal by 1 / its number of landmarks would let its future
decide its weight), and observation starts the day before the first close the data records.

Baseline (`StageKaplanMeier`): per stage, the historical close-time distribution by deal age
(Kaplan–Meier with delayed entry, split into won and lost by the Aalen–Johansen estimator),
conditioned on the deal's current age.

As-of rule: `survival_rows` and `pipeline_rows` first cut the data with
`DealHistory.known_before`, so a model fitted at t never sees a stage entry, a close or a field
value recorded at or after t.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from forecast import features as feat
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.history import DealHistory, as_timestamp
from forecast.models import FeatureEncoder, group_fractions
from forecast.promotion import decide_timing_promotion  # noqa: F401 - old import path, for tests
from forecast.settings import Settings, get_settings
from forecast.stages import LOST, WON

#: Features that make up the time part of the hazard (binned into the lookup table).
TIME_FEATURES: tuple[str, ...] = ("stage_index", "age_days", "days_in_stage")
#: Deal attributes known at the landmark: the booster part, evaluated once per deal.
STATIC_FEATURES: tuple[str, ...] = tuple(
    c for c in feat.DEAL_FEATURES if c not in ("stage", *TIME_FEATURES)
)
#: Event codes of survival rows.
CENSORED, EVENT_WON, EVENT_LOST = 0, 1, 2
DAY = pd.Timedelta(days=1)


# --- the data, as known at a date ----------------------------------------------------------------


def landmarks(history: DealHistory, until: pd.Timestamp, every_days: int) -> pd.DataFrame:
    """(id, as_of) while each deal was open before `until`: just after its creation and each
    stage entry, and every `every_days` days."""
    deals = history.deals[history.deals["created_at"].notna()]
    closed = deals["closed_at"]
    end = closed.where(closed.notna() & (closed < until), until)
    frame = pd.DataFrame({"id": deals["id"].to_numpy(), "created_at": deals["created_at"],
                          "end": end.to_numpy()})
    return feat._snapshot_points(history, frame, every_days)


def survival_rows(
    history: DealHistory,
    until: object,
    *,
    every_days: int = 28,
) -> pd.DataFrame:
    """Training rows for the timing models: deal features at landmarks before `until`, with
    `duration_days` (landmark → close, or → `until` if still open), `followup_days`
    (landmark → `until`), `event` (0 censored, 1 won, 2 lost), `observed_from_days` and
    `weight`. Only what was known before `until` is used (`DealHistory.known_before`).

    Every landmark weighs 1. Weighting a deal's landmarks by 1 / (their number) would let the
    future leak into the weights: a deal that closes fast has fewer landmarks, so fast closers
    would weigh more among young deals and the early hazard would come out too high. With equal
    weights, how often a deal appears at a given age depends only on its past.

    Observation starts at the first close the data records (`observed_from_days` after the
    landmark): an export that records no close before some date (a CRM migration, a cut-off)
    says nothing about how fast deals closed before it, so those weeks are not counted as
    "still open".
    """
    cut = as_timestamp(until)
    known = history.known_before(cut)
    points = landmarks(known, cut, every_days)
    if points.empty:
        return _empty_survival()
    rows = feat.deal_rows_at(known, points)
    status = rows["id"].map(known.deals.set_index("id")["status"])
    closed = rows["closed_at"]
    event = np.where(status == WON, EVENT_WON, np.where(status == LOST, EVENT_LOST, CENSORED))
    event = np.where(closed.notna(), event, CENSORED)
    stop = closed.where(closed.notna(), cut)
    rows["duration_days"] = ((stop - rows["as_of"]) / DAY).to_numpy(dtype=float)
    rows["followup_days"] = ((cut - rows["as_of"]) / DAY).to_numpy(dtype=float)
    rows["event"] = event.astype(int)
    rows = rows[rows["duration_days"] > 0].reset_index(drop=True)
    deals = known.deals
    first_close = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].min()
    # From the day before the first close, so that close itself is seen as an event.
    start = rows["as_of"] if pd.isna(first_close) else rows["as_of"].clip(
        lower=first_close - DAY)
    rows["observed_from_days"] = ((start - rows["as_of"]) / DAY).to_numpy(dtype=float)
    rows["weight"] = 1.0
    rows["until"] = cut
    return rows


def _empty_survival() -> pd.DataFrame:
    cols = ["id", "as_of", *feat.DEAL_FEATURES, "duration_days", "followup_days", "event",
            "observed_from_days", "weight"]
    return pd.DataFrame({c: [] for c in cols})


def pipeline_rows(history: DealHistory, as_of: object) -> pd.DataFrame:
    """Feature rows of the deals open at `as_of`, as known then (the pipeline)."""
    return feat.open_deal_rows(history, as_of)


# --- the hazard model ----------------------------------------------------------------------------


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Part:
    """One probability (close hazard or won share): base + time table + attribute booster."""

    base: float
    table: np.ndarray  # [stage, age bin, days-in-stage bin] → logit offset
    booster: lgb.Booster | None

    def static(self, matrix: np.ndarray) -> np.ndarray:
        if self.booster is None or len(matrix) == 0:
            return np.zeros(len(matrix))
        return self.booster.predict(matrix, raw_score=True)


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
    ) -> None:
        self.bucket_days = bucket_days
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
        stage = stage * self.n_sizes_ + np.searchsorted(self.size_edges_, amount, side="right")
        age = np.nan_to_num(rows["age_days"].to_numpy(dtype=float), nan=0.0).clip(min=0)
        dis = np.nan_to_num(rows["days_in_stage"].to_numpy(dtype=float), nan=0.0).clip(min=0)
        day = rows["as_of"].to_numpy("datetime64[us]").astype(np.int64) / 86_400e6
        return stage, age, dis, day

    def _cells(self, stage: np.ndarray, age: np.ndarray, dis: np.ndarray, day: np.ndarray,
               k: np.ndarray) -> np.ndarray:
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
            "objective": "binary", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda, "num_threads": self.n_jobs or 1,
            "seed": self.random_state, "deterministic": True, "force_row_wise": True,
            "verbose": -1,
        }

    def _train(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, w: np.ndarray,
               init: np.ndarray, valid: np.ndarray,
               cat_idx: Sequence[int] = ()) -> lgb.Booster | None:
        """One booster on top of `init` (logits), early-stopped on the `valid` rows if usable."""
        if len(y) == 0 or y.min() == y.max():
            return None

        def usable(m: np.ndarray) -> bool:
            return bool(m.any()) and 0 < float(y[m].max()) and float(y[m].min()) < 1

        use_valid = usable(valid) and usable(~valid)
        fit = ~valid if use_valid else np.ones(len(y), dtype=bool)
        train = lgb.Dataset(X[fit], y[fit], weight=w[fit], init_score=init[fit],
                            categorical_feature=list(cat_idx), free_raw_data=True)
        kwargs: dict[str, Any] = {}
        if use_valid:
            kwargs["valid_sets"] = [lgb.Dataset(X[valid], y[valid], weight=w[valid],
                                                init_score=init[valid],
                                                categorical_feature=list(cat_idx),
                                                reference=train)]
            kwargs["callbacks"] = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        rounds = self.n_estimators if use_valid else max(20, self.n_estimators // 5)
        booster = lgb.train(params, train, num_boost_round=rounds, **kwargs)
        best = booster.best_iteration or booster.current_iteration()
        if best < booster.current_iteration():
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        return booster

    def _grid(self) -> np.ndarray:
        """Every (stage, size, age bin, days-in-stage bin, week), in the flat table's order."""
        grid = np.stack(np.meshgrid(np.arange(self.n_segments_), np.arange(self._bins),
                                    np.arange(self._bins), np.arange(self._weeks),
                                    indexing="ij"), -1).reshape(-1, 4)
        return np.column_stack([grid[:, 0] // self.n_sizes_, grid[:, 0] % self.n_sizes_,
                                grid[:, 1:]])

    def _fit_part(self, cell: np.ndarray, static_X: np.ndarray, y: np.ndarray,
                  w: np.ndarray, groups: np.ndarray) -> _Part:
        """base + T(time cell) + S(attributes): T first, then S with T as offset.

        T only sees the binned time features, so its rows are aggregated per (cell, label,
        split) with summed weights: exact for a binary log-loss, and fast.
        """
        base = _logit(float(np.average(y, weights=w))) if len(y) else 0.0
        valid = group_fractions(groups, self.random_state) < self.validation_fraction
        size = self.n_segments_ * self._bins * self._bins * self._weeks
        key = (cell * 2 + y.astype(np.int64)) * 2 + valid
        weight = np.bincount(key, weights=w, minlength=size * 4)
        present = np.flatnonzero(weight > 0)
        grid = self._grid().astype(float)
        agg_cell, agg_y, agg_valid = present // 4, (present // 2) % 2, (present % 2).astype(bool)
        t_params = {**self._params(), "min_data_in_leaf": 1,
                    "min_sum_hessian_in_leaf": 0.05 * self.min_child_samples}
        t = self._train(t_params, grid[agg_cell], agg_y.astype(float), weight[present],
                        np.full(len(present), base), agg_valid)
        table = base + (np.zeros(size) if t is None else t.predict(grid, raw_score=True))
        s = self._train(self._params(), static_X, y, w, table[cell], valid,
                        self.encoder_.categorical_indices)
        return _Part(base=base, table=table, booster=s)

    def fit(self, rows: pd.DataFrame, n_stages: int | None = None) -> TimeToClose:
        """Fit on `survival_rows` output. Returns self."""
        _check_survival(rows)
        if not (rows["event"] > 0).any():
            raise InsufficientHistory("no deal closed in the training data: the time to close "
                                      "cannot be learnt yet")
        stage_index = rows["stage_index"].to_numpy(dtype=float)
        self.n_stages_ = int(n_stages or (np.nanmax(stage_index) + 1 if len(rows) else 1))
        # Size bands (quantiles of the amount): big deals move slower, which a shift of the
        # attribute part alone cannot say, so size is part of the time table.
        amounts = np.log1p(np.nan_to_num(rows["amount"].to_numpy(dtype=float), nan=0.0).clip(0))
        qs = np.linspace(0, 1, self.size_bins + 1)[1:-1]
        self.size_edges_ = np.unique(np.quantile(amounts, qs)) if len(qs) else np.array([])
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
            raise InsufficientHistory("no close falls in a fully observed week before the cut: "
                                      "the time to close cannot be learnt yet")
        stage0, age0, dis0, day0 = self._row_times(rows)
        cell = self._cells(stage0[idx], age0[idx], dis0[idx], day0[idx], k)
        self.encoder_ = FeatureEncoder().fit(rows[list(STATIC_FEATURES)])
        static_rows = self.encoder_.transform(rows[list(STATIC_FEATURES)])
        static_X = static_rows[idx]
        w = rows["weight"].to_numpy(dtype=float)[idx]
        groups = rows["id"].to_numpy()[idx]
        self.close_ = self._fit_part(cell, static_X, closes.astype(float), w, groups)
        self.won_ = self._fit_part(cell[closes], static_X[closes], won[closes].astype(float),
                                   w[closes], groups[closes])
        self.n_rows_ = {"landmarks": len(rows), "deals": int(rows["id"].nunique()),
                        "person_periods": len(idx), "closes": int(closes.sum()),
                        "won_closes": int(won.sum())}
        return self

    # -- scoring

    def _check(self) -> None:
        if not hasattr(self, "close_"):
            raise NotFittedError("this TimeToClose is not fitted yet: call fit first")

    def static_scores(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The attribute parts (close, won) of each row's logits: they do not change with time,
        so a caller scoring the same deals at several dates computes them once."""
        self._check()
        static = self.encoder_.transform(rows[list(STATIC_FEATURES)]) if len(rows) else \
            np.empty((0, len(STATIC_FEATURES)))
        return self.close_.static(static), self.won_.static(static)

    def bucket_probabilities(self, rows: pd.DataFrame, buckets: int,
                             static: tuple[np.ndarray, np.ndarray] | None = None,
                             ) -> tuple[np.ndarray, ...]:
        """(won, lost) probability of closing in each of the next `buckets` buckets (N × K)."""
        self._check()
        stage0, age0, dis0, day0 = self._row_times(rows)
        cell = self._cells(stage0[:, None], age0[:, None], dis0[:, None], day0[:, None],
                           np.arange(buckets)[None, :])
        s_close, s_won = static if static is not None else self.static_scores(rows)
        h = _expit(self.close_.table[cell] + s_close[:, None])
        q = _expit(self.won_.table[cell] + s_won[:, None])
        survive = np.cumprod(np.concatenate([np.ones((len(rows), 1)), 1.0 - h[:, :-1]], 1), 1)
        closing = survive * h
        return closing * q, closing * (1.0 - q)

    def cumulative(self, rows: pd.DataFrame, horizons_days: Sequence[float],
                   static: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
        """P(won / lost / closed within h days of each row's as_of), one column per horizon."""
        horizons = np.asarray(horizons_days, dtype=float)
        buckets = max(1, int(math.ceil(horizons.max() / self.bucket_days)))
        won, lost = self.bucket_probabilities(rows, buckets, static)
        return _accumulate(won, lost, horizons / self.bucket_days)


def _week_of_quarter(first_day: int, days: int, weeks: int) -> np.ndarray:
    """Week of the quarter (0-based, capped) of each day from `first_day` (days since 1970)."""
    date = np.arange(first_day, first_day + days).astype("datetime64[D]")
    month = date.astype("datetime64[M]").astype(np.int64)
    start = (month - month % 3).astype("datetime64[M]").astype("datetime64[D]")
    return np.minimum((date - start).astype(np.int64) // 7, weeks - 1)


def _accumulate(won: np.ndarray, lost: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
    """Cumulative incidence at fractional bucket positions `at` (uniform within a bucket)."""
    zero = np.zeros((len(won), 1))
    cw = np.concatenate([zero, np.cumsum(won, 1)], 1)
    cl = np.concatenate([zero, np.cumsum(lost, 1)], 1)
    whole = np.minimum(np.floor(at).astype(int), won.shape[1])
    frac = np.where(whole < won.shape[1], at - whole, 0.0)
    nxt = np.minimum(whole, won.shape[1] - 1)
    out_w = cw[:, whole] + frac * won[:, nxt]
    out_l = cl[:, whole] + frac * lost[:, nxt]
    return {"won": out_w, "lost": out_l, "closed": out_w + out_l}


def window_probabilities(
    model: TimeToClose | StageKaplanMeier, rows: pd.DataFrame, start_days: float,
    end_days: float,
) -> dict[str, np.ndarray]:
    """P(won / lost / closed inside [as_of + start, as_of + end)) per row."""
    start, end = max(0.0, float(start_days)), max(0.0, float(end_days))
    if end <= start or len(rows) == 0:
        zeros = np.zeros(len(rows))
        return {"won": zeros, "lost": zeros, "closed": zeros}
    cum = model.cumulative(rows, [start, end])
    return {k: np.clip(v[:, 1] - v[:, 0], 0.0, 1.0) for k, v in cum.items()}


# --- the baseline: per-stage close-time distributions --------------------------------------------


class StageKaplanMeier:
    """Per stage, cumulative incidence of won and lost closes by deal age (Aalen–Johansen).

    Each deal enters a stage's curve at the age it was first seen in that stage (delayed
    entry) and leaves at its close or at the cut (censored). A deal of age a in stage s then
    closes won within h days with probability (F_won(a+h) − F_won(a)) / S(a).
    """

    def __init__(self, max_age_days: int = 730) -> None:
        self.max_age_days = max_age_days

    def fit(self, rows: pd.DataFrame, n_stages: int | None = None) -> StageKaplanMeier:
        _check_survival(rows)
        first = rows.sort_values("as_of", kind="stable").drop_duplicates(["id", "stage_index"])
        stage = np.nan_to_num(first["stage_index"].to_numpy(dtype=float), nan=0.0).astype(int)
        self.n_stages_ = int(n_stages or (stage.max() + 1 if len(stage) else 1))
        age = first["age_days"].to_numpy(dtype=float).clip(min=0)
        exit_ = age + first["duration_days"].to_numpy(dtype=float)
        entry = np.minimum(age + _observed_from(first), exit_)
        ev = first["event"].to_numpy(dtype=int)
        self.curves_ = {s: self._curves(entry[stage == s], exit_[stage == s], ev[stage == s])
                        for s in range(self.n_stages_)}
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
        stage = np.nan_to_num(rows["stage_index"].to_numpy(dtype=float), nan=-1).astype(int)
        age = np.nan_to_num(rows["age_days"].to_numpy(dtype=float), nan=0.0).clip(0)
        a = np.minimum(np.floor(age).astype(int), self.max_age_days)
        won, lost = np.zeros((n, len(horizons))), np.zeros((n, len(horizons)))
        for s in np.unique(stage):
            curves = self.curves_.get(int(s), self.pooled_)
            mask = stage == s
            surv, f_won, f_lost = curves
            base = surv[a[mask]]
            end = np.minimum(a[mask, None] + np.floor(horizons[None, :]).astype(int),
                             self.max_age_days)
            with np.errstate(divide="ignore", invalid="ignore"):
                won[mask] = np.where(base[:, None] > 1e-12,
                                     (f_won[end] - f_won[a[mask], None]) / base[:, None], 0.0)
                lost[mask] = np.where(base[:, None] > 1e-12,
                                      (f_lost[end] - f_lost[a[mask], None]) / base[:, None], 0.0)
        won, lost = won.clip(0, 1), lost.clip(0, 1)
        return {"won": won, "lost": lost, "closed": won + lost}


def _observed_from(rows: pd.DataFrame) -> np.ndarray:
    if "observed_from_days" not in rows:
        return np.zeros(len(rows))
    return np.nan_to_num(rows["observed_from_days"].to_numpy(dtype=float), nan=0.0)


def _check_survival(rows: pd.DataFrame) -> None:
    need = ("id", "as_of", "duration_days", "followup_days", "event", "weight", *TIME_FEATURES)
    missing = [c for c in need if c not in rows.columns]
    if missing:
        raise InvalidInput(f"timing rows lack column(s) {missing}: build them with "
                           "`survival_rows`")
    if len(rows) == 0:
        raise InsufficientHistory("no deal history before the cut: nothing to learn timing from")


# --- fitting both at a date ----------------------------------------------------------------------


def fit_timing(
    history: DealHistory,
    until: object,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
    rows: pd.DataFrame | None = None,
) -> tuple[TimeToClose, StageKaplanMeier]:
    """The hazard model and the per-stage baseline, fitted on what was known before `until`.

    Raises `InsufficientHistory` when fewer than `timing_min_closed_deals` deals had closed.
    """
    settings = settings or get_settings()
    if rows is None:
        rows = survival_rows(history, until, every_days=settings.timing_every_days)
    closed = int(rows.loc[rows["event"] > 0, "id"].nunique()) if len(rows) else 0
    if closed < settings.timing_min_closed_deals:
        raise InsufficientHistory(
            f"{closed} deals had closed before {as_timestamp(until).date()}; the time-to-close "
            f"model needs {settings.timing_min_closed_deals}")
    n_stages = len(history.stages.open_stages)
    model = TimeToClose(
        bucket_days=settings.timing_bucket_days, max_age_days=settings.timing_max_age_days,
        horizon_days=settings.timing_horizon_days, n_jobs=settings.timing_threads,
        random_state=settings.seed if seed is None else seed,
    ).fit(rows, n_stages)
    baseline = StageKaplanMeier(max_age_days=max(730, settings.timing_max_age_days)).fit(
        rows, n_stages)
    return model, baseline


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
        table = {"predicted": [], "observed": [], "count": []}
        for b in range(10):
            m = bins == b
            if m.any():
                table["predicted"].append(float(p[m].mean()))
                table["observed"].append(float(observed[m].mean()))
                table["count"].append(float(m.sum()))
        calibration[name] = table
    return TimingEvaluation(metrics, calibration, [str(as_timestamp(t).date()) for t in at],
                            len(rows))


# --- a training run ------------------------------------------------------------------------------


@dataclass
class TimingResult:
    """A timing training run: the model, its and the baseline's holdout metrics, and the split."""

    model: TimeToClose
    baseline: StageKaplanMeier
    metrics: dict[str, dict[str, float]]
    calibration: dict[str, dict[str, list[float]]]
    split: dict[str, Any]
    rows: dict[str, int]
    params: dict[str, Any]
    seed: int
    dataset: str | None = None
    fingerprint: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    kind: str = "timing"

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "dataset": self.dataset, "seed": self.seed, "split": self.split,
            "rows": self.rows, "fingerprint": self.fingerprint,
            "metrics": {k: {n: _plain(v) for n, v in d.items()} for k, d in self.metrics.items()},
            "calibration": self.calibration, "params": self.params,
            "warnings": self.warnings, "seconds": round(self.seconds, 2),
        }


def _plain(v: object) -> object:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else round(f, 6)
    return v


def train_timing(
    history: DealHistory,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
    incumbent: TimeToClose | None = None,
    dataset: str | None = None,
    horizons: Sequence[int] = (30, 60, 90),
) -> TimingResult:
    """Fit the time-to-close model and its baseline before a cut; test on what happened after.

    The cut leaves `timing_holdout_days` of test landmarks (every 14 days), each followed for
    max(horizons) days before the data ends. `incumbent` (the champion) is scored on the same
    holdout so the promotion gate compares like with like.
    """
    from forecast.training import fingerprint

    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    if history.deals.empty:
        raise InvalidInput("no deals in the data: nothing to train on")
    end = history.end
    last_landmark = (end - pd.Timedelta(days=max(horizons))).normalize()
    cut = (last_landmark - pd.Timedelta(days=settings.timing_holdout_days)).normalize()
    at = list(pd.date_range(cut, last_landmark, freq="14D"))
    rows = survival_rows(history, cut, every_days=settings.timing_every_days)
    model, baseline = fit_timing(history, cut, settings=settings, seed=seed, rows=rows)
    candidates: dict[str, Any] = {"model": model, "stage_km": baseline}
    warnings: list[str] = list(history.leak_notes)
    if incumbent is not None:
        candidates["champion"] = incumbent
    try:
        evaluation = evaluate_timing(candidates, history, at, end, horizons=horizons)
    except Exception as exc:  # noqa: BLE001 - a champion of another shape: compare by record
        if incumbent is None:
            raise
        warnings.append(f"the champion could not score this holdout ({exc})")
        candidates.pop("champion")
        evaluation = evaluate_timing(candidates, history, at, end, horizons=horizons)
    return TimingResult(
        model=model, baseline=baseline, metrics=evaluation.metrics,
        calibration=evaluation.calibration,
        split={"method": "time", "cut": str(cut.date()), "test_landmarks": evaluation.landmarks,
               "observed_until": str(end.date()), "horizons_days": list(horizons),
               "train": "deals as known before the cut, open ones censored",
               "test": "deals open at each test landmark, followed for the horizons"},
        rows={**model.n_rows_, "test_rows": evaluation.rows},
        params={"bucket_days": model.bucket_days, "max_age_days": model.max_age_days,
                "horizon_days": model.horizon_days, "every_days": settings.timing_every_days,
                "learning_rate": model.learning_rate, "num_leaves": model.num_leaves,
                "min_child_samples": model.min_child_samples},
        seed=seed, dataset=dataset, fingerprint=fingerprint(history.deals, history.stage_log),
        seconds=time.perf_counter() - started, warnings=warnings,
    )
