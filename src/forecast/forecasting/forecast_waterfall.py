"""Why the forecast moved: one period's expected revenue as forecast at one date and at a later
one, the difference split deal by deal into what managers ask about.

A forecast is won so far + Σ over open deals of amount × P(won in the period) + the line of
deals not yet created. Between the two dates each deal's part changes, and the change goes to
one bar:

- `won`: won inside the period between the dates (the amount won, less what was expected of it);
- `lost`: lost between the dates, inside the period or after it (its expected part goes);
- `won_before_period` / `lost_before_period`: closed between the dates but before the period
  began (its expected part goes): a manager reads "slipped" as moved to a later period, so
  these are bars of their own, as in the pipeline waterfall (`forecast.waterfall`);
- `slipped`: its expected close moved out of the period, or it was won after the period;
- `new_deals`: created between the dates (its expected part now, or its amount if already won);
- `amount_changes`: still open, its amount changed (the change × its probability then);
- `probability_changes`: still open, its chance of closing in the period moved (a stage change,
  time passing, models refitted: the change × its amount now);
- `not_yet_created`: the line of deals still to be created (less time left, a new pace).

The bars add up to the difference exactly (each deal's change goes to one bar whole), and each
forecast is the one users were shown then, fitted on what was known then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.stages import LOST, WON
from forecast.errors import InvalidInput
from forecast.forecasting.revenue import RevenueForecast, forecast_revenue
from forecast.history import DealHistory, as_timestamp
from forecast.periods import Period, parse_period
from forecast.settings import Settings

BARS = (
    "won",
    "lost",
    "won_before_period",
    "lost_before_period",
    "slipped",
    "new_deals",
    "amount_changes",
    "probability_changes",
    "not_yet_created",
)
#: Deals listed per bar, largest change first.
DEALS_PER_BAR = 20


@dataclass(frozen=True)
class ForecastWaterfall:
    """The forecast of `period` at `start` and at `end`, and the bars between them."""

    period: Period
    start: pd.Timestamp
    end: pd.Timestamp
    expected_start: float
    expected_end: float
    bars: dict[str, float]
    deals: pd.DataFrame  # id, bar, change, amount_start, amount_end, p_start, p_end
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        top = self.deals.reindex(self.deals["change"].abs().sort_values(ascending=False).index)
        return {
            "period": self.period.to_dict(),
            "from": str(self.start.date()),
            "to": str(self.end.date()),
            "expected_from": round(self.expected_start, 2),
            "bars": {k: round(v, 2) for k, v in self.bars.items()},
            "expected_to": round(self.expected_end, 2),
            "deals": {
                bar: _records(top[top["bar"] == bar].head(DEALS_PER_BAR)) for bar in BARS[:-1]
            },
            "notes": self.notes,
        }


def forecast_waterfall(
    history: DealHistory,
    period: str | Period,
    start: object,
    end: object,
    *,
    settings: Settings | None = None,
) -> ForecastWaterfall:
    """The forecast of `period` as of `start` and as of `end`, and why it moved."""
    per = period if isinstance(period, Period) else parse_period(period)
    t0, t1 = as_timestamp(start), as_timestamp(end)
    if t1 <= t0:
        raise InvalidInput(f"to: must be after from ({t0.date()}), got {t1.date()}")
    if t0 >= per.end:
        raise InvalidInput(f"from: the period {per.label} had ended by {t0.date()}")
    f0 = forecast_revenue(history, per, as_of=t0, settings=settings)
    f1 = forecast_revenue(history, per, as_of=t1, settings=settings)
    deals = _deal_changes(history, per, t0, t1, f0, f1)
    bars = {bar: float(deals.loc[deals["bar"] == bar, "change"].sum()) for bar in BARS[:-1]}
    bars["not_yet_created"] = (f1.total.expected_new or 0.0) - (f0.total.expected_new or 0.0)
    notes = []
    if f0.method != f1.method:
        notes.append(f"the forecast method changed: {f0.method} then, {f1.method} now")
    return ForecastWaterfall(per, t0, t1, f0.total.expected, f1.total.expected, bars, deals, notes)


def _deal_changes(
    history: DealHistory,
    per: Period,
    t0: pd.Timestamp,
    t1: pd.Timestamp,
    f0: RevenueForecast,
    f1: RevenueForecast,
) -> pd.DataFrame:
    """One row per deal whose part of the forecast may have changed, with its bar."""
    d0 = _open_parts(f0)
    d1 = _open_parts(f1)
    before = history.as_of(t0).set_index("id")
    after = history.as_of(t1).set_index("id")
    newly_closed = after["status"].isin([WON, LOST]) & ~after.index.isin(
        before.index[before["status"].isin([WON, LOST])]
    )
    closed_at = pd.to_datetime(after["closed_at"])
    won_inside = newly_closed & (after["status"] == WON) & per.contains(closed_at)
    earlier = newly_closed & (closed_at < per.start).fillna(False)
    ids = d0.index.union(d1.index).union(after.index[won_inside])
    frame = pd.DataFrame(index=ids)
    frame["part_start"] = d0["expected"].reindex(ids, fill_value=0.0)
    won_amount = pd.to_numeric(after["amount"], errors="coerce").fillna(0.0)
    frame["part_end"] = d1["expected"].reindex(ids, fill_value=0.0) + won_amount.where(
        won_inside, 0.0
    ).reindex(ids, fill_value=0.0)
    frame["change"] = frame["part_end"] - frame["part_start"]
    frame["amount_start"] = d0["amount"].reindex(ids)
    frame["amount_end"] = d1["amount"].reindex(ids).fillna(won_amount.reindex(ids))
    frame["p_start"] = d0["p"].reindex(ids)
    frame["p_end"] = d1["p"].reindex(ids)
    created = ~ids.isin(before.index)
    status = after["status"].reindex(ids)
    open_both = ids.isin(d0.index) & ids.isin(d1.index)
    before_period = earlier.reindex(ids, fill_value=False).to_numpy()
    lost = (status == LOST).to_numpy() & ~ids.isin(before.index[before["status"] == LOST])
    bar = np.select(
        [
            created,
            won_inside.reindex(ids, fill_value=False).to_numpy(),
            before_period & (status == WON).to_numpy(),
            before_period & lost,
            lost,
            ~ids.isin(d1.index),
            _slipped(before, after, ids, per) & open_both,
        ],
        [
            "new_deals",
            "won",
            "won_before_period",
            "lost_before_period",
            "lost",
            "slipped",
            "slipped",
        ],
        default="open",
    )
    frame["bar"] = bar
    # A deal open at both dates: its amount change at its old chance, the rest to probability.
    still = frame["bar"] == "open"
    amount_part = ((frame["amount_end"] - frame["amount_start"]) * frame["p_start"]).fillna(0.0)
    split = frame[still].assign(change=amount_part[still], bar="amount_changes")
    frame.loc[still, "change"] = frame.loc[still, "change"] - amount_part[still]
    frame.loc[still, "bar"] = "probability_changes"
    out = pd.concat([frame, split[split["change"] != 0]]).rename_axis("id").reset_index()
    return out[["id", "bar", "change", "amount_start", "amount_end", "p_start", "p_end"]]


def _open_parts(f: RevenueForecast) -> pd.DataFrame:
    deals = f.deals if f.deals is not None else pd.DataFrame(columns=["id", "amount", "expected"])
    return pd.DataFrame(
        {
            "amount": deals["amount"].to_numpy(dtype=float),
            "p": deals["p_won_in_period"].to_numpy(dtype=float),
            "expected": deals["expected"].to_numpy(dtype=float),
        },
        index=pd.Index(deals["id"].to_numpy(), name="id"),
    )


def _slipped(before: pd.DataFrame, after: pd.DataFrame, ids: pd.Index, per: Period) -> np.ndarray:
    """Open deals whose expected close was inside the period and now is not."""
    if "expected_close_at" not in after:
        return np.zeros(len(ids), dtype=bool)
    was = per.contains(pd.to_datetime(before["expected_close_at"].reindex(ids)))
    now = per.contains(pd.to_datetime(after["expected_close_at"].reindex(ids)))
    return (was & ~now).to_numpy()


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in rows.to_dict("records"):
        out.append(
            {
                k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in rec.items()
                if k != "bar"
            }
        )
    return out
