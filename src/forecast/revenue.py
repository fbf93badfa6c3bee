"""The revenue forecast for a period: expected won revenue, its range, and the chance to hit target.

For a period [t0, t1) seen from `as_of` (the pipeline = deals open just before `as_of`):

- per open deal, P(won AND closed inside the period) from the time-to-close model
  (`forecast.timing`: competing risks, so a deal that closes inside the period may close lost);
- deals not yet created: recent creations (the last `new_deal_window_days`, per group) set the
  pace, and each stands for deals like it created inside the period, which are won before its
  end with the model's probability. They form a Poisson process (thinned by that probability),
  shown as a separate line and included in the range;
- revenue already won inside the period before `as_of` is added as it is;
- the classic weighted pipeline (amount × per-stage historical win rate known at `as_of`, no
  timing) beside it, so managers see both.

The range is the exact distribution of the sum of independent deal outcomes, not a normal guess:
each group's total is convolved on a lattice of 512 points spanning the interval that holds all
but 1e-12 of its probability (Bernstein's bound). A deal's amount falls between two lattice
points and its mass is split between them in proportion, which keeps every mean exact. Groups are
convolved deal by deal in cells of up to 256 deals (vectorised across cells), cells are joined by
FFT, new deals enter through the compound-Poisson characteristic function, and the total is the
FFT convolution of the group distributions re-binned on a 4,096-point lattice. It is exact up to
the lattice step, deterministic (no seed), and for 100,000 deals takes a fraction of a second.

Deal-by-deal chance is not the only uncertainty: the pace of new deals and win rates shift from
one period to the next. `measure_drift` replays the fitted models on past windows of the same
length (known at `as_of`) and the spread of log(actual / expected) widens the range through a
mean-one log-normal factor. Where history is too short to measure it, the forecast says so in
its notes and the range holds deal-by-deal chance only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from forecast import features as feat
from forecast import timing as tm
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.history import JUST_AFTER, DealHistory, as_timestamp
from forecast.periods import Period, parse_period
from forecast.settings import Settings, get_settings
from forecast.stages import WON

#: `by` choices and the column each groups on.
GROUP_COLUMNS: dict[str, str] = {
    "team": "team", "rep": "owner", "product": "product", "region": "region",
}
MISSING_GROUP = "(none)"
TOTAL = "total"
LATTICE = 512
GROUP_LATTICE = 2048  # per group (512 when there are many groups)
TOTAL_LATTICE = 4096
CELL_DEALS = 256
_TAIL_LOG = math.log(2 / 1e-12)  # Bernstein: mass outside the window below 1e-12


# --- what a forecast needs, fitted as of a date --------------------------------------------------


@dataclass
class ForecastModels:
    """Models fitted on what was known before `as_of`: timing, stage win rates, new-deal pace."""

    as_of: pd.Timestamp
    timing: tm.TimeToClose | tm.StageKaplanMeier
    baseline: tm.StageKaplanMeier | None
    stage_rates: Any  # baselines.StageWinRate | None
    templates: pd.DataFrame | None  # recent creations, as of their creation
    window_days: float
    method: str
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False)  # per period span: drift, new deals


def fit_forecast_models(
    history: DealHistory,
    as_of: object,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
) -> ForecastModels:
    """Fit everything the forecast uses on the data as known just before `as_of`.

    Falls back to the per-stage close-time baseline (with a note) when too few deals had closed
    for the model; raises `InsufficientHistory` when none had.
    """
    from forecast.training import fallback_stage_rates

    settings = settings or get_settings()
    t = as_timestamp(as_of)
    known = history.known_before(t)
    rows = tm.survival_rows(history, t, every_days=settings.timing_every_days)
    notes: list[str] = list(history.leak_notes)
    baseline = None
    if len(rows) and (rows["event"] > 0).any():
        baseline = tm.StageKaplanMeier(max_age_days=max(730, settings.timing_max_age_days)).fit(
            rows, len(history.stages.open_stages))
    try:
        model, baseline = tm.fit_timing(history, t, settings=settings, seed=seed, rows=rows)
        timing: tm.TimeToClose | tm.StageKaplanMeier = model
        method = "time-to-close model"
    except InsufficientHistory as exc:
        if baseline is None:
            raise InsufficientHistory(
                f"no deal had closed before {t.date()}: there is no history to forecast "
                "from") from None
        timing, method = baseline, "per-stage close-time baseline"
        notes.append(f"{exc}; the forecast uses the per-stage close-time distributions")
    stage_rates = fallback_stage_rates(known)
    templates, window = _templates(known, t, settings.new_deal_window_days)
    if templates is None:
        notes.append("too little history of deal creation: no line for deals not yet created")
    return ForecastModels(t, timing, baseline, stage_rates, templates, window, method, notes)


def _templates(
    known: DealHistory, t: pd.Timestamp, window_days: int,
) -> tuple[pd.DataFrame | None, float]:
    """Deals created in the last `window_days` before t (`known`: as known before t), with
    their features just after creation."""
    opps = known.deals
    if opps.empty:
        return None, 0.0
    first = opps["created_at"].min()
    window = min(float(window_days), (t - first) / tm.DAY)
    if window < 7:
        return None, 0.0
    recent = opps[opps["created_at"] >= t - pd.Timedelta(days=window)]
    if recent.empty:
        return None, window
    points = pd.DataFrame({"id": recent["id"].to_numpy(),
                           "as_of": recent["created_at"].to_numpy("datetime64[us]")
                           + JUST_AFTER.to_timedelta64()})
    rows = feat.deal_rows_at(known, points)
    return rows.reset_index(drop=True), window


# --- the forecast --------------------------------------------------------------------------------


@dataclass
class GroupForecast:
    """One line of the forecast (a group, or the total)."""

    group: str
    deals: int
    pipeline_value: float
    won_so_far: float
    expected_pipeline: float
    expected_new: float | None
    expected: float
    p10: float
    p50: float
    p90: float
    weighted_pipeline: float | None
    target: float | None = None
    p_target: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.__dict__.items()}


@dataclass
class RevenueForecast:
    """Per group and in total: expected won revenue, P10/P50/P90, weighted pipeline, targets."""

    period: Period
    as_of: pd.Timestamp
    by: str | None
    groups: list[GroupForecast]
    total: GroupForecast
    method: str
    new_deals: bool
    notes: list[str] = field(default_factory=list)
    deals: pd.DataFrame | None = None  # per open deal: probabilities and expected value

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.to_dict(),
            "as_of": str(self.as_of.date()) if self.as_of == self.as_of.normalize()
            else str(self.as_of),
            "by": self.by,
            "method": self.method,
            "range": "exact convolution of per-deal outcomes (lattice), P10/P50/P90",
            "new_deals_line": self.new_deals,
            "groups": [g.to_dict() for g in self.groups],
            "total": self.total.to_dict(),
            "notes": list(self.notes),
        }


def _plain(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else round(f, 2)
    if isinstance(v, np.integer):
        return int(v)
    return v


def default_as_of(period: Period, now: object = None) -> pd.Timestamp:
    """The period start when it is in the past, else today."""
    today = as_timestamp(now if now is not None else pd.Timestamp.now(tz="UTC")).normalize()
    return period.start if period.start <= today else today


def forecast_revenue(
    history: DealHistory,
    period: str | Period,
    *,
    by: str | None = None,
    as_of: object = None,
    targets: Mapping[str, float] | float | None = None,
    models: ForecastModels | None = None,
    include_new_deals: bool = True,
    settings: Settings | None = None,
    now: object = None,
) -> RevenueForecast:
    """Forecast won revenue for `period` ("2017", "2017-Q3", "2017-07"), per `by` group.

    `as_of` defaults to the period start when that is in the past, else today. `targets` maps a
    group to its target (a number alone is the total's target). `models` pre-fitted by
    `fit_forecast_models` are reused; otherwise they are fitted as of `as_of`.
    """
    per = period if isinstance(period, Period) else parse_period(period)
    column = _group_column(by)
    t = as_timestamp(as_of) if as_of is not None else default_as_of(per, now)
    if column is not None and column not in history.deals.columns:
        raise InvalidInput(f"cannot group by {by!r}: the data has no {column!r} column")
    if models is None:
        models = fit_forecast_models(history, t, settings=settings)
    opps = history.as_of(t)
    pipeline = tm.pipeline_rows(history, t)
    won = opps[(opps["status"] == WON) & per.contains(opps["closed_at"])]
    known_groups = _labels(opps, column) if column else np.array([], dtype=object)
    drift = None
    if per.end > t:
        span = (per.end - max(per.start, t)) / tm.DAY
        key = ("drift", round(span, 6))
        if key not in models.cache:
            models.cache[key] = measure_drift(history, models, span, settings=settings)
        drift = models.cache[key]
    return forecast_pipeline(
        pipeline, models, per, t, by=by, targets=targets, won=won,
        known_groups=set(known_groups.tolist()), include_new_deals=include_new_deals,
        drift=drift,
    )


def forecast_pipeline(
    pipeline: pd.DataFrame,
    models: ForecastModels,
    period: Period,
    as_of: pd.Timestamp,
    *,
    by: str | None = None,
    targets: Mapping[str, float] | float | None = None,
    won: pd.DataFrame | None = None,
    known_groups: set[str] | None = None,
    include_new_deals: bool = True,
    drift: Drift | None = None,
) -> RevenueForecast:
    """The forecast from pipeline feature rows (`timing.pipeline_rows`) and fitted models.

    `won` holds deals already won inside the period before `as_of` (added as they are).
    `drift` (from `measure_drift`) widens the range by how far the same models missed on past
    windows of the same length; without it the range holds deal-by-deal chance only.
    """
    column = _group_column(by)
    start = max(0.0, (period.start - as_of) / tm.DAY)
    end = max(0.0, (period.end - as_of) / tm.DAY)
    p = tm.window_probabilities(models.timing, pipeline, start, end)["won"]
    amount = _amounts(pipeline)
    deal_groups = _labels(pipeline, column) if column else np.full(len(pipeline), TOTAL, object)
    weighted = None
    if models.stage_rates is not None:
        rates = models.stage_rates.predict_proba(pipeline[["stage"]])[:, 1] if len(pipeline) \
            else np.zeros(0)
        weighted = amount * rates

    # Deals not yet created: each recent creation stands for a Poisson stream of similar deals.
    new_rate = new_amount = None
    new_groups = np.array([], dtype=object)
    create_from = max(period.start, as_of)
    span = (period.end - create_from) / tm.DAY
    lines_new = include_new_deals and models.templates is not None and span > 0
    if lines_new:
        templates = models.templates
        key = (id(models.timing), create_from)
        if key not in models.cache:  # the same models and span give the same line
            models.cache[key] = _share_won_by(models.timing, templates, span, create_from)
        new_rate = (span / models.window_days) * models.cache[key]
        new_amount = _amounts(templates)
        new_groups = (_labels(templates, column) if column
                      else np.full(len(templates), TOTAL, object))

    won = won if won is not None else pipeline.iloc[:0]
    won_groups = _labels(won, column) if column else np.full(len(won), TOTAL, object)
    won_amount = won["amount"].fillna(0).to_numpy(dtype=float) if len(won) else np.zeros(0)

    names = sorted(set(deal_groups) | set(new_groups) | set(won_groups) | (known_groups or set()))
    if not column:
        names = [TOTAL]
    target_of = _targets(targets, names, by)
    lookup = np.array(names, dtype=object)
    g_deal = _codes(deal_groups, lookup)
    g_new = _codes(new_groups, lookup)
    g_won = _codes(won_groups, lookup)
    dists = group_distributions(amount, p, g_deal, len(names), new_amount, new_rate, g_new)
    total_dist = combine(dists)
    if drift is not None and drift.sigma > 0:
        dists = [d.scaled(drift.sigma) for d in dists]
        total_dist = total_dist.scaled(drift.sigma)

    n = len(names)

    def per_group(codes: np.ndarray, values: np.ndarray | None) -> np.ndarray:
        if values is None or len(codes) == 0:
            return np.zeros(n)
        return np.bincount(codes, weights=values, minlength=n)

    deals_n = np.bincount(g_deal, minlength=n)
    value_g, exp_g = per_group(g_deal, amount), per_group(g_deal, amount * p)
    done_g = per_group(g_won, won_amount)
    new_g = per_group(g_new, new_rate * new_amount) if lines_new else None
    wp_g = per_group(g_deal, weighted) if weighted is not None else None
    lines = [
        _line(name, int(deals_n[i]), float(value_g[i]), float(done_g[i]), float(exp_g[i]),
              None if new_g is None else float(new_g[i]), dists[i],
              None if wp_g is None else float(done_g[i] + wp_g[i]), target_of.get(name))
        for i, name in enumerate(names)
    ]
    total_done = float(won_amount.sum())
    total = _line(
        TOTAL, len(pipeline), float(amount.sum()), total_done, float((amount * p).sum()),
        float((new_rate * new_amount).sum()) if lines_new else None, total_dist,
        None if weighted is None else total_done + float(weighted.sum()),
        target_of.get(TOTAL),
    )
    groups = sorted(lines, key=lambda g: -g.expected) if column else []
    deals = pd.DataFrame({
        "id": pipeline["id"].to_numpy(), "group": deal_groups, "stage": pipeline["stage"],
        "amount": amount, "p_won_in_period": p, "expected": amount * p,
    })
    if weighted is not None:
        deals["weighted"] = weighted
    notes = list(models.notes)
    if drift is None or drift.sigma <= 0:
        notes.append("the range holds deal-by-deal chance only: "
                     + (drift.note if drift is not None else "forecast drift not measured"))
    else:
        notes.append(f"the range includes a forecast drift of ±{drift.sigma:.0%} (log sd), "
                     f"measured on {drift.windows} past windows")
    if models.as_of != as_of:
        notes.append(f"models fitted as of {models.as_of.date()}, pipeline as of {as_of.date()}")
    return RevenueForecast(period, as_of, by, groups, total, models.method, bool(lines_new),
                           notes, deals)


def _line(name: str, deals: int, value: float, done: float, exp_pipe: float,
          exp_new: float | None, dist: Distribution, weighted: float | None,
          target: float | None) -> GroupForecast:
    q10, q50, q90 = (done + dist.quantile(q) for q in (0.1, 0.5, 0.9))
    p_target = None
    if target is not None:
        p_target = dist.prob_at_least(target - done)
    return GroupForecast(name, deals, value, done, exp_pipe, exp_new,
                         done + exp_pipe + (exp_new or 0.0), q10, q50, q90, weighted,
                         target, p_target)


def _codes(labels: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Positions of `labels` in the sorted array `names`."""
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.searchsorted(names, np.asarray(labels, dtype=object)).astype(np.int64)


def _group_column(by: str | None) -> str | None:
    if by is None:
        return None
    if by not in GROUP_COLUMNS:
        raise InvalidInput(f"cannot group by {by!r}: use one of {', '.join(GROUP_COLUMNS)} "
                           "(or leave it out for the total)")
    return GROUP_COLUMNS[by]


def _labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), MISSING_GROUP, dtype=object)
    values = frame[column].astype(object)
    return values.where(values.notna(), MISSING_GROUP).astype(str).to_numpy(dtype=object)


def _amounts(frame: pd.DataFrame) -> np.ndarray:
    """Each deal's amount, else its list price, else 0."""
    amount = frame["amount"].astype(float) if "amount" in frame else pd.Series(np.nan, frame.index)
    if "list_price" in frame:
        amount = amount.fillna(frame["list_price"].astype(float))
    return amount.fillna(0.0).clip(lower=0).to_numpy(dtype=float)


def _targets(targets: Mapping[str, float] | float | None, names: list[str],
             by: str | None) -> dict[str, float]:
    if targets is None:
        return {}
    if isinstance(targets, (int, float)):
        targets = {TOTAL: float(targets)}
    out = {}
    for group, value in targets.items():
        key = TOTAL if group in (None, "", TOTAL, "all") else str(group)
        if key != TOTAL and key not in names:
            what = by or "group"
            known = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
            raise InvalidInput(f"target for unknown {what} {group!r}: no deals for it in the "
                               f"data; known: {known}")
        try:
            amount = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"target for {group!r} is not a number: {value!r}") from None
        if not math.isfinite(amount) or amount < 0:
            raise InvalidInput(f"target for {group!r} must be a non-negative amount, got {value}")
        out[key] = amount
    return out


def _share_won_by(model: Any, templates: pd.DataFrame, span: float,
                  create_from: pd.Timestamp) -> np.ndarray:
    """Per template: P(won before the window ends) for a deal like it created at a uniform time
    inside the `span` days from `create_from`.

    The window is cut into slices of one time bucket; a deal created in the middle of a slice is
    scored from that date (so the calendar, e.g. a quarter-end push, applies where it falls)
    over the time left, and the slices are averaged by their length.
    """
    width = float(getattr(model, "bucket_days", 7))
    starts = np.arange(0.0, span, width)
    lengths = np.minimum(width, span - starts)
    mids = starts + lengths / 2
    fresh = templates.assign(age_days=0.0, days_in_stage=0.0)
    static = model.static_scores(fresh) if hasattr(model, "static_scores") else None
    total = np.zeros(len(templates))
    for mid, length in zip(mids, lengths, strict=True):
        fresh["as_of"] = (create_from + pd.Timedelta(days=float(mid))).to_datetime64()
        fresh["as_of"] = fresh["as_of"].astype("datetime64[us]")
        kwargs = {"static": static} if static is not None else {}
        won = model.cumulative(fresh, [span - mid], **kwargs)["won"][:, 0]
        total += won * length
    return total / span


# --- forecast drift ---------------------------------------------------------------------------


@dataclass
class Drift:
    """How far the models' forecasts missed on past windows: log sd of actual / expected."""

    sigma: float
    windows: int
    ratios: list[float] = field(default_factory=list)
    note: str = ""


def measure_drift(
    history: DealHistory,
    models: ForecastModels,
    span_days: float,
    *,
    every_days: int = 14,
    max_windows: int = 13,
    settings: Settings | None = None,
) -> Drift:
    """Replay the fitted models on past windows of `span_days` that ended before `models.as_of`.

    At each past date s (every `every_days`, newest first, within observed history), forecast
    [s, s + span) from the pipeline and the creation pace known at s, and compare with what was
    won. The spread of log(actual / expected) measures what deal-by-deal chance cannot: shifts
    in pace and win rates from one period to the next. Only outcomes known at `models.as_of` are
    used, so the measure obeys the as-of rule; the models saw these windows in training, so it
    errs on the narrow side.
    """
    settings = settings or get_settings()
    t = models.as_of
    known = history.known_before(t)
    opps = known.deals
    closes = opps.loc[opps["status"].isin([WON, "lost"]), "closed_at"]
    if closes.empty:
        return Drift(0.0, 0, note="no close known yet")
    first = max(closes.min(), opps["created_at"].min() + pd.Timedelta(days=models.window_days))
    span = pd.Timedelta(days=span_days)
    ratios = []
    s = (t - span).normalize()
    while s >= first and len(ratios) < max_windows:
        pipe = tm.pipeline_rows(known, s)
        expected = float((_amounts(pipe) * tm.window_probabilities(
            models.timing, pipe, 0.0, span_days)["won"]).sum())
        templates, window = _templates(known.known_before(s), s,
                                       settings.new_deal_window_days)
        if templates is not None and len(templates):
            rate = (span_days / window) * _share_won_by(models.timing, templates, span_days, s)
            expected += float((rate * _amounts(templates)).sum())
        won = opps[(opps["status"] == WON) & (opps["closed_at"] >= s)
                   & (opps["closed_at"] < s + span)]
        actual = float(won["amount"].fillna(0).sum())
        if expected > 0 and actual > 0:
            ratios.append(math.log(actual / expected))
        s -= pd.Timedelta(days=every_days)
    if len(ratios) < 2:
        return Drift(0.0, len(ratios), ratios,
                     note="too little history to measure forecast drift")
    sigma = float(np.sqrt(np.mean(np.square(ratios))))
    return Drift(sigma, len(ratios), ratios)


@lru_cache
def _normal_quantiles(nodes: int) -> np.ndarray:
    """Standard normal quantiles at the midpoints of `nodes` equal-probability slices."""
    from scipy.stats import norm

    return norm.ppf((np.arange(nodes) + 0.5) / nodes)


# --- the distribution ----------------------------------------------------------------------------


@dataclass
class Distribution:
    """A distribution on an ascending lattice of values."""

    values: np.ndarray
    pmf: np.ndarray
    step: float

    @property
    def mean(self) -> float:
        return float(np.dot(self.values, self.pmf))

    @property
    def cum(self) -> np.ndarray:
        """P(value ≤ values[j]) (computed once)."""
        if not hasattr(self, "_cum"):
            self._cum = np.cumsum(self.pmf)
        return self._cum

    def quantile(self, q: float) -> float:
        cdf = self.cum
        j = min(int(np.searchsorted(cdf, q * cdf[-1] - 1e-12)), len(cdf) - 1)
        return float(self.values[j])

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(value ≤ x) at each x. The values are evenly spaced, so this is index arithmetic."""
        cum = np.concatenate([[0.0], self.cum])
        if self.step <= 0 or len(self.values) < 2:
            return cum[np.searchsorted(self.values, x, side="right")]
        j = np.floor((np.asarray(x) - self.values[0]) / self.step + 1e-9).astype(np.int64)
        return cum[np.clip(j, -1, len(self.values) - 1) + 1]

    def scaled(self, sigma: float, nodes: int = 16, size: int = 512) -> Distribution:
        """The distribution of F·X, F log-normal with mean 1 and log sd `sigma` (drift)."""
        z = _normal_quantiles(nodes)
        factors = np.exp(sigma * z - sigma**2 / 2)
        lo = float(self.values[0]) * factors.min()
        hi = float(self.values[-1]) * factors.max()
        if hi <= lo:
            return self
        grid = np.linspace(lo, hi, size)
        cdf = self.cdf(grid[None, :] / factors[:, None]).mean(axis=0)
        pmf = np.diff(np.concatenate([[0.0], cdf]))
        pmf[-1] += 1.0 - pmf.sum()
        return Distribution(grid, np.clip(pmf, 0.0, None), float(grid[1] - grid[0]))

    def prob_at_least(self, x: float) -> float:
        """P(value ≥ x), the lattice read linearly between its points."""
        if self.step <= 0:
            return float(self.pmf[self.values >= x].sum())
        weight = np.clip((self.values - x) / self.step + 1.0, 0.0, 1.0)
        return float(np.clip(np.dot(weight, self.pmf), 0.0, 1.0))


def _window(mean: np.ndarray, var: np.ndarray, biggest: np.ndarray, low: np.ndarray,
            high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds holding all but a negligible share of a sum of independent bounded parts.

    8 standard deviations, plus the largest single part (so one rare big deal, won or not,
    stays inside), clipped to what the sum can reach.
    """
    t = 8.0 * np.sqrt(var) + biggest
    return np.maximum(low, mean - t), np.minimum(high, mean + t)


def _rebin(values: np.ndarray, masses: np.ndarray, step: float | np.ndarray, L: int,
           row: np.ndarray, n_rows: int) -> np.ndarray:
    """Masses at `values` split onto a lattice of `step` (mod L), linearly: means stay exact."""
    x = values / step
    m0 = np.floor(x).astype(np.int64)
    f = x - m0
    flat = np.bincount(row * L + m0 % L, masses * (1 - f), n_rows * L)
    flat += np.bincount(row * L + (m0 + 1) % L, masses * f, n_rows * L)
    return flat.reshape(n_rows, L)


def group_distributions(
    amount: np.ndarray,
    prob: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    new_amount: np.ndarray | None = None,
    new_rate: np.ndarray | None = None,
    new_group: np.ndarray | None = None,
    *,
    lattice: int = LATTICE,
    group_lattice: int | None = None,
    cell_deals: int = CELL_DEALS,
) -> list[Distribution]:
    """Per group, the distribution of Σ amount·Bernoulli(prob) (+ a compound-Poisson part).

    Deals are independent. `new_rate[i]` is the Poisson rate of deals like template i (amount
    `new_amount[i]`) in group `new_group[i]`. Deals are sorted by amount inside their group and
    cut into cells of similar deals; each cell is convolved exactly on its own fine lattice,
    then the cells of a group (and its new deals) are joined by FFT on the group's lattice.
    """
    if group_lattice is None:  # a group's window spans ~16 sd: 512 points still resolve it
        group_lattice = GROUP_LATTICE if n_groups <= 64 else GROUP_LATTICE // 4
    a = np.asarray(amount, dtype=float)
    p = np.clip(np.asarray(prob, dtype=float), 0.0, 1.0)
    g = np.asarray(group, dtype=np.int64)
    keep = (p > 0) & (a > 0)
    a, p, g = a[keep], p[keep], g[keep]
    order = np.lexsort((a, g))
    a, p, g = a[order], p[order], g[order]

    # Cells: up to `cell_deals` deals of similar amount in one group.
    counts = np.bincount(g, minlength=n_groups)
    n_cells_g = -(-counts // cell_deals)
    first_cell = np.cumsum(n_cells_g) - n_cells_g
    within = np.arange(len(g)) - (np.cumsum(counts) - counts)[g]
    cell = first_cell[g] + within // cell_deals
    n_cells = int(n_cells_g.sum())
    cell_group = np.repeat(np.arange(n_groups), n_cells_g)
    c_mean = np.bincount(cell, a * p, n_cells)
    c_var = np.bincount(cell, a * a * p * (1 - p), n_cells)
    c_high = np.bincount(cell, a, n_cells)
    c_big = np.zeros(n_cells)
    np.maximum.at(c_big, cell, a)
    c_lo, c_hi = _window(c_mean, c_var, c_big, np.zeros(n_cells), c_high)
    c_step = np.maximum(c_hi - c_lo, 1e-9) / (lattice - 2)
    c_base = np.floor(c_lo / c_step).astype(np.int64)
    pmf = _cell_pmfs(a, p, cell, n_cells, c_step[cell], lattice)
    idx = c_base[:, None] + np.arange(lattice)
    c_values = idx * c_step[:, None]
    c_masses = np.take_along_axis(pmf, idx % lattice, axis=1)

    # Groups: window from the cells' and new deals' moments.
    g_mean = np.bincount(cell_group, c_mean, n_groups)
    g_var = np.bincount(cell_group, c_var, n_groups)
    # A cell's mass may sit one of its lattice steps beyond its window: keep that inside.
    g_lo = np.maximum(np.bincount(cell_group, c_lo - c_step, n_groups), 0.0)
    g_hi = np.bincount(cell_group, c_hi + c_step, n_groups)
    g_big = np.zeros(n_groups)
    np.maximum.at(g_big, cell_group, c_hi - c_lo)
    nr = na = ng = None
    if new_rate is not None and len(new_rate):
        nr = np.asarray(new_rate, dtype=float)
        na = np.asarray(new_amount, dtype=float)
        ng = np.asarray(new_group, dtype=np.int64)
        ok = (nr > 0) & (na > 0)
        nr, na, ng = nr[ok], na[ok], ng[ok]
        g_mean += np.bincount(ng, nr * na, n_groups)
        g_var += np.bincount(ng, nr * na * na, n_groups)
        g_hi = np.where(np.bincount(ng, nr, n_groups) > 0, np.inf, g_hi)
        np.maximum.at(g_big, ng, na)
    lo, hi = _window(g_mean, g_var, g_big, g_lo, g_hi)
    width = np.maximum(hi - lo, 0.0)
    step = np.where(width > 0, width / (group_lattice - 4), 1.0)
    base = np.floor(lo / step).astype(np.int64)

    measure = _rebin(c_values.ravel(), c_masses.ravel(), np.repeat(step[cell_group], lattice),
                     group_lattice, np.repeat(np.arange(n_cells), lattice), n_cells)
    spectrum = np.ones((n_groups, group_lattice // 2 + 1), dtype=complex)
    if n_cells:
        cell_spectra = np.fft.rfft(measure, axis=1)
        has = n_cells_g > 0
        spectrum[has] = np.multiply.reduceat(cell_spectra, first_cell[has], axis=0)
    if nr is not None and len(nr):
        rate = _rebin(na, nr, step[ng], group_lattice, ng, n_groups)
        spectrum *= np.exp(np.fft.rfft(rate, axis=1) - rate.sum(1, keepdims=True))
    dense = np.clip(np.fft.irfft(spectrum, n=group_lattice, axis=1), 0.0, None)
    dense /= np.maximum(dense.sum(1, keepdims=True), 1e-300)
    out = []
    for i in range(n_groups):
        if width[i] <= 0:
            out.append(Distribution(np.array([0.0]), np.array([1.0]), 0.0))
            continue
        idx_g = base[i] + np.arange(group_lattice)
        out.append(Distribution(idx_g * step[i], dense[i, idx_g % group_lattice],
                                float(step[i])))
    return out


def _cell_pmfs(a: np.ndarray, p: np.ndarray, cell: np.ndarray, n_cells: int,
               step: np.ndarray, L: int) -> np.ndarray:
    """Each cell's exact distribution on its lattice (mod L), one deal per cell at a time.

    A deal of x lattice steps adds (1−p)·pmf + p·(1−f)·shift(pmf, ⌊x⌋) + p·f·shift(pmf, ⌊x⌋+1),
    f = x − ⌊x⌋. The pmf is stored twice side by side, so every row's cyclic shift is a window
    of one strided view (no index arrays).
    """
    buf = np.zeros((n_cells, 2 * L), dtype=np.float32)
    buf[:, 0] = buf[:, L] = 1.0
    if len(a) == 0:
        return buf[:, :L].astype(float)
    counts = np.bincount(cell, minlength=n_cells)
    pos = np.arange(len(a)) - (np.cumsum(counts) - counts)[cell]
    depth = int(counts.max())
    x = a / step
    m0 = np.floor(x).astype(np.int64)
    frac = (x - m0).astype(np.float32)
    prob = np.zeros((depth, n_cells), np.float32)
    shift = np.zeros((depth, n_cells), np.int64)
    part = np.zeros((depth, n_cells), np.float32)
    prob[pos, cell], shift[pos, cell], part[pos, cell] = p, m0 % L, frac
    view = sliding_window_view(buf, L, axis=1)
    rows = np.arange(n_cells)
    for i in range(depth):
        active = prob[i] > 0
        r = rows[active] if not active.all() else rows
        q, s, f = prob[i, r], shift[i, r], part[i, r]
        new = buf[r, :L] * (1 - q)[:, None]
        new += view[r, L - s] * (q * (1 - f))[:, None]
        new += view[r, L - s - 1] * (q * f)[:, None]
        buf[r, :L] = new
        buf[r, L:] = new
    return buf[:, :L].astype(float)


def combine(dists: list[Distribution], lattice: int = TOTAL_LATTICE) -> Distribution:
    """The distribution of the sum of independent parts (re-binned on one lattice, by FFT)."""
    if len(dists) == 1:
        return dists[0]
    means = np.array([d.mean for d in dists])
    var = np.array([float(np.dot((d.values - d.mean) ** 2, d.pmf)) for d in dists])
    lows = np.array([d.values[d.pmf > 0].min() if (d.pmf > 0).any() else 0.0 for d in dists])
    highs = np.array([d.values[d.pmf > 0].max() if (d.pmf > 0).any() else 0.0 for d in dists])
    spread = np.array([h - lo for h, lo in zip(highs, lows, strict=True)])
    lo, hi = _window(np.array([means.sum()]), np.array([var.sum()]), np.array([spread.max()]),
                     np.array([lows.sum()]), np.array([highs.sum()]))
    width = float(hi[0] - lo[0])
    if width <= 0:
        return Distribution(np.array([float(means.sum())]), np.array([1.0]), 0.0)
    L = lattice
    step = width / (L - 2)
    base = int(np.floor(lo[0] / step))
    rows = np.concatenate([np.full(len(d.values), i) for i, d in enumerate(dists)])
    measure = _rebin(np.concatenate([d.values for d in dists]),
                     np.concatenate([d.pmf for d in dists]), step, L, rows, len(dists))
    spectrum = np.prod(np.fft.rfft(measure, axis=1), axis=0)
    dense = np.clip(np.fft.irfft(spectrum, n=L), 0.0, None)
    dense /= max(dense.sum(), 1e-300)
    idx = base + np.arange(L)
    return Distribution(idx * step, dense[idx % L], step)

