"""Forecast drift: how far the fitted models missed on past windows of the same length.

Deal-by-deal chance is not the only uncertainty: the pace of new deals and win rates shift from
one period to the next. `measure_drift` replays the fitted models on past windows (known at the
as-of date) and the spread of log(actual / expected) widens the range through a mean-one
log-normal factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast import timing as tm
from forecast.data.stages import WON
from forecast.features import deal_amounts
from forecast.forecasting.fitted import ForecastModels, share_won_by, templates_as_of
from forecast.history import DealHistory
from forecast.settings import Settings, get_settings


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
    ratios: list[float] = []
    # Windows end where the data does (after it, nothing happened to compare with), and the
    # replay tries a bounded number of them whatever the as-of date and span.
    s = (min(t, known.end + tm.DAY) - span).normalize()
    for _ in range(4 * max_windows):
        if s < first or len(ratios) >= max_windows:
            break
        pipe = tm.pipeline_rows(known, s)
        expected = float(
            (
                deal_amounts(pipe)
                * tm.window_probabilities(models.timing, pipe, 0.0, span_days)["won"]
            ).sum()
        )
        before = known.known_before(s)
        templates, window = templates_as_of(before, s, settings.new_deal_window_days)
        if templates is not None and len(templates):
            rate = (span_days / window) * share_won_by(models.timing, templates, span_days, s)
            expected += float((rate * deal_amounts(templates)).sum())
        won = opps[
            (opps["status"] == WON) & (opps["closed_at"] >= s) & (opps["closed_at"] < s + span)
        ]
        actual = float(won["amount"].fillna(0).sum())
        if expected > 0 and actual > 0:
            ratios.append(math.log(actual / expected))
        s -= pd.Timedelta(days=every_days)
    if len(ratios) < 2:
        return Drift(0.0, len(ratios), ratios, note="too little history to measure forecast drift")
    sigma = float(np.sqrt(np.mean(np.square(ratios))))
    return Drift(sigma, len(ratios), ratios)
