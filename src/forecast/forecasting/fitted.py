"""What a forecast needs, fitted on what was known before its as-of date: the timing model (or
its per-stage baseline), the stage win rates, and the recent creations that set the pace of
deals not yet created."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast import features as feat
from forecast import timing as tm
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.forecasting.distribution import outsized_bar
from forecast.forecasting.seasonality import Pace
from forecast.history import JUST_AFTER, DealHistory, as_timestamp
from forecast.history_inputs import undated_closes_note
from forecast.modeling.baselines import stage_win_rates
from forecast.settings import Settings, get_settings


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
    fit_notes: list[str] = field(default_factory=list)  # what the fit left out or fell back on
    cache: dict = field(default_factory=dict, repr=False)  # per period span: drift, new deals
    #: Creation dates known before `as_of` (real ones only): the season of the new-deal pace.
    created: np.ndarray = field(default_factory=lambda: np.array([], dtype="datetime64[us]"))
    #: What the new-deal pace of the as-of date left out (renewed with it by `refreshed`).
    pace_notes: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [*self.fit_notes, *self.pace_notes]


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
    settings = settings or get_settings()
    t = as_timestamp(as_of)
    known = history.known_before(t)
    rows = tm.survival_rows(
        history,
        t,
        every_days=settings.timing_every_days,
        half_life_days=settings.timing_half_life_days,
    )
    notes: list[str] = list(history.leak_notes)
    baseline: tm.StageKaplanMeier | None
    try:  # fits the baseline too: fitted here only when the model cannot be
        model, baseline = tm.fit_timing(history, t, settings=settings, seed=seed, rows=rows)
        timing: tm.TimeToClose | tm.StageKaplanMeier = model
        method = "time-to-close model"
        notes.extend(_recent_level_note(model, settings))
    except InsufficientHistory as exc:
        if not (len(rows) and (rows["event"] > 0).any()):
            raise InsufficientHistory(_no_history(known, t)) from None
        baseline = tm.StageKaplanMeier(
            max_age_days=max(730, settings.timing_max_age_days),
            one_stage="stage" in history.left_out,
        ).fit(rows, len(history.stages.open_stages))
        timing, method = baseline, "per-stage close-time baseline"
        notes.append(f"{exc}; the forecast uses the per-stage close-time distributions")
    stage_rates, templates, window, created, pace_notes = _current(known, t, settings)
    return ForecastModels(
        t,
        timing,
        baseline,
        stage_rates,
        templates,
        window,
        method,
        notes,
        created=created,
        pace_notes=pace_notes,
    )


def _no_history(known: DealHistory, t: pd.Timestamp) -> str:
    """Why nothing could be learnt as of t: closes without creation dates, or no close yet."""
    undated = undated_closes_note(known.deals, "the time to close")
    return undated or f"no deal had closed before {t.date()}: there is no history to forecast from"


#: A change in odds smaller than this (5%) is too small to tell a reader of: the notes say
#: "differ" only of a level that moved by more, though the model takes up any shift it kept.
NEGLIGIBLE_ODDS_CHANGE = 0.05


def _visible(ratio: float) -> bool:
    """Whether a ratio (of odds or of rates) is a change a reader should hear about."""
    return abs(ratio - 1.0) >= NEGLIGIBLE_ODDS_CHANGE


def _recent_level_note(model: tm.TimeToClose, settings: Settings) -> list[str]:
    """Say so where the model took up the level of the last days (`TimeToClose.shift_to`):
    the business as the record shows it lately differs from its longer history. Only the
    levels that moved by more than a negligible amount are named; none, no note (a shift kept
    beyond its noise can still be shrunk to almost nothing)."""
    notes = []
    shift = getattr(model, "recent_shift_", {})
    said = {"close": "closes", "won": "wins among closes"}
    parts = [
        f"{said[k]} (×{np.exp(v):.2f} in odds)" for k, v in shift.items() if _visible(np.exp(v))
    ]
    if parts:
        notes.append(
            f"the last {settings.timing_recent_days:.0f} days differ from the longer history "
            f"beyond their noise in {' and '.join(parts)}: the time-to-close model takes up "
            "their level"
        )
    level = getattr(model, "cohort_", None)
    if level is not None and (_visible(level.won) or _visible(level.lost)):
        notes.append(
            f"the {level.deals} deals created in the last {settings.timing_recent_days:.0f} days "
            f"were won ×{level.won:.2f} and lost ×{level.lost:.2f} as often as older deals at "
            f"the same ages ({level.observed_won:.0f} won against {level.expected_won:.1f}, "
            f"{level.observed_lost:.0f} lost against {level.expected_lost:.1f}, shrunk by their "
            "noise): their forecast and that of deals not yet created take this up"
        )
    return notes


#: The share of a cohort's gap from 1 its noise must leave (`timing.cohort.kept`) for the cohort
#: to count as a change of the business where nothing else can tell: 1 − v / gap² ≥ 1 − 1/2², the
#: gap two standard errors or more from "no change".
SURE_CHANGE_KEPT = 1.0 - 1.0 / 2.0**2


@dataclass(frozen=True)
class RecentChange:
    """The business has changed lately (`recent_change`): why a run rate of recent wins reads a
    level it has left, and which way it went."""

    reason: str
    #: -1: the deals created lately do worse than older ones (won less or lost more often);
    #: +1: better; 0: both ways at once.
    direction: int

    def leaves_run_rate(self, ours: float | None, run_rate: float | None) -> bool:
        """Whether ours, not the run rate, should be shown before a record: ours moved off the
        run rate the way the business went. Where ours lies on the run rate's other side, it
        has not taken the change up, and the run rate is the nearer of the two to where the
        business went (whatever the size of the change): the naive rule stands."""
        if self.direction == 0 or ours is None or run_rate is None:
            return True
        return (ours - run_rate) * self.direction > 0

    def against_run_rate(self, forecasts: Mapping[str, float | None]) -> str | None:
        """Why the run rate is not shown before a record, from the methods' forecasts now
        (`model`, `run_rate`): the reason where ours took the change up, else None."""
        ours, run_rate = forecasts.get("model"), forecasts.get("run_rate")
        return self.reason if self.leaves_run_rate(ours, run_rate) else None


def recent_change(model: Any, settings: Settings | None = None) -> RecentChange | None:
    """Whether a run rate of recent wins reads a level the business has left, or None: the
    deals created lately are won or lost at a rate two or more standard errors from the older
    deals' at the same ages (`TimeToClose.cohort_`; losses count: a change shows in them first,
    and deals lost sooner are deals not won later). The recent window's wins come mostly from
    older deals, so before a track record the choice should not show it where ours has taken the
    change up (`choice.choose`'s `no_hedge`, `RecentChange.leaves_run_rate`)."""
    level = getattr(model, "cohort_", None)
    if level is None or not level.moved or level.weight < SURE_CHANGE_KEPT:
        return None
    days = (settings or get_settings()).timing_recent_days
    # Only the ratios that moved (one did): one shrunk to ×1.00 reads as "no change" to a
    # manager who knows the win rate halved (its losses show it first).
    said = " and ".join(
        f"{k} ×{v:.2f}" for k, v in (("won", level.won), ("lost", level.lost)) if v != 1.0
    )
    within = (
        " (their wins within the noise)"
        if level.won == 1.0
        else " (their losses within the noise)"
        if level.lost == 1.0
        else ""
    )
    reason = (
        f"the {level.deals} deals created in the last {days:.0f} days were {said} as often as "
        f"older deals at the same ages{within}, two or more standard errors from no change, "
        "while the run rate's wins are mostly older deals'"
    )
    ways = {int(np.sign(level.won - 1.0)), int(np.sign(1.0 - level.lost))} - {0}
    return RecentChange(reason, ways.pop() if len(ways) == 1 else 0)


def changed_lately(model: Any, settings: Settings | None = None) -> str | None:
    """Why a run rate of recent wins reads a level the business has left (`recent_change`)."""
    change = recent_change(model, settings)
    return change.reason if change else None


def refreshed(
    models: ForecastModels, history: DealHistory, as_of: object, settings: Settings | None = None
) -> ForecastModels:
    """The same fitted time-to-close models, with what a day changes as of a later `as_of`: the
    stage win rates, the recent creations that set the new-deal pace, the record of creations.
    What a product that retrains on a schedule forecasts with between two retrainings."""
    settings = settings or get_settings()
    t = as_timestamp(as_of)
    if t < models.as_of:
        raise InvalidInput(
            f"models fitted as of {models.as_of.date()} cannot forecast as of {t.date()}"
        )
    stage_rates, templates, window, created, pace_notes = _current(
        history.known_before(t), t, settings
    )
    return replace(
        models,
        stage_rates=stage_rates,
        templates=templates,
        window_days=window,
        created=created,
        pace_notes=pace_notes,
    )


def _current(
    known: DealHistory, t: pd.Timestamp, settings: Settings
) -> tuple[Any, pd.DataFrame | None, float, np.ndarray, list[str]]:
    """What the forecast reads fresh each day: stage win rates, recent creations (and the
    window they span), real creation dates; and notes of what it had to leave out."""
    notes: list[str] = []
    stage_rates = stage_win_rates(known)
    templates, window = templates_as_of(known, t, settings.new_deal_window_days)
    if templates is None:
        notes.append("too little history of deal creation: no line for deals not yet created")
    else:
        notes.extend(_value_note(templates, window))
    dated = really_created(known.deals)
    undated = len(known.deals) - int(dated.sum())
    if undated:
        notes.append(
            f"{undated} deal{'s' if undated != 1 else ''} without a creation date (dated at the "
            "export) left out of the new-deal pace"
        )
    created = np.sort(known.deals.loc[dated, "created_at"].to_numpy("datetime64[us]"))
    return stage_rates, templates, window, created, notes


def really_created(deals: pd.DataFrame) -> pd.Series:
    """True for deals whose creation date is real: not estimated (a prospect the export left
    undated is dated at the export, which would read as a burst of creations)."""
    real = deals["created_at"].notna()
    if "created_estimated" in deals:
        real &= ~deals["created_estimated"].fillna(False).astype(bool)
    return real


def templates_as_of(
    known: DealHistory,
    t: pd.Timestamp,
    window_days: int,
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
    recent = opps[really_created(opps) & (opps["created_at"] >= t - pd.Timedelta(days=window))]
    if recent.empty:
        return None, window
    points = pd.DataFrame(
        {
            "id": recent["id"].to_numpy(),
            "as_of": recent["created_at"].to_numpy("datetime64[us]") + JUST_AFTER.to_timedelta64(),
        }
    )
    rows = feat.deal_rows_at(known, points).reset_index(drop=True)
    rows["value"] = feat.deal_amounts(rows) * _value_level(known, t, rows)
    return rows, window


def _value_note(templates: pd.DataFrame, window_days: float) -> list[str]:
    """Say so where the value per new deal is not the recent creations' own mean."""
    amount = float(feat.deal_amounts(templates).sum())
    value = float(templates["value"].sum())
    if amount <= 0 or abs(value / amount - 1) < 0.05:
        return []
    n = len(templates)
    return [
        f"deals not yet created are valued at {value / n:,.0f} each, not the {amount / n:,.0f} "
        f"mean of the last {window_days:.0f} days' creations: that mean is drawn toward the last "
        "year's by how far it lies within its own noise"
    ]


#: The longer record of creations the recent amounts are weighed against, and its half-life.
VALUE_HISTORY_DAYS = 365.0
VALUE_HALF_LIFE_DAYS = 182.0


def _value_level(known: DealHistory, t: pd.Timestamp, recent: pd.DataFrame) -> float:
    """The factor on the recent creations' amounts that takes their mean to its estimate.

    A quarter's creations hold a few large deals by chance, and the value of the deals not yet
    created swings with them. Their mean amount is shrunk toward the recency-weighted mean of the
    last year's creations by how far it lies beyond its own noise (δ·max(0, 1 − var/δ²), as the
    season and the recent timing level are): a real change in deal size is followed, a lucky
    quarter is not. Amounts are read as known just after each creation, as the recent ones are.
    """
    opps = known.deals
    longer = really_created(opps) & (
        opps["created_at"] >= t - pd.Timedelta(days=VALUE_HISTORY_DAYS)
    )
    created = opps.loc[longer, "created_at"].to_numpy("datetime64[us]")
    if len(created) <= len(recent) or len(recent) < 2:
        return 1.0
    pos = known.positions(opps.loc[longer, "id"])
    amounts = feat.deal_amounts(known.amounts_at(pos, created + JUST_AFTER.to_timedelta64()))
    age = (t.to_datetime64() - created) / np.timedelta64(1, "D")
    weight = 0.5 ** (age / VALUE_HALF_LIFE_DAYS)
    # One deal far bigger than the rest would set the level alone (a 1e8 deal among a year of
    # small ones valued every new deal 20 times higher): the level and the recent mean are read
    # without the creations the range would hold apart (each stands for a stream of deals like
    # it; the range counts such a template apart at its own amount, scaled with the rest).
    bar = outsized_bar(amounts, amounts * amounts)
    body = amounts <= bar
    if not body.any():
        return 1.0
    amounts, weight = amounts[body], weight[body]
    level = float(np.average(amounts, weights=weight))
    spread = float(np.average((amounts - level) ** 2, weights=weight))
    recent_amounts = feat.deal_amounts(recent)
    recent_amounts = recent_amounts[recent_amounts <= bar]
    if not len(recent_amounts):
        return 1.0
    mean = float(recent_amounts.mean())
    if mean <= 0:
        return 1.0
    delta = mean - level
    noise = spread / len(recent_amounts)
    kept = delta * max(0.0, 1.0 - noise / delta**2) if delta else 0.0
    return (level + kept) / mean


def share_won_by(
    model: Any,
    templates: pd.DataFrame,
    span: float,
    create_from: pd.Timestamp,
    pace: np.ndarray | None = None,
    static: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per template: P(won before the window ends) for a deal like it created at a uniform time
    inside the `span` days from `create_from` (at a rate scaled per slice by `pace`, one factor
    per slice of `slices(span)`, where the season makes some slices busier). `static`: the
    templates' `static_scores`, when the caller has them already.

    The window is cut into slices of one time bucket; a deal created in the middle of a slice is
    scored from that date (so the calendar, e.g. a quarter-end push, applies where it falls)
    over the time left, and the slices are averaged by their length.
    """
    starts, lengths = slices(model, span)
    mids = starts + lengths / 2
    weights = lengths if pace is None else lengths * pace
    fresh = templates.assign(age_days=0.0, days_in_stage=0.0)
    if static is None:
        static = _static_scores(model, templates)
    total = np.zeros(len(templates))
    for mid, weight in zip(mids, weights, strict=True):
        fresh["as_of"] = (create_from + pd.Timedelta(days=float(mid))).to_datetime64()
        fresh["as_of"] = fresh["as_of"].astype("datetime64[us]")
        kwargs = {"static": static} if static is not None else {}
        won = model.cumulative(fresh, [span - mid], **kwargs)["won"][:, 0]
        total += won * weight
    return total / span


def _static_scores(model: Any, templates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """The attribute parts of the templates' scores (None for a model without them): the same
    at every creation date, so computed once per window rather than once per pass."""
    return model.static_scores(templates) if hasattr(model, "static_scores") else None


def slices(model: Any, span: float) -> tuple[np.ndarray, np.ndarray]:
    """The creation slices of a span: one time bucket each (the last one shorter): starts and
    lengths in days."""
    width = float(getattr(model, "bucket_days", 7))
    starts = np.arange(0.0, span, width)
    return starts, np.minimum(width, span - starts)


def share_won_inside(
    model: Any,
    templates: pd.DataFrame,
    as_of: pd.Timestamp,
    start: float,
    end: float,
    pace: Pace = None,
) -> np.ndarray:
    """Per template: P(won inside the window [as_of + start, as_of + end) days) for a deal like
    it created at a uniform time between `as_of` and the window's end (or at the seasonal rate
    `pace` gives each creation slice).

    Deals created inside the window are scored as `share_won_by` scores them. Deals created
    before it (a forecast made weeks ahead of its period) are scored on one close-time curve of a
    deal created at `as_of`, read at each creation slice's distances to the window's two ends:
    one pass over the time buckets, whatever the lead, at the price of the calendar being that
    of `as_of` for those early creations.
    """
    start = max(0.0, start)
    inside = end - start
    if end <= 0:
        return np.zeros(len(templates))
    inner = None
    if pace is not None:
        lo, length = slices(model, inside)
        inner = pace(start + lo, start + lo + length)
    create_from = as_of + pd.Timedelta(days=start)
    static = _static_scores(model, templates)
    total = share_won_by(model, templates, inside, create_from, inner, static) * inside
    if start > 0:
        starts, lengths = slices(model, start)
        mids = starts + lengths / 2
        weights = lengths if pace is None else lengths * pace(starts, starts + lengths)
        fresh = templates.assign(age_days=0.0, days_in_stage=0.0)
        fresh["as_of"] = np.datetime64(as_of.to_datetime64(), "us")
        kwargs = {"static": static} if static is not None else {}
        curve = model.cumulative(fresh, [*(start - mids), *(end - mids)], **kwargs)["won"]
        before, by_end = curve[:, : len(mids)], curve[:, len(mids) :]
        total += ((by_end - before) * weights).sum(axis=1)
    return total / end
