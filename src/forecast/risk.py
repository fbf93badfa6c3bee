"""Deals at risk: open deals a manager should look at this week, each with the reason why.

A deal is flagged when it is

- **high value with a low close probability**: its amount is in the top quarter of the open
  pipeline and the deal model gives it less than half the historical win rate;
- **high value with a falling close probability**: the same deal, scored with its features as
  they were `lookback_days` earlier, had a clearly higher probability;
- **stuck**: it has been in its stage longer than 90% of the completed stays in that stage
  (stays that ended before the as-of date), whatever its value;
- **past its expected close**: the close date the rep expected (as known then) is a day or
  more behind the as-of date and the deal is still open, whatever its value: a deal that
  slipped, which a manager wants moved or closed.

Everything is judged as of one date from what was known then (`timing.pipeline_rows`, the as-of
rule), with the model that serves the API (`scoring.score`, so the probability and the
reasons are those `POST /v1/deals/score` would give); with no trained model, the per-stage
historical win rate stands in and says so. Flagged deals are ranked by the value at stake,
amount × (1 − probability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast import features as feat
from forecast import scoring
from forecast import timing as tm
from forecast.data.stages import LOST, WON
from forecast.date_reach import check_reach
from forecast.errors import InvalidInput, UnknownGroup
from forecast.groups import suggest
from forecast.history import DealHistory, as_timestamp
from forecast.model_set import deal_fallback
from forecast.modeling.baselines import stage_win_rates
from forecast.settings import Settings

LOW_PROBABILITY = "low_probability"
FALLING_PROBABILITY = "falling_probability"
STUCK = "stuck"
PAST_EXPECTED_CLOSE = "past_expected_close"
FLAG_LABELS = {
    LOW_PROBABILITY: "low close probability",
    FALLING_PROBABILITY: "falling close probability",
    STUCK: "stuck in stage",
    PAST_EXPECTED_CLOSE: "past its expected close",
}
_DAY = pd.Timedelta(days=1)


@dataclass
class RiskReport:
    """The flagged deals (riskiest first) and the thresholds they were judged by."""

    as_of: pd.Timestamp
    scorer: str  # what gave the probabilities, in words
    method: str  # "model" | "stage_win_rate"
    open_deals: int
    high_value_from: float | None
    low_probability_below: float
    fall_of_at_least: float
    lookback_days: int
    stuck_after_days: dict[str, float | None]
    deals: list[dict[str, Any]]
    flagged: int
    counts: dict[str, int]
    team: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "team": self.team,
            "scorer": self.scorer,
            "method": self.method,
            "open_deals": self.open_deals,
            "flagged": self.flagged,
            "counts": dict(self.counts),
            "thresholds": {
                "high_value_from": _plain(self.high_value_from),
                "low_probability_below": _plain(self.low_probability_below),
                "fall_of_at_least": _plain(self.fall_of_at_least),
                "lookback_days": self.lookback_days,
                "stuck_after_days": {k: _plain(v) for k, v in self.stuck_after_days.items()},
            },
            "deals": [dict(d) for d in self.deals],
            "notes": list(self.notes),
        }


def stage_stay_quantiles(
    history: DealHistory,
    as_of: object,
    q: float = 0.9,
    min_stays: int = 10,
) -> dict[str, float | None]:
    """Per open stage, the `q` quantile in days of the stays that ended before `as_of`.

    A stay ends when the deal enters its next stage (or its outcome); a stay of no time is none
    (`DealHistory.completed_stays`, as the KPIs' time in stage). Stays still running are left
    out: they have not ended, so their length is not known. A stage with fewer than
    `min_stays` completed stays gets None (too few to say what is usual).
    """
    stays = history.known_before(as_timestamp(as_of)).completed_stays()
    out: dict[str, float | None] = dict.fromkeys(history.stages.open_stages)
    for name, days in stays.groupby("stage")["days"]:
        if name in out and len(days) >= min_stays:
            out[name] = float(days.quantile(q))
    return out


#: The deals at risk listed unless asked otherwise (the riskiest first), and the most a list the
#: API or the dashboard gives holds: a request's cost must not grow with a number its caller
#: picks, and a manager's CSV of a pipeline's flagged deals holds them all up to it.
LISTED = 25
MAX_LISTED = 500


def deals_at_risk(
    history: DealHistory,
    *,
    served: scoring.Served | None = None,
    as_of: object = None,
    team: str | None = None,
    high_value_quantile: float = 0.75,
    low_probability: float | None = None,
    fall_threshold: float = 0.10,
    lookback_days: int = 28,
    stuck_quantile: float = 0.9,
    min_stays: int = 10,
    limit: int = LISTED,
    top_reasons: int = 3,
    settings: Settings | None = None,
) -> RiskReport:
    """The open deals at risk as of `as_of` (default: `DealHistory.now`), riskiest first.

    `served` is the deal model as served (`scoring.ModelSet.deal`); without one the per-stage
    win rate known at `as_of` scores the deals. `team` keeps one team's deals (thresholds stay
    those of the whole pipeline, so a team's list is its part of the full list).
    `low_probability` defaults to half the win rate of the deals closed before `as_of`.
    `as_of` must fall after the dataset's first close and within a forecast's reach of the
    data's end (`check_as_of`).
    """
    if not 0 < high_value_quantile < 1:
        raise InvalidInput(
            f"high_value_quantile must be between 0 and 1, got {high_value_quantile}"
        )
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")
    if lookback_days < 1:
        raise InvalidInput(f"lookback_days must be at least 1, got {lookback_days}")
    try:
        t = as_timestamp(as_of) if as_of is not None else history.now()
    except (TypeError, ValueError, OverflowError, InvalidInput):
        t = pd.NaT
    if pd.isna(t):
        raise InvalidInput(f"as_of must be a date such as 2017-06-30, got {as_of!r}")
    check_as_of(history, t, settings)
    known = history.known_before(t)
    opps = known.deals
    notes: list[str] = []
    if served is None:
        served = _fallback(known)
        notes.append(
            f"no deal model is serving: probabilities are the {served.scorer.label}, as the "
            "API's, so a probability changes only when a deal changes stage (and falls where "
            "its new stage's rate is lower, which a later stage's may be)"
        )
    closed = opps["status"].isin([WON, LOST])
    win_rate = float((opps.loc[closed, "status"] == WON).mean()) if closed.any() else math.nan
    if low_probability is not None:
        low_basis = "the threshold asked for"
    elif math.isnan(win_rate):
        low_probability, low_basis = 0.25, "no deal closed yet to judge by"
    else:
        low_probability = 0.5 * win_rate
        low_basis = f"half the {win_rate:.0%} win rate of the deals closed so far"
    stuck_after = stage_stay_quantiles(history, t, stuck_quantile, min_stays)
    if stuck_after and all(days is None for days in stuck_after.values()):
        # One note, not one per stage: an export of each deal's current stage alone records
        # no stage change at all, which "too few in each stage" would hide.
        notes.append(
            f"no open stage has {min_stays} completed stays before {t.date()}: the data records "
            "few or no stage changes (an export of each deal's current stage alone has none), "
            "so no deal is flagged as stuck in its stage"
        )
    else:
        for name, days in stuck_after.items():
            if days is None:
                notes.append(f"too few completed stays in {name} to say how long is usual there")

    pipe = tm.pipeline_rows(history, t)
    # What the list shows (account, owner, team, product) as known at t, left-out fields too:
    # the leak check keeps a field out of the model, not out of a manager's sight.
    shown = history.open_at(t).set_index("id").reindex(pipe["id"])
    amount = feat.deal_amounts(pipe)
    high_from = float(np.quantile(amount, high_value_quantile)) if len(pipe) else None
    if team is not None:
        if "team" not in opps or not (opps["team"] == team).any():
            teams = set(opps["team"].dropna().astype(str)) if "team" in opps else set()
            raise UnknownGroup(
                f"no deals for team {team!r} in this dataset{suggest(team, teams, 'team')}"
            )
        keep = (shown["team"] == team).to_numpy()
        shown = shown[keep]
        pipe, amount = pipe[keep].reset_index(drop=True), amount[keep]
    usual = pipe["stage"].map(stuck_after).astype(float).to_numpy()
    stuck = ~np.isnan(usual) & (pipe["days_in_stage"].to_numpy(float) > usual)
    late = _days_past_expected_close(shown, t)
    overdue = late >= 1.0
    high = amount >= high_from if high_from is not None else np.zeros(len(pipe), bool)
    candidates = np.flatnonzero(high | stuck | overdue)

    cand = pipe.iloc[candidates].reset_index(drop=True)
    cand_shown = shown.iloc[candidates]
    scores = scoring.score(served, _rows(cand), top=top_reasons)
    p_now = np.array([s.probability for s in scores], dtype=float)
    p_before = _earlier(served, known, cand, t - pd.Timedelta(days=lookback_days))
    c_high, c_stuck, c_overdue = high[candidates], stuck[candidates], overdue[candidates]
    low = c_high & (p_now < low_probability)
    with np.errstate(invalid="ignore"):
        falling = c_high & (p_before - p_now >= fall_threshold)
    flagged = low | falling | c_stuck | c_overdue
    at_stake = amount[candidates] * (1 - p_now)
    order = [i for i in np.argsort(-at_stake, kind="stable") if flagged[i]]

    deals = []
    for i in order[:limit]:
        row = cand.iloc[i]
        seen = cand_shown.iloc[i]
        flags = [
            f
            for f, on in (
                (LOW_PROBABILITY, low[i]),
                (FALLING_PROBABILITY, falling[i]),
                (STUCK, c_stuck[i]),
                (PAST_EXPECTED_CLOSE, c_overdue[i]),
            )
            if on
        ]
        # Each reason says its unit (days, a probability in %) and what it is compared with.
        why = []
        if low[i]:
            why.append(
                f"close probability {p_now[i]:.0%}, under {low_probability:.0%} ({low_basis})"
            )
        if falling[i]:
            why.append(
                f"close probability fell from {p_before[i]:.0%} to {p_now[i]:.0%} "
                f"in {_days(lookback_days)}"
            )
        if c_stuck[i]:
            stage = row["stage"]
            why.append(
                f"{_days(row['days_in_stage'])} in {stage}, longer than {stuck_quantile:.0%} "
                f"of past stays in {stage} lasted ({_days(usual[candidates[i]])})"
            )
        if c_overdue[i]:
            expected = pd.Timestamp(seen.get("expected_close_at")).date()
            why.append(f"expected to close by {expected}, {_days(late[candidates[i]])} ago")
        score = scores[i]
        deals.append(
            {
                "id": str(row["id"]),
                "account": _text(seen.get("account")),
                "owner": _text(seen.get("owner")),
                "team": _text(seen.get("team")),
                "product": _text(seen.get("product")),
                "stage": str(row["stage"]),
                "amount": round(float(amount[candidates[i]]), 2),
                "probability": round(float(p_now[i]), 4),
                "probability_before": None
                if math.isnan(p_before[i])
                else round(float(p_before[i]), 4),
                "value_at_stake": round(float(at_stake[i]), 2),
                "days_in_stage": round(float(row["days_in_stage"]), 1),
                "usual_days_in_stage": _plain(usual[candidates[i]]),
                "age_days": round(float(row["age_days"]), 1),
                "flags": flags,
                "why": why,
                "reasons_for": score.reasons_for,
                "reasons_against": score.reasons_against,
                # what the probability rests on, said (a deal older than the model saw)
                "notes": list(score.notes),
            }
        )
    counts = {
        LOW_PROBABILITY: int(low.sum()),
        FALLING_PROBABILITY: int(falling.sum()),
        STUCK: int(c_stuck.sum()),
        PAST_EXPECTED_CLOSE: int(c_overdue.sum()),
    }
    return RiskReport(
        as_of=t,
        scorer=served.scorer.label,
        method=served.scorer.method,
        open_deals=len(pipe),
        high_value_from=high_from,
        low_probability_below=low_probability,
        fall_of_at_least=fall_threshold,
        lookback_days=lookback_days,
        stuck_after_days=stuck_after,
        deals=deals,
        flagged=int(flagged.sum()),
        counts=counts,
        team=team,
        notes=notes,
    )


def check_as_of(history: DealHistory, t: pd.Timestamp, settings: Settings | None = None) -> None:
    """Refuse a date the list cannot be judged at: before any deal closed there are no win
    rates nor usual stays to judge by, and past the forecasts' horizon every open deal would
    look stuck (the same bound as a forecast's `as_of`, `date_reach.check_reach`)."""
    check_reach(history, {"as_of": t}, settings)
    opps = history.final_deals  # a close as the snapshots read it
    first = opps.loc[opps["status"].isin([WON, LOST]), "closed_at"].min()
    if pd.notna(first) and t <= first:
        raise InvalidInput(
            f"as_of ({t.date()}) is before the first close of this dataset, on "
            f"{first.date()}: no deal had closed yet to judge risk by; pick a later date"
        )


# --- helpers ---------------------------------------------------------------------------------


def _fallback(known: DealHistory) -> scoring.Served:
    """The API's fallback for a dataset without a champion (`model_set.deal_fallback`)."""
    scorer = deal_fallback(known, stage_win_rates(known))
    return scoring.Served(scoring.DEAL, scorer, None, "fallback")


def _days_past_expected_close(shown: pd.DataFrame, t: pd.Timestamp) -> np.ndarray:
    """Per open deal, the days from the close its rep expected (as known at `t`) to `t`: NaN
    where none is known, negative where it lies ahead."""
    if "expected_close_at" not in shown:
        return np.full(len(shown), np.nan)
    expected = pd.to_datetime(shown["expected_close_at"]).to_numpy("datetime64[us]")
    return (np.datetime64(t.to_datetime64(), "us") - expected) / np.timedelta64(1, "D")


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Model inputs as the API's scoring takes them: plain values, blanks as None."""
    cols = [c for c in feat.DEAL_FEATURES if c in frame] + feat.custom_columns(frame)
    sub = frame[cols].astype(object)
    return sub.where(sub.notna(), None).to_dict("records")


def _earlier(
    served: scoring.Served, known: DealHistory, cand: pd.DataFrame, before: pd.Timestamp
) -> np.ndarray:
    """Each candidate's probability with its features as of `before` (NaN: not open then)."""
    out = np.full(len(cand), np.nan)
    if cand.empty:
        return out
    existed = cand["created_at"].notna().to_numpy() & (cand["created_at"] < before).to_numpy()
    if not existed.any():
        return out
    points = pd.DataFrame({"id": cand.loc[existed, "id"].to_numpy(), "as_of": before})
    points["as_of"] = points["as_of"].astype("datetime64[us]")
    rows = feat.deal_rows_at(known.known_before(before), points)
    rows = rows[~rows["stage"].isin([known.stages.won, known.stages.lost])]
    if rows.empty:
        return out
    scored = scoring.score(served, _rows(rows), top=0)
    where = pd.Index(cand["id"]).get_indexer(rows["id"])
    out[where] = [s.probability for s in scored]
    return out


def _days(value: float) -> str:
    """A length of time in days as a reader says it: "104 days", "1 day", "0.4 days"."""
    n = round(float(value), 1) if value < 1 else round(float(value))
    return f"{n:g} day{'' if n == 1 else 's'}"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 4)
