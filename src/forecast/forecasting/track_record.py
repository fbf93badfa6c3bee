"""A dataset's track record: every forecast of its latest backtest, by method, beside what was
won; and from it, the method users get for a new forecast (`forecasting.choice`).

`forecast backtest` on a stored dataset saves its forecast table here, replacing the one before
for that frequency. The forecast (CLI, API, dashboard) then reads the record to say which method
has been most accurate at this horizon on this dataset, with its past error, and gives that
method's forecast as the headline beside ours, with its chance to reach the line's target
(`choice.p_reach_target`). Without a record the naive forecast leads, as before the record can
choose (`choice.NAIVE_FIRST`), and the reason says how to make one.

Beside every forecast it also says how far what users see was off before (`past_accuracy`: the
median error, WAPE, bias and how often P10–P90 held the actual, at the forecast's horizon, over
windows ended by its as-of date), and gives the naive forecasts of the period now, which the
method was chosen among.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from forecast.data import store
from forecast.forecasting import choice, naive
from forecast.forecasting.accuracy import share
from forecast.forecasting.backtest_report import RECORD_COLUMNS
from forecast.forecasting.fitted import RecentChange
from forecast.forecasting.revenue import GROUP_COLUMNS, GroupForecast, RevenueForecast
from forecast.formatting import rounded
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


def saved_at(engine: Engine, dataset: str, freq: str) -> object:
    """When the dataset's record for `freq` was saved (None: there is none): part of the key of
    anything cached that read it, so a new backtest shows at once."""
    t = store.track_record
    query = select(func.max(t.c.run_at)).where(t.c.dataset == dataset, t.c.freq == freq)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


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


# --- past accuracy --------------------------------------------------------------------------------

#: What the rows of the pseudo-method `choice.CHOSEN` are: the forecast users would have seen.
SHOWN_LABEL = "the forecast shown (chosen by past error)"


def past_accuracy(
    table: pd.DataFrame, method: str, origin: object, horizon_weeks: int, min_past: int = 1
) -> dict[str, Any] | None:
    """How far `method`'s forecasts in the record were off, as known at `origin`: over its rows
    whose window ended by then, at `horizon_weeks`, or where it has fewer than `min_past` there
    at the nearest horizon that has them (the shorter on a tie; `horizon_weeks_used` says
    which), as `choice.choose` picks the horizon it chooses on. None: no horizon has them.

    `median_ape`: the median of |forecast − actual| / actual over windows where something was won
    (what a manager means by "usually off by"); `wape` and `bias`: Σ|error| and Σ error over
    Σ actual; `coverage`: how many actuals fell inside P10–P90, with the 95% Wilson interval,
    over the rows that had a range (None when none had).
    """
    at = pd.Timestamp(origin)
    rows = table[(table["method"] == method) & (table["end"] <= at)]
    finite = np.isfinite(rows["forecast"].to_numpy(dtype=float)) & np.isfinite(
        rows["actual"].to_numpy(dtype=float)
    )
    rows = rows[finite]
    if rows.empty:
        return None
    h = int(horizon_weeks)
    used = choice.nearest_horizon(rows, h, min_past, method)
    if used is None:
        return None
    rows = rows[rows["horizon_weeks"] == used]
    actual = rows["actual"].to_numpy(dtype=float)
    err = rows["forecast"].to_numpy(dtype=float) - actual
    total = actual.sum()
    won = actual > 0
    lo, hi = rows["p10"].to_numpy(dtype=float), rows["p90"].to_numpy(dtype=float)
    ranged = np.isfinite(lo) & np.isfinite(hi)
    coverage = None
    if ranged.any():
        inside = (lo[ranged] <= actual[ranged]) & (actual[ranged] <= hi[ranged])
        held = share(bool(x) for x in inside)
        coverage = {k: _rounded(v) for k, v in held.items()}
    return {
        "method": method,
        "label": SHOWN_LABEL if method == choice.CHOSEN else choice.label_of(method),
        "horizon_weeks": h,
        "horizon_weeks_used": used,
        "windows_ended_by": str(at.date()),
        "n": len(rows),
        "median_ape": _rounded(np.median(np.abs(err[won]) / actual[won])) if won.any() else None,
        "wape": _rounded(np.abs(err).sum() / total) if total > 0 else None,
        "bias": _rounded(err.sum() / total) if total > 0 else None,
        "coverage": coverage,
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    out = rounded(value, 4)
    return out + 0.0 if isinstance(out, float) else out  # no "-0.0"


# --- the headline ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """What the track record says about one forecast.

    `lead`: the forecast users get (None: ours leads, and `note` says why); `past`: how far the
    forecast users saw was off at this horizon (`shown`: what was chosen at each past origin),
    the method shown now on its own past forecasts (`method`, None when it is ours) and ours
    (`model`), each `past_accuracy` (None without a record); `naive`: the naive forecasts of
    the period now and the weighted pipeline, in total and per group (`labels` names them),
    which the choice was made among and managers read beside ours.
    """

    lead: dict[str, Any] | None
    note: str
    past: dict[str, Any] | None = None
    naive: dict[str, Any] = field(default_factory=dict)


#: The forecasts beside ours, in the order they are shown.
NAIVE_METHODS = (*naive.NAIVE, "weighted_pipeline")


def headline(
    engine: Engine,
    history: DealHistory,
    fc: RevenueForecast,
    *,
    dataset: str,
    window_days: float,
    changed: RecentChange | None = None,
) -> Headline:
    """The forecast users get, beside ours: the method most accurate on this dataset's record at
    this horizon (`choice.choose`, from windows ended before the as-of date only), its forecast
    now with the range its past errors give, per group too; the past accuracy of what users see
    and of ours; the naive forecasts now (computed once, for the choice and to show).
    No lead (ours stands, the note says why) inside the forecast's period; without a record,
    the naive forecast leads as before the record can choose, the note saying how to make one.
    `changed`: the business has changed lately (`fitted.recent_change`), if so: where ours took
    the change up, like a run rate still filling up, the run rate is not shown before a record."""
    per, t = fc.period, fc.as_of
    now, filling = _forecasts_now(history, fc, window_days)
    if filling is None and changed:
        filling = changed.against_run_rate(now[None])
    shown_naive = {
        "labels": {m: choice.label_of(m) for m in NAIVE_METHODS},
        "total": _naive_of(now[None]),
        "groups": {g: _naive_of(v) for g, v in now.items() if g is not None},
    }
    table = load(engine, dataset, per.freq)
    none_yet = (
        f"no track record yet for {per.freq}s: `forecast backtest --data {dataset} "
        f"--freq {per.freq}` on the stored dataset (an export is stored by `forecast "
        "import`) measures ours against naive forecasts, and the most accurate then leads"
        if table.empty
        else None
    )
    if none_yet and t > per.start:
        return Headline(None, none_yet, naive=shown_naive)
    h = round(horizon_weeks(per, t))
    # Read as the choice reads the record: at this horizon, or the nearest with enough past
    # forecasts to choose on (one or two past windows say nothing of how far off a method is).
    least = choice.MIN_PAST_FORECASTS
    ours = past_accuracy(table, choice.MODEL, t, h, least)
    if t > per.start:
        return Headline(
            None,
            "the track record scores forecasts made by a period's start; this one is made "
            "inside its period, so ours stands (its past error is that of ours at the start)",
            _past(ours, ours),
            shown_naive,
        )
    # Ours recalibrated on its past errors competes too, wherever the record allows it.
    own = choice.empirical_range(table, t, h)
    if own is not None:
        for methods in now.values():
            ours_now = methods.get(choice.MODEL)
            if ours_now is not None:
                methods[choice.RECALIBRATED] = choice.recalibrate(ours_now, own)
    total = now[None]
    # Without a record the naive forecast leads as it does before the record can choose
    # (`choice.NAIVE_FIRST`): fewer past windows never make ours more trusted.
    made = choice.choose(
        table,
        t,
        h,
        available=[m for m, v in total.items() if v is not None],
        no_hedge=filling,
        few=none_yet,
    )
    chosen = choice.apply_choice(made, total, (fc.total.p10, fc.total.p50, fc.total.p90))
    groups = {}
    for g in fc.groups:
        line = choice.apply_choice(
            made, now[g.group], (g.p10, g.p50, g.p90), (fc.total.p10, fc.total.p50, fc.total.p90)
        )
        groups[g.group] = {
            **{k: line.to_dict()[k] for k in ("forecast", "p10", "p50", "p90")},
            **_against_target(line, g),
        }
    # The chosen rows are what users would have seen at each past origin (whichever method led
    # then, with its range); a record from before the backtest scored them has the method's own.
    shown = past_accuracy(table, choice.CHOSEN, t, h, least) or past_accuracy(
        table, made.method, t, h, least
    )
    # The method shown now, on its own past forecasts (ours is `ours` already).
    method = past_accuracy(table, made.method, t, h, least) if made.method != choice.MODEL else None
    past = _past(shown, ours, method)
    lead = {**chosen.to_dict(), **_against_target(chosen, fc.total), "groups": groups}
    return Headline({**lead, "past": past}, made.reason, past, shown_naive)


def _against_target(line: choice.ChosenForecast, ours: GroupForecast) -> dict[str, Any]:
    """The line's target (ours') and the chance the forecast users get reaches it
    (`ChosenForecast.p_target`: ours' own where ours is chosen); nothing without a target."""
    if ours.target is None:
        return {}
    reach = line.p_target(ours.target, ours.p_target)
    return {"target": ours.target, "p_target": rounded(reach, 4)}


def _forecasts_now(
    history: DealHistory, fc: RevenueForecast, window_days: float
) -> tuple[dict[str | None, dict[str, float | None]], str | None]:
    """Each method's forecast of the period as of the forecast's date, by group (None: the
    total): ours, the weighted pipeline and the naive forecasts (None where one cannot be made);
    and why the run rate cannot be shown then (`naive.still_filling`), if so."""
    column = GROUP_COLUMNS.get(fc.by) if fc.by else None
    won = naive.won_before(history.known_before(fc.as_of), column)
    series = naive.forecasts(won, fc.as_of, fc.period, window_days)

    def line_of(line: GroupForecast, group: str | None) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            choice.MODEL: line.expected,
            "weighted_pipeline": line.weighted_pipeline,
        }
        for name, values in series.items():
            if values is not None:
                out[name] = float(values.sum() if group is None else values.get(group, 0.0))
        return out

    lines: dict[str | None, dict[str, float | None]] = {None: line_of(fc.total, None)}
    lines.update({g.group: line_of(g, g.group) for g in fc.groups})
    return lines, naive.still_filling(won, fc.as_of, window_days)


def _naive_of(forecasts: dict[str, float | None]) -> dict[str, float | None]:
    return {m: rounded(forecasts.get(m), 2) for m in NAIVE_METHODS}


def _past(
    shown: dict[str, Any] | None,
    ours: dict[str, Any] | None,
    method: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    if shown is None and ours is None:
        return None
    return {"shown": shown, "model": ours, "method": method}
