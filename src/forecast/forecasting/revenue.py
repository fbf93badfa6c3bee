"""The revenue forecast for a period: expected won revenue, its range, and the chance to hit target.

For a period [t0, t1) seen from `as_of` (the pipeline = deals open just before `as_of`):

- per open deal, P(won AND closed inside the period) from the time-to-close model
  (`forecast.timing`: competing risks, so a deal that closes inside the period may close lost);
- deals not yet created: recent creations (the last `new_deal_window_days`, per group) set the
  pace, and each stands for deals like it created between `as_of` and the period's end (so a
  forecast made weeks ahead counts the deals created before the period that close inside it),
  won inside the period with the model's probability. Where the record of creations reaches a
  year back, each day's pace follows the season (`seasonality.creation_pace`). They form a
  Poisson process (thinned by that probability), shown as a separate line and included in the
  range;
- revenue already won inside the period before `as_of` is added as it is;
- the classic weighted pipeline (amount × per-stage historical win rate known at `as_of`, no
  timing) beside it, so managers see both.

The range is the exact distribution of the sum of independent deal outcomes, not a normal guess:
each group's total is convolved on a lattice of 512 points spanning the interval that holds all
but 1e-12 of its probability (Bernstein's bound). A deal's amount falls between two lattice
points and its mass is split between them in proportion, which keeps every mean exact. Groups are
convolved deal by deal in cells of up to 256 deals (vectorised across cells), cells are joined by
FFT, new deals enter through the compound-Poisson characteristic function, and the total is
convolved the same way from every deal at once on a 4,096-point lattice, so its range and chance
of target are the same whatever the grouping (the groups' means add up to it). It is exact up to
the lattice step, deterministic (no seed), and for 100,000 deals takes a fraction of a second.
A few deals far bigger than the rest (one enterprise deal among small ones) are kept off the
lattice as exact point masses, so they do not blur the other deals' range (`distribution`).

Deal-by-deal chance is not the only uncertainty: the pace of new deals and win rates shift from
one period to the next. `measure_drift` replays the fitted models on past windows of the same
length (known at `as_of`) and the spread of log(actual / expected) widens the range through a
mean-one log-normal factor. Where history is too short for windows of the forecast's length, it
is measured on shorter ones (erring wide), and the notes say so.

What a forecast holds in memory grows with the number of deals, not with how far the period lies
past `as_of`: the time-to-close model walks its time buckets one at a time and keeps running sums
(`timing.hazard`), the lattices have fixed sizes, and the horizon cap (`date_reach.check_reach`)
bounds the number of buckets, hence the time. Checkpoints (`forecast.budget.check`) let a
caller's time budget or cancel flag stop the work between steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast import budget
from forecast import timing as tm
from forecast.data.stages import WON
from forecast.date_reach import check_reach
from forecast.errors import InvalidInput
from forecast.features import deal_amounts, deal_values
from forecast.forecasting.distribution import TOTAL_LATTICE, Distribution, group_distributions
from forecast.forecasting.drift import Drift, cached_drift
from forecast.forecasting.fitted import ForecastModels, fit_forecast_models, share_won_inside
from forecast.forecasting.seasonality import creation_pace
from forecast.forecasting.targets import TOTAL  # the total line's name, as targets name it
from forecast.formatting import rounded
from forecast.groups import GROUP_COLUMNS, canonical_group
from forecast.history import DealHistory, as_timestamp
from forecast.periods import Period, default_as_of, parse_period
from forecast.settings import Settings

MISSING_GROUP = "(none)"


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
        return {k: rounded(v, 2) for k, v in self.__dict__.items()}


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
    #: Per deal not yet created (a template): its value and the Poisson rate of such deals won
    #: inside the period (the drift reads a window's parts from `deals` and these).
    new_streams: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.to_dict(),
            "as_of": str(self.as_of.date())
            if self.as_of == self.as_of.normalize()
            else str(self.as_of),
            "by": self.by,
            "method": self.method,
            "range": "exact convolution of per-deal outcomes (lattice), P10/P50/P90",
            "new_deals_line": self.new_deals,
            "groups": [g.to_dict() for g in self.groups],
            "total": self.total.to_dict(),
            "notes": list(self.notes),
        }


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

    `as_of` defaults to the period start when that is past, else `history.now()`. `targets` maps a
    group to its target (a number alone is the total's target). `models` pre-fitted by
    `fit_forecast_models` are reused; otherwise they are fitted as of `as_of`.
    """
    per = period if isinstance(period, Period) else parse_period(period)
    by = canonical_group(by)
    column = _group_column(by)
    t = as_timestamp(as_of) if as_of is not None else default_as_of(per, history.now(now))
    check_reach(history, {"as_of": t, f"period {per.label}": per.start}, settings)
    if column is not None and column not in history.deals.columns:
        raise InvalidInput(f"cannot group by {by!r}: the data has no {column!r} column")
    if models is None:
        models = fit_forecast_models(history, t, settings=settings)
    budget.check()
    opps = history.as_of(t)
    pipeline = tm.pipeline_rows(history, t)
    budget.check()
    won = won_inside(opps, per)
    known_groups = group_labels(opps, column) if column else np.array([], dtype=object)
    drift = None
    if per.end > t:
        span = (per.end - max(per.start, t)) / tm.DAY
        drift = cached_drift(history, models, span, settings)
        budget.check()
    return forecast_pipeline(
        pipeline,
        models,
        per,
        t,
        by=by,
        targets=targets,
        won=won,
        known_groups=set(known_groups.tolist()),
        include_new_deals=include_new_deals,
        drift=drift,
    )


def won_in_period(
    history: DealHistory, period: Period | str, by: str | None, as_of: object
) -> dict[str, Any] | None:
    """What the period won, as the data knows it now, where it knows more than the forecast
    did (a forecast of a period already over, or of one under way made as of an earlier date):
    a manager reads the forecast beside the actual, as the dashboard's chart shows them. None
    where the data ends by `as_of` or before the period starts. Won as the forecast's own
    `won_so_far` counts it (the deals as known at the data's end, by outcome date), in total
    and per `by` group."""
    per = parse_period(period) if isinstance(period, str) else period
    now, t = history.now(), as_timestamp(as_of)
    if now <= t or now <= per.start:
        return None
    by = canonical_group(by)
    column = _group_column(by)
    won = won_inside(history.as_of(now), per)
    amounts = won_amounts(won)
    groups: dict[str, float] = {}
    if column is not None:
        sums = pd.Series(amounts).groupby(group_labels(won, column)).sum()
        groups = {str(g): rounded(float(v), 2) for g, v in sums.items()}
    return {
        "through": str((min(per.end, now) - pd.Timedelta(days=1)).date()),  # its last day
        "complete": bool(per.end <= now),
        "total": rounded(float(amounts.sum()), 2),
        "groups": groups,
    }


def won_inside(known: pd.DataFrame, per: Period) -> pd.DataFrame:
    """The deals of `known` (as known at some date) won inside `per`, by outcome date: the
    forecast's `won_so_far` as of its date, the period's actual as of the data's end."""
    return known[(known["status"] == WON) & per.contains(known["closed_at"])]


def won_amounts(won: pd.DataFrame) -> np.ndarray:
    """Won deals' amounts, a blank one as 0 (a won deal without an amount adds nothing)."""
    return won["amount"].fillna(0).to_numpy(dtype=float)


def unvalued_note(pipeline: pd.DataFrame) -> str | None:
    """What the forecast says of open deals with no amount and no list price: each counts as
    0, so a pipeline where many lack one forecasts low, and the user must know why."""
    if not len(pipeline):
        return None
    blank = int(deal_values(pipeline).isna().sum())
    if blank == 0:
        return None
    return (
        f"{blank:,} of the {len(pipeline):,} open deals have no amount (nor a list price): "
        "each counts as 0 in the forecast"
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
    by = canonical_group(by)
    column = _group_column(by)
    start = max(0.0, (period.start - as_of) / tm.DAY)
    end = max(0.0, (period.end - as_of) / tm.DAY)
    p = tm.window_probabilities(models.timing, pipeline, start, end)["won"]
    amount = deal_amounts(pipeline)
    deal_groups = (
        group_labels(pipeline, column) if column else np.full(len(pipeline), TOTAL, object)
    )
    weighted = None
    if models.stage_rates is not None:
        rates = (
            models.stage_rates.predict_proba(pipeline[["stage"]])[:, 1]
            if len(pipeline)
            else np.zeros(0)
        )
        weighted = amount * rates

    # Deals not yet created: each recent creation stands for a Poisson stream of similar deals.
    new_rate = new_amount = new_value = pace = None
    new_groups = np.array([], dtype=object)
    # Created from `as_of` to the period's end: a forecast made ahead of its period counts the
    # deals created before the period starts that will be won inside it.
    span = (period.end - as_of) / tm.DAY
    templates = models.templates if include_new_deals and span > 0 else None
    lines_new = templates is not None
    if templates is not None:
        pace = creation_pace(models.created, as_of, models.window_days)
        key = (id(models.timing), as_of, period.start, period.end)
        if key not in models.cache:  # the same models and window give the same line
            models.cache[key] = share_won_inside(
                models.timing, templates, as_of, (period.start - as_of) / tm.DAY, span, pace
            )
        new_rate = (span / models.window_days) * models.cache[key]
        new_amount = templates["value"].to_numpy(dtype=float)
        new_value = new_rate * new_amount
        new_groups = (
            group_labels(templates, column) if column else np.full(len(templates), TOTAL, object)
        )

    won = won if won is not None else pipeline.iloc[:0]
    won_groups = group_labels(won, column) if column else np.full(len(won), TOTAL, object)
    won_amount = won_amounts(won)

    names = sorted(set(deal_groups) | set(new_groups) | set(won_groups) | (known_groups or set()))
    if not column:
        names = [TOTAL]
    target_of = _targets(targets, names, by)
    lookup = np.array(names, dtype=object)
    g_deal = _codes(deal_groups, lookup)
    g_new = _codes(new_groups, lookup)
    g_won = _codes(won_groups, lookup)
    budget.check()
    total_dist = total_distribution(amount, p, new_amount, new_rate)
    dists = (
        group_distributions(amount, p, g_deal, len(names), new_amount, new_rate, g_new)
        if column
        else [total_dist]
    )
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
    new_g = per_group(g_new, new_value) if new_value is not None else None
    wp_g = per_group(g_deal, weighted) if weighted is not None else None
    lines = [
        _line(
            name,
            int(deals_n[i]),
            float(value_g[i]),
            float(done_g[i]),
            float(exp_g[i]),
            None if new_g is None else float(new_g[i]),
            dists[i],
            None if wp_g is None else float(done_g[i] + wp_g[i]),
            target_of.get(name),
        )
        for i, name in enumerate(names)
    ]
    total_done = float(won_amount.sum())
    total = _line(
        TOTAL,
        len(pipeline),
        float(amount.sum()),
        total_done,
        float((amount * p).sum()),
        float(new_value.sum()) if new_value is not None else None,
        total_dist,
        None if weighted is None else total_done + float(weighted.sum()),
        target_of.get(TOTAL),
    )
    groups = sorted(lines, key=lambda g: -g.expected) if column else []
    deals = pd.DataFrame(
        {
            "id": pipeline["id"].to_numpy(),
            "group": deal_groups,
            "stage": pipeline["stage"],
            "amount": amount,
            "p_won_in_period": p,
            "expected": amount * p,
        }
    )
    if weighted is not None:
        deals["weighted"] = weighted
    notes = list(models.notes)
    if pace is not None:
        notes.append(
            "the pace of deals not yet created follows the season: each day's is scaled by how "
            "creation then, a year earlier, compared with the recent window"
        )
    if drift is None or drift.sigma <= 0:
        notes.append(
            "the range holds deal-by-deal chance only: "
            + (drift.note if drift is not None else "forecast drift not measured")
        )
    else:
        notes.append(
            f"the range includes a forecast drift of ±{drift.sigma:.0%} (log sd), "
            f"measured on {drift.windows} past windows" + (f" ({drift.note})" if drift.note else "")
        )
    if models.as_of != as_of:
        notes.append(f"models fitted as of {models.as_of.date()}, pipeline as of {as_of.date()}")
    if no_value := unvalued_note(pipeline):
        notes.append(no_value)
    if column and names == [MISSING_GROUP]:
        notes.append(
            f"by {by}: the deals name no {by} at all (every one is {MISSING_GROUP}); map the "
            f"export's {by} column to see the forecast per {by}"
        )
    streams = None
    if new_rate is not None and new_amount is not None:
        streams = pd.DataFrame({"value": new_amount, "rate": new_rate})
    return RevenueForecast(
        period, as_of, by, groups, total, models.method, bool(lines_new), notes, deals, streams
    )


def total_distribution(
    amount: np.ndarray,
    prob: np.ndarray,
    new_amount: np.ndarray | None,
    new_rate: np.ndarray | None,
) -> Distribution:
    """The total's distribution from every deal at once, whatever the grouping: convolving the
    groups' own lattices instead would move the total's range and chance of target with `by`."""
    one = np.zeros(len(amount), dtype=np.int64)
    new_one = None if new_rate is None else np.zeros(len(new_rate), dtype=np.int64)
    return group_distributions(
        amount, prob, one, 1, new_amount, new_rate, new_one, group_lattice=TOTAL_LATTICE
    )[0]


def _line(
    name: str,
    deals: int,
    value: float,
    done: float,
    exp_pipe: float,
    exp_new: float | None,
    dist: Distribution,
    weighted: float | None,
    target: float | None,
) -> GroupForecast:
    q10, q50, q90 = (done + dist.quantile(q) for q in (0.1, 0.5, 0.9))
    p_target = None
    if target is not None:
        p_target = dist.prob_at_least(target - done)
    return GroupForecast(
        name,
        deals,
        value,
        done,
        exp_pipe,
        exp_new,
        done + exp_pipe + (exp_new or 0.0),
        q10,
        q50,
        q90,
        weighted,
        target,
        p_target,
    )


def _codes(labels: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Positions of `labels` in the sorted array `names`."""
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.searchsorted(names, np.asarray(labels, dtype=object)).astype(np.int64)


def _group_column(by: str | None) -> str | None:
    if by is None:
        return None
    if by not in GROUP_COLUMNS:
        raise InvalidInput(
            f"cannot group by {by!r}: use one of {', '.join(GROUP_COLUMNS)} "
            "(or leave it out for the total)"
        )
    return GROUP_COLUMNS[by]


def group_labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Each row's group under `column` (`MISSING_GROUP` where blank or absent)."""
    if column not in frame:
        return np.full(len(frame), MISSING_GROUP, dtype=object)
    values = frame[column].astype(object)
    return values.where(values.notna(), MISSING_GROUP).astype(str).to_numpy(dtype=object)


def _targets(
    targets: Mapping[str, float] | float | None, names: list[str], by: str | None
) -> dict[str, float]:
    if targets is None:
        return {}
    if isinstance(targets, (int, float)):
        targets = {TOTAL: float(targets)}
    out = {}
    for group, value in targets.items():
        key = TOTAL if group in (None, "", TOTAL, "all") else str(group)
        if key != TOTAL and by is None:
            raise InvalidInput(
                f"target for {group!r}: a group's target needs the forecast per group "
                "(by team, rep, product or region); a target for the whole is an amount alone"
            )
        if key != TOTAL and key not in names:
            what = by or "group"
            known = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
            raise InvalidInput(
                f"target for unknown {what} {group!r}: no deals for it in the data; known: {known}"
            )
        try:
            amount = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"target for {group!r} is not a number: {value!r}") from None
        if not math.isfinite(amount) or amount < 0:
            raise InvalidInput(f"target for {group!r} must be a non-negative amount, got {value}")
        out[key] = amount
    return out
