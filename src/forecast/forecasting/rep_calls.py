"""Reps' own calls scored beside the model's forecast of the same deals, in the backtest.

Reps' own calls, where the data carries them (`rep_probability`, `forecast_category`,
`expected_close_at`), are scored per rep (horizon 0 only) beside the model's pipeline forecast
for the same rep and the same deals (open at t0): the rep's probability-weighted call (Σ amount ×
rep_probability over deals the rep expected to close inside the period), Commit and Commit + Best
Case totals, each against the revenue those open deals actually brought in.

**Only calls known at t0.** A call counts only where the deal's fields were observed before t0
(the field history: an earlier export, a CRM push). A flat export holds each deal's final
probability and forecast category, written after the outcome: scored as if made before t0 they
would equal what was won. Where no deal of the pipeline was observed before t0, no rep is scored
and `hindsight_note` says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import features as feat
from forecast.data.stages import OPEN
from forecast.forecasting.revenue import GROUP_COLUMNS, TOTAL, group_labels
from forecast.periods import Period

if TYPE_CHECKING:
    from forecast.history import DealHistory

#: The calls kept beside each tracked forecast line (`open_calls`).
CALLS = ("rep_call", "rep_commit")


def has_calls(opportunities: pd.DataFrame) -> bool:
    """Whether the data carries reps' calls at all (a probability or a forecast category)."""
    return any(
        c in opportunities and opportunities[c].notna().any()
        for c in ("rep_probability", "forecast_category")
    )


def hindsight_note(fields: tuple[str, ...] = ("rep_probability", "forecast_category")) -> str:
    return (
        f"reps' calls not scored: the data holds only the final {' and '.join(fields)} of each "
        "deal (no observation before the forecast dates), and a call written after the outcome "
        "would score as perfect; push deals through the CRM sync API (or import exports over "
        "time) to keep calls as they were made"
    )


def rep_calls(
    opportunities: pd.DataFrame,
    pipeline: pd.DataFrame,
    deals: pd.DataFrame | None,
    won: pd.DataFrame,
    per: Period,
    seen_before: pd.Series | None = None,
) -> list[dict[str, Any]]:
    """Per rep: their own calls over their deals open at t0, the model's forecast of the same
    deals, and what those deals actually brought in during the period. `seen_before` (by deal
    id): whether the deal's fields were observed before t0; only those deals' calls count, and
    without any, no rep is scored."""
    has_p = "rep_probability" in opportunities and opportunities["rep_probability"].notna().any()
    has_cat = (
        "forecast_category" in opportunities and opportunities["forecast_category"].notna().any()
    )
    if not (has_p or has_cat) or pipeline.empty or "owner" not in pipeline:
        return []
    if seen_before is not None:
        pipeline = pipeline[pipeline["id"].map(seen_before).fillna(False).astype(bool)]
        if pipeline.empty:
            return []
    info = opportunities.set_index("id")
    frame = pd.DataFrame(
        {
            "id": pipeline["id"].to_numpy(),
            "rep": pipeline["owner"].astype(object).fillna("(none)").to_numpy(),
            "amount": feat.deal_amounts(pipeline),  # a blanked amount's value too
        }
    )
    expected_close = (
        frame["id"].map(info["expected_close_at"])
        if "expected_close_at" in info
        else pd.Series(pd.NaT, index=frame.index)
    )
    # A deal counts toward the rep's call for the period when the rep expected it to close
    # inside it (all open deals when the data gives no expected close date).
    in_period = per.contains(expected_close) | expected_close.isna()
    won_amount = won.set_index("id")["amount"].fillna(0)
    frame["actual"] = frame["id"].map(won_amount).fillna(0.0).to_numpy()
    if deals is not None:
        frame["model"] = frame["id"].map(deals.set_index("id")["expected"]).fillna(0.0)
    if has_p:
        p = frame["id"].map(info["rep_probability"]).astype(float)
        frame["rep_call"] = (frame["amount"] * p.fillna(0) * in_period).to_numpy()
    if has_cat:
        cat = frame["id"].map(info["forecast_category"]).astype(object)
        frame["commit"] = frame["amount"] * ((cat == "Commit") & in_period)
        frame["best_case"] = frame["amount"] * (cat.isin(["Commit", "Best Case"]) & in_period)
    cols = [c for c in ("actual", "model", "rep_call", "commit", "best_case") if c in frame]
    sums = frame.groupby("rep")[cols].sum()
    sums["deals"] = frame.groupby("rep").size()
    return [
        {"period": per.label, "rep": str(rep), **{c: float(v) for c, v in row.items()}}
        for rep, row in sums.iterrows()
    ]


def open_calls(
    history: DealHistory, t: pd.Timestamp, per: Period, by: str | None
) -> dict[str, dict[str, float | None]] | None:
    """The reps' own call on their open deals as of `t`, per group of `by` (team, rep) and in
    total: Σ amount × rep probability, and the Commit deals' amount, over deals the rep expected
    to close in `per` (or gave no date). Only deals whose fields were observed before `t` count
    (a call written after the outcome is no call); None when no such deal carries a call.
    Add what was won to date for the call on the whole period."""
    state = history.as_of(t)
    seen = pd.Series(history.first_observed() < t.to_datetime64(), index=history.deals["id"])
    state = state[(state["status"] == OPEN) & state["id"].map(seen).fillna(False).astype(bool)]
    has_p = "rep_probability" in state and state["rep_probability"].notna().any()
    has_cat = "forecast_category" in state and state["forecast_category"].notna().any()
    if not (has_p or has_cat):
        return None
    expected = state["expected_close_at"] if "expected_close_at" in state else None
    in_period = (
        (per.contains(expected) | expected.isna()).to_numpy()
        if expected is not None
        else np.ones(len(state), dtype=bool)
    )
    amount = state["amount"].fillna(state.get("list_price")).fillna(0).to_numpy(dtype=float)
    column = GROUP_COLUMNS.get(by or "")
    labels = group_labels(state, column) if column else np.full(len(state), TOTAL, dtype=object)
    frame = pd.DataFrame({"group": labels})
    if has_p:
        p = state["rep_probability"].astype(float).fillna(0).to_numpy()
        frame["rep_call"] = amount * p * in_period
    if has_cat:
        commit = (state["forecast_category"].astype(object) == "Commit").to_numpy()
        frame["rep_commit"] = amount * (commit & in_period)
    sums = frame.groupby("group").sum()
    out: dict[str, dict[str, float | None]] = {
        str(g): {k: float(row[k]) if k in row else None for k in CALLS}
        for g, row in sums.iterrows()
    }
    out[TOTAL] = {k: float(frame[k].sum()) if k in frame else None for k in CALLS}
    return out
