"""Forecast drift: how far the fitted models missed on past windows of the same length.

Deal-by-deal chance is not the only uncertainty: the pace of new deals and win rates shift from
one period to the next. `measure_drift` replays the fitted models on past windows (known at the
as-of date) and the spread of log(actual / expected) widens the range through a mean-one
log-normal factor. Those models saw the windows they replay (in sample: narrow). The backtest
measures it out of sample instead (`drift_from_probes`): each origin's models forecast the next
days, and a later origin reads how far those forecasts missed. With too little history for
windows of the forecast's span, both fall back to shorter windows, which err wide.

Both read a window's miss without the deals far bigger than the rest (`without_outsized`): one
huge deal won in a past window is deal-by-deal chance, which the range holds apart already
(`distribution`), and its miss would otherwise set the range of every later forecast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast import budget
from forecast import timing as tm
from forecast.data.stages import WON
from forecast.features import deal_amounts
from forecast.forecasting.distribution import outsized_bar
from forecast.forecasting.fitted import ForecastModels, share_won_inside, templates_as_of
from forecast.forecasting.seasonality import creation_pace
from forecast.history import DealHistory
from forecast.settings import Settings, get_settings

#: The fewest past windows a drift is measured on: fewer say nothing about the spread.
MIN_WINDOWS = 3
#: The shortest windows the drift falls back to when the forecast's span has too few.
MIN_SPAN_DAYS = 14.0


@dataclass
class Drift:
    """How far the models' forecasts missed on past windows: log sd of actual / expected.
    `span_days`: the windows' length (shorter than the forecast's when history was short)."""

    sigma: float
    windows: int
    ratios: list[float] = field(default_factory=list)
    note: str = ""
    span_days: float = 0.0


def cached_drift(
    history: DealHistory, models: ForecastModels, span_days: float, settings: Settings | None
) -> Drift:
    """`measure_drift`, kept in `models.cache` per span: every forecast of the same models and
    span (the periods of one view, the windows of one backtest origin) shares it."""
    key = ("drift", round(span_days, 6))
    if key not in models.cache:
        models.cache[key] = measure_drift(history, models, span_days, settings=settings)
    return models.cache[key]


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

    When history holds fewer than `MIN_WINDOWS` windows of the span (a young dataset, a forecast
    far ahead), the windows halve until it does, down to `MIN_SPAN_DAYS`: a shorter window's
    relative miss is larger than a longer one's, so the range errs wide rather than holding
    deal-by-deal chance only, and the note says so.
    """
    settings = settings or get_settings()
    known = history.known_before(models.as_of)
    opps = known.deals
    closes = opps.loc[opps["status"].isin([WON, "lost"]), "closed_at"]
    if closes.empty:
        return Drift(0.0, 0, note="no close known yet", span_days=span_days)
    first = max(closes.min(), opps["created_at"].min() + pd.Timedelta(days=models.window_days))
    for span in probe_spans(span_days):
        ratios = _ratios(known, models, first, span, every_days, max_windows, settings)
        if len(ratios) >= MIN_WINDOWS:
            break
    if len(ratios) < MIN_WINDOWS:
        return Drift(
            0.0,
            len(ratios),
            ratios,
            note="too little history to measure forecast drift",
            span_days=span,
        )
    sigma = float(np.sqrt(np.mean(np.square(ratios))))
    note = ""
    if span < span_days:
        note = (
            f"too little history for {MIN_WINDOWS} past windows of {span_days:.0f} days: "
            f"drift measured on {span:.0f}-day windows, which errs wide"
        )
    return Drift(sigma, len(ratios), ratios, note=note, span_days=span)


def _ratios(
    known: DealHistory,
    models: ForecastModels,
    first: pd.Timestamp,
    span_days: float,
    every_days: int,
    max_windows: int,
    settings: Settings,
) -> list[float]:
    """log(actual / expected) on past windows of `span_days`, newest first."""
    opps = known.deals
    span = pd.Timedelta(days=span_days)
    ratios: list[float] = []
    # Windows end where the data does (after it, nothing happened to compare with), and the
    # replay tries a bounded number of them whatever the as-of date and span.
    s = (min(models.as_of, known.end + tm.DAY) - span).normalize()
    for _ in range(4 * max_windows):
        if s < first or len(ratios) >= max_windows:
            break
        budget.check()
        pipe = tm.pipeline_rows(known, s)
        amount = deal_amounts(pipe)
        chance = tm.window_probabilities(models.timing, pipe, 0.0, span_days)["won"]
        new_amount = new_rate = np.zeros(0)
        before = known.known_before(s)
        templates, window = templates_as_of(before, s, settings.new_deal_window_days)
        if templates is not None and len(templates):
            # As the forecast counts deals not yet created: the season's pace as known at s.
            created = models.created[: np.searchsorted(models.created, s.to_datetime64())]
            pace = creation_pace(created, s, window)
            share = share_won_inside(models.timing, templates, s, 0.0, span_days, pace)
            new_amount = templates["value"].to_numpy(dtype=float)
            new_rate = (span_days / window) * np.asarray(share, dtype=float)
        won = opps[
            (opps["status"] == WON) & (opps["closed_at"] >= s) & (opps["closed_at"] < s + span)
        ]
        expected, actual = without_outsized(
            amount, np.asarray(chance, dtype=float), new_amount, new_rate, won["amount"]
        )
        if expected > 0 and actual > 0:
            ratios.append(math.log(actual / expected))
        s -= pd.Timedelta(days=every_days)
    return ratios


def without_outsized(
    amount: np.ndarray,
    chance: np.ndarray,
    new_amount: np.ndarray,
    new_rate: np.ndarray,
    won: pd.Series | np.ndarray,
) -> tuple[float, float]:
    """A window's forecast and actual with the deals far bigger than the rest taken out of both.

    One huge deal won (or foreseen) in a past window would make its miss say nothing of the pace
    or win rates of the others, yet it set the range of every later forecast (one 1e8 deal among
    thousands of small ones measured a drift of ±573%). The range holds such deals apart as exact
    outcomes already (`distribution`), so the drift measures the rest: parts above the bar the
    range keeps deals apart by (`outsized_bar`, on the window's open deals, won with `chance`,
    and new-deal streams, of Poisson rate `new_rate`) leave the forecast, and won deals above it
    leave the actual, whether they were foreseen or created inside the window."""
    a = np.r_[np.asarray(amount, dtype=float), np.asarray(new_amount, dtype=float)]
    c = np.r_[np.asarray(chance, dtype=float), np.asarray(new_rate, dtype=float)]
    deal = np.arange(len(a)) < len(amount)
    c = np.where(deal, np.clip(c, 0.0, 1.0), np.maximum(c, 0.0))
    part = (a > 0) & (c > 0)  # as the range counts them
    var = a * a * np.where(deal, c * (1 - c), c)
    bar = outsized_bar(a[part], var[part])
    won_amount = pd.Series(won, dtype=float).fillna(0.0).to_numpy()
    expected = float((a * c)[part & (a <= bar)].sum())
    return expected, float(won_amount[won_amount <= bar].sum())


# --- out of sample: the backtest's own forecasts of the next days ---------------------------------


@dataclass(frozen=True)
class Probe:
    """What the models fitted at `origin` forecast for the next `span_days` (the pipeline then
    and deals not yet created), beside what was won: one out-of-sample error for the drift of
    forecasts made later. `level` 0 is the forecast's full span, 1 half of it, 2 a quarter."""

    origin: pd.Timestamp
    level: int
    span_days: float
    expected: float
    actual: float

    @classmethod
    def of(
        cls,
        origin: pd.Timestamp,
        level: int,
        span_days: float,
        deals: pd.DataFrame | None,
        streams: pd.DataFrame | None,
        won: pd.Series,
    ) -> Probe:
        """The probe of a forecast's parts (`RevenueForecast.deals` and `.new_streams`) and
        the amounts won in its window, deals far bigger than the rest out of both
        (`without_outsized`)."""
        none = np.zeros(0)
        expected, actual = without_outsized(
            none if deals is None else deals["amount"].to_numpy(dtype=float),
            none if deals is None else deals["p_won_in_period"].to_numpy(dtype=float),
            none if streams is None else streams["value"].to_numpy(dtype=float),
            none if streams is None else streams["rate"].to_numpy(dtype=float),
            won,
        )
        return cls(origin, level, span_days, expected, actual)

    @property
    def end(self) -> pd.Timestamp:
        return self.origin + pd.Timedelta(days=self.span_days)


def probe_spans(span_days: float) -> list[float]:
    """The spans a drift is measured on, longest first: the forecast's, then halves of it down
    to `MIN_SPAN_DAYS` (as `measure_drift` falls back)."""
    spans = [float(span_days)]
    while spans[-1] / 2 >= min(MIN_SPAN_DAYS, span_days):
        spans.append(spans[-1] / 2)
    return spans


def drift_from_probes(
    probes: list[Probe],
    as_of: pd.Timestamp,
    span_days: float,
    *,
    every_days: int = 14,
    max_windows: int = 13,
) -> Drift | None:
    """The drift measured out of sample: the log misses of probes made by models fitted before
    each probe's window, over probes whose windows had ended by `as_of` (newest first, at least
    `every_days` apart, at most `max_windows`). The full span's probes when `MIN_WINDOWS` have
    ended, else the shortest level that has them (a shorter window misses by more: errs wide).
    None when no level has enough: the caller measures in sample instead."""
    for level, span in enumerate(probe_spans(span_days)):
        ended = sorted(
            (
                p
                for p in probes
                if p.level == level and p.end <= as_of and p.expected > 0 and p.actual > 0
            ),
            key=lambda p: p.origin,
            reverse=True,
        )
        picked: list[Probe] = []
        for p in ended:
            if not picked or picked[-1].origin - p.origin >= pd.Timedelta(days=every_days):
                picked.append(p)
            if len(picked) >= max_windows:
                break
        if len(picked) < MIN_WINDOWS:
            continue
        ratios = [math.log(p.actual / p.expected) for p in picked]
        note = (
            f"measured out of sample: forecasts of the next {span:.0f} days made at "
            f"{len(picked)} earlier dates by the models fitted then"
        )
        if level:
            note += f", shorter than this forecast's {span_days:.0f} days, so it errs wide"
        sigma = float(np.sqrt(np.mean(np.square(ratios))))
        return Drift(sigma, len(picked), ratios, note=note, span_days=span)
    return None
