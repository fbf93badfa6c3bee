"""A dataset's track record: every forecast of its latest backtest, by method, beside what was
won; and from it, the method users get for a new forecast (`forecasting.choice`).

`forecast backtest` on a stored dataset saves its forecast table here, replacing the one before
for that frequency. The forecast (CLI, API, dashboard) then reads the record to say which method
has been most accurate at this horizon on this dataset, with its past error, and gives that
method's forecast as the headline beside ours. Without a record the headline is ours, and it
says how to make one.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from forecast.data import store
from forecast.forecasting import choice, naive
from forecast.forecasting.backtest_report import RECORD_COLUMNS
from forecast.forecasting.revenue import GROUP_COLUMNS, GroupForecast, RevenueForecast
from forecast.history import DealHistory
from forecast.periods import Period

#: Table columns as `BacktestReport.forecast_table()` names them, and as stored.
_STORED = {"window": "window_label", "start": "window_start", "end": "window_end"}
COLUMNS = RECORD_COLUMNS


def save(engine: Engine, dataset: str, freq: str, table: pd.DataFrame) -> int:
    """Replace the dataset's record for `freq` with `table` (a backtest's forecast table)."""
    run_at = store.utcnow()
    rows = []
    for rec in table[list(COLUMNS)].to_dict("records"):
        row = {_STORED.get(k, k): _plain(v) for k, v in rec.items()}
        rows.append({**row, "dataset": dataset, "freq": freq, "run_at": run_at})
    t = store.track_record
    with store.transaction(engine) as conn:
        conn.execute(t.delete().where(t.c.dataset == dataset, t.c.freq == freq))
        if rows:
            conn.execute(t.insert(), rows)
    return len(rows)


def load(engine: Engine, dataset: str, freq: str) -> pd.DataFrame:
    """The dataset's record for `freq` (empty when none was saved), `forecast_table()` shaped."""
    t = store.track_record
    cols = [t.c[_STORED.get(c, c)].label(c) for c in COLUMNS]
    query = select(*cols).where(t.c.dataset == dataset, t.c.freq == freq)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    for c in ("origin", "start", "end"):
        frame[c] = pd.to_datetime(frame[c]).astype("datetime64[us]")
    for c in ("horizon_weeks", "actual", "forecast", "p10", "p50", "p90"):
        frame[c] = pd.to_numeric(frame[c]).astype("float64")
    frame["sealed"] = frame["sealed"].astype(bool)
    return frame


def horizon_weeks(period: Period, as_of: pd.Timestamp) -> float:
    """How far ahead of its period a forecast is made (0 from the period start on)."""
    return max(0.0, (period.start - as_of) / pd.Timedelta(weeks=1))


def _plain(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def headline(
    engine: Engine,
    history: DealHistory,
    fc: RevenueForecast,
    *,
    dataset: str,
    window_days: float,
) -> tuple[dict[str, Any] | None, str]:
    """The forecast users get, beside ours: the method most accurate on this dataset's record at
    this horizon (`choice.choose`, from windows ended before the as-of date only), its forecast
    now with the range its past errors give, per group too; and a note saying what was done.
    None (with the reason) when there is no record, or the forecast is made inside its period."""
    per, t = fc.period, fc.as_of
    if t > per.start:
        return None, (
            "the track record scores forecasts made by a period's start; this one is made "
            "inside its period, so ours stands"
        )
    table = load(engine, dataset, per.freq)
    if table.empty:
        return None, (
            f"no track record yet for {per.freq}s: `forecast backtest --data {dataset} "
            f"--freq {per.freq} --every week` measures ours against naive forecasts, and the "
            "most accurate then leads"
        )
    column = GROUP_COLUMNS.get(fc.by) if fc.by else None
    won = naive.won_before(history.known_before(t), column)
    now = naive.forecasts(won, t, per, window_days)

    def forecasts(line: GroupForecast, group: str | None) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "model": line.expected,
            "weighted_pipeline": line.weighted_pipeline,
        }
        for name, series in now.items():
            if series is not None:
                out[name] = float(series.sum() if group is None else series.get(group, 0.0))
        return out

    total = forecasts(fc.total, None)
    made = choice.choose(
        table,
        t,
        round(horizon_weeks(per, t)),
        available=[m for m, v in total.items() if v is not None],
    )
    chosen = choice.apply_choice(made, total, (fc.total.p10, fc.total.p50, fc.total.p90))
    groups = {}
    for g in fc.groups:
        line = choice.apply_choice(made, forecasts(g, g.group), (g.p10, g.p50, g.p90))
        groups[g.group] = {k: line.to_dict()[k] for k in ("forecast", "p10", "p50", "p90")}
    return {**chosen.to_dict(), "groups": groups}, made.reason
