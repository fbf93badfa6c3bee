"""Pipeline KPIs: the figures sales managers track, overall and per team / rep / product / region
and per month or quarter.

    funnel            deals that reached each open stage, deals still in it (open, got no
                      further), and conversion = moved on / left the stage (moved on or lost);
                      unknown for a stage every deal that reached it is known to have
                      skipped (its record of entries shows it move past the stage, not in it)
    outcomes          won, lost, open; win rate = won / (won + lost); won_of_created, the
                      funnel's last step: of the deals created (in the period), those won
    value             average sale value (won, recorded amounts only), won revenue; a note
                      counts the won deals without an amount, which neither includes
    time to close     median and P90 days created → closed, for won and for all closed deals
    time in stage     median days of completed stays in each open stage
    velocity          open deals × win rate × average sale value / median won cycle (per day)
    open pipeline     per open stage: deals, value, and how much of the value is estimated
    satisfaction      mean CSAT and how many scores, where the data has any

Everything is judged as of one date. When that date is before the data's end the pipeline is
first rebuilt with `DealHistory.as_of`, so the figures are those a manager could have
seen then (a deal won later is open, a deal created later is absent). All the work is vectorised
(groupby on deal- and history-level frames); Python only loops over groups and stages.

Sums and means of amounts are float64. For amounts below 1e15 per deal (the bound the API and
the import hold a deal's amount to) they cannot overflow: that would take over 1e293 deals. Data
beyond the bound can overflow a figure to infinity; the report then refuses to render it, with an
`InvalidInput` naming the figure, rather than let JSON turn it into a null ("missing").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from forecast.data.currencies import currency_of
from forecast.data.stages import LOST, OPEN, WON, StageSet
from forecast.errors import InvalidInput
from forecast.groups import GROUP_COLUMNS, canonical_group
from forecast.history import DealHistory, as_timestamp
from forecast.kpi_report import SUMMARY_COLUMNS, KpiReport, open_amount_note, won_amount_note

PERIODS: tuple[str, ...] = ("month", "quarter")
MISSING_GROUP = "(none)"  # the label of deals with no team / rep / product / region

_COUNTS = [
    "deals",
    "won",
    "won_of_created",
    "won_without_amount",
    "lost",
    "open",
    "won_cycle_deals",
    "closed_cycle_deals",
    "csat_count",
]
_SUMS = ["won_revenue", "won_revenue_estimated", "open_value", "open_value_estimated"]


def compute_kpis(
    history: DealHistory,
    *,
    by: str | None = None,
    period: str | None = None,
    as_of: object = None,
) -> KpiReport:
    """The pipeline KPIs, overall and per `by` group and/or `period`, as of a date.

    `by` is one of team, rep (the `owner` column; `owner` names it too), product, region;
    `period` is month or quarter.
    With `period`, closed-deal figures (outcomes, win rate, value, time to close, CSAT) fall in
    the period of the close date (a closed deal's entry into its outcome where the stage history
    records it, else the deals file's close: `closes.close_given_history`), creation-based ones
    (deals, funnel, open deals and the open pipeline) in the period of the creation date, and
    stage stays in the period they ended. So `won` (won in the period, whenever created) and
    `won_of_created` (the funnel's last step: created in the period and won, whenever) differ.
    Velocity is the classic formula applied to each row's own figures.

    `as_of` (default: the last date the data records, so re-runs give the same figures) is when
    "open" is judged. Before the data's end the pipeline is rebuilt with `DealHistory.as_of`
    (what was recorded strictly before that instant, every field at its value then).

    Time in stage counts completed stays only (the deal had moved on by `as_of`): a deal still
    in a stage is censored, so its time so far is not mixed in with finished stays, and a stay
    of no time is none (`DealHistory.completed_stays`).
    The funnel counts a deal as reaching stage k if its history (up to `as_of`) enters stage k
    or a later open stage, if it is in such a stage, or if it is won (one won and since reopened
    or lost got through the last open stage only); every deal enters the funnel at the first
    stage. A deal still in stage k (open, got no further) is counted apart (`still_in_stage`),
    and stage k's conversion is the share of the deals that left it that moved on:
    reached k+1 / (reached k - still in k), moved on over moved on or lost from it.
    A stage every deal that reached it is known to have skipped (its record of entries shows it
    move from before the stage to after it, never in it) has no conversion: nothing was seen
    there, so it is unknown, not the 100% the skippers would make it. A deal seen once (a flat
    export) skipped nothing known, nor did one seen in a stage and later in a further one (a
    nightly push, a re-export): it may have passed through the stages between unseen.

    Won revenue and the average sale value add a won deal's `amount` (a list price only where
    the import put one there, flagged estimated); a won deal without one counts in the win rate
    and the deal counts only, and a note says how many there are (`won_amount_note`).
    """
    by = canonical_group(by)
    group_col = _choice(by, GROUP_COLUMNS, "by")
    _choice(period, dict.fromkeys(PERIODS), "period")
    stages = history.stages
    if group_col and group_col not in history.deals.columns:
        raise InvalidInput(f"cannot group by {by!r}: the data has no {group_col!r} column")
    try:
        data_end: pd.Timestamp | None = history.end
    except InvalidInput:
        data_end = None
    if as_of is None:
        t = data_end if data_end is not None else as_timestamp(datetime.now(UTC))
    else:
        try:
            t = as_timestamp(as_of)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"as_of must be a date such as 2017-06-30, got {as_of!r}") from exc
        if pd.isna(t):
            raise InvalidInput(f"as_of must be a date such as 2017-06-30, got {as_of!r}")
    # A date given is an instant (what was recorded strictly before it); by default every
    # record counts, as the store holds them now.
    from_snapshot = as_of is not None and data_end is not None and t <= data_end
    if from_snapshot:
        deals = history.as_of(t)
        known = history.known_before(t)
    else:
        deals = history.final_deals  # a close as the snapshots read it
        known = history

    notes: list[str] = []
    currency = currency_of(deals, notes)  # sale values and pipeline add amounts: say when they mix
    prepared = _deal_frame(
        deals,
        known.stage_log,
        known.log_seen_only(),
        known.completed_stays(),
        stages,
        group_col,
        period,
    )
    notes.extend(_funnel_notes(prepared.frame))
    scopes = [(False, False)]
    if by or period:
        scopes.append((by is not None, period is not None))
    results = [_scope(prepared, stages, g, p, period) for g, p in scopes]
    summary, funnel, times, pipe = (
        _tidy(pd.concat(list(x), ignore_index=True)) for x in zip(*results, strict=True)
    )
    notes.extend(won_amount_note(summary, by, period) + open_amount_note(prepared.frame))
    return KpiReport(
        as_of=t,
        data_end=data_end,
        from_snapshot=from_snapshot,
        by=by,
        period=period,
        stages=stages,
        summary=summary,
        funnel=funnel,
        time_in_stage=times,
        open_pipeline=pipe,
        notes=notes,
        currency=currency,
    )


# --- the computation ----------------------------------------------------------------------------


def _choice(value: str | None, allowed: dict, name: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise InvalidInput(
            f"{name} must be one of {', '.join(allowed)} (or left out), got {value!r}"
        )
    return allowed[value] if allowed[value] is not None else value


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Group and period as plain objects with None (not NaN) where a dimension is not split."""
    for col in ("group", "period"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _period_code(when: pd.Series, period: str | None) -> pd.Series:
    """An integer code per period (NaN without a date): cheap to group by, labelled later."""
    if period is None:
        return pd.Series(np.nan, index=when.index)
    year, month = when.dt.year, when.dt.month
    if period == "month":
        return year * 12 + (month - 1)
    return year * 4 + (month - 1) // 3


def _period_label(code: float, period: str | None) -> str | None:
    if period is None or pd.isna(code):
        return None
    code = int(code)
    if period == "month":
        return f"{code // 12}-{code % 12 + 1:02d}"
    return f"{code // 4}-Q{code % 4 + 1}"


@dataclass
class _Deals:
    """Deal- and stay-level frames keyed by integer codes, which group by fast."""

    frame: pd.DataFrame  # one row per deal
    stays: pd.DataFrame  # one row per completed stay in an open stage
    group_labels: np.ndarray  # group code -> label
    entered: np.ndarray  # per deal (row of `frame`) and open stage: reached, not known skipped


def _stage_codes(values: pd.Series, stages: StageSet) -> np.ndarray:
    """Position in `stages.all_stages` (open stages, won, lost); -1 for anything else."""
    return pd.Categorical(values, categories=list(stages.all_stages)).codes.astype(np.int64)


def _deal_frame(
    deals: pd.DataFrame,
    history: pd.DataFrame,
    seen_only: np.ndarray,
    completed: pd.DataFrame,
    stages: StageSet,
    group_col: str | None,
    period: str | None,
) -> _Deals:
    """One row per deal with what the KPIs need, and one row per completed stage stay of a
    deal among them (`completed`: `DealHistory.completed_stays`; `seen_only`: per row of
    `history`, `DealHistory.log_seen_only`)."""
    n = len(stages.open_stages)  # code n is Won, n + 1 is Lost
    stage = _stage_codes(deals["stage"], stages)
    if "status" in deals:
        status = deals["status"].to_numpy(dtype=object)
        is_won, is_lost = status == WON, status == LOST
        is_open = status == OPEN
    else:
        is_won, is_lost = stage == n, stage == n + 1
        is_open = ~(is_won | is_lost)
    created = deals["created_at"]
    closed = deals["closed_at"] if "closed_at" in deals else pd.Series(pd.NaT, index=deals.index)
    amount = (
        pd.to_numeric(deals["amount"], errors="coerce").to_numpy(dtype=float)
        if "amount" in deals
        else np.full(len(deals), np.nan)
    )
    # A deal whose creation date was estimated (blank in the export) has no known cycle time.
    dated = (
        ~deals["created_estimated"].fillna(False).to_numpy(dtype=bool)
        if "created_estimated" in deals
        else np.ones(len(deals), dtype=bool)
    )
    estimated = (
        deals["amount_estimated"].fillna(False).to_numpy(dtype=bool)
        if "amount_estimated" in deals
        else np.zeros(len(deals), dtype=bool)
    )
    if group_col:
        labels = deals[group_col].astype(object).where(deals[group_col].notna(), MISSING_GROUP)
        group, group_labels = pd.factorize(labels)
        group_labels = np.asarray(group_labels, dtype=object)
    else:
        group, group_labels = np.zeros(len(deals), dtype=np.int64), np.array([None], dtype=object)

    # The furthest open stage each deal's history shows (Lost says nothing about how far it got).
    codes, uniques = pd.factorize(history["opportunity_id"])
    entry_stage = _stage_codes(history["stage"], stages)
    entry = entry_stage.astype(float)
    entry[(entry < 0) | (entry > n)] = np.nan
    furthest = pd.Series(entry).groupby(codes).max()
    deal_codes = pd.Index(uniques).get_indexer(deals["id"])
    from_history = furthest.reindex(deal_codes).to_numpy()
    # A deal won once and since reopened or lost is not won: it got through the last open stage.
    from_history = np.where(is_won, from_history, np.minimum(from_history, n - 1))
    current = np.where((stage >= 0) & (stage <= n), stage, np.nan)
    # A lost deal with no open stage on record (a flat export says only that it was lost) got
    # an unknown distance: the funnel must not read it as lost at the first stage.
    lost_unknown = is_lost & np.isnan(from_history) & np.isnan(current)
    reached = np.fmax(np.fmax(from_history, current), 0)
    reached[is_won] = n
    entered = _entered(
        pd.Index(deals["id"]).get_indexer(history["opportunity_id"]),
        entry_stage,
        seen_only,
        stage,
        reached,
        n,
    )

    frame = pd.DataFrame(
        {
            "g": group,
            "created_p": _period_code(created, period).to_numpy(),
            "closed_p": _period_code(closed, period).to_numpy(),
            "won": is_won,
            "lost": is_lost,
            "open": is_open,
            "stage": stage,
            "amount": amount,
            "estimated": estimated,
            "cycle": np.where(
                (is_won | is_lost) & dated, (closed - created) / pd.Timedelta(days=1), np.nan
            ),
            "csat": (
                pd.to_numeric(deals["csat"], errors="coerce").to_numpy(dtype=float)
                if "csat" in deals
                else np.nan
            ),
            "reached": reached.astype(np.int64),
            "lost_unknown": lost_unknown,
        }
    )
    frame["csat_p"] = frame["closed_p"].fillna(frame["created_p"])

    row = pd.Index(deals["id"]).get_indexer(completed["opportunity_id"])
    kept = completed[row >= 0]
    stays = pd.DataFrame(
        {
            "g": group[row[row >= 0]],
            "ended_p": _period_code(kept["ended_at"].reset_index(drop=True), period).to_numpy(),
            "stage": _stage_codes(kept["stage"], stages),
            "days": kept["days"].to_numpy(dtype=float),
        }
    )
    return _Deals(frame, stays, group_labels, entered)


def _entered(
    entries: np.ndarray,
    entry_stage: np.ndarray,
    seen_only: np.ndarray,
    stage: np.ndarray,
    reached: np.ndarray,
    n: int,
) -> np.ndarray:
    """Per deal and open stage: the deal reached the stage and is not known to have skipped it.
    A skip is known only where the deal's record of entries shows it move past the stage (from
    an open stage on one side to one, or won, on the other), never in it, with no move seen
    only on the way (`seen_only`: a sighting on either side, where it may have passed through
    the stage unseen). `entries`: each stage-log row's deal position (-1 for none), the log
    oldest first per deal; `stage`: where each deal stands. A deal seen once (a flat export), or
    seen in one stage and later in a further one (nightly pushes, re-exports), skipped nothing
    anyone knows: it passed through every stage up to where it got, as the funnel always
    counted. A stage every deal that reached it is known to have skipped tells nothing."""
    k = np.arange(n)
    entered = reached[:, None] >= k[None, :]
    logged = entries >= 0
    standing = np.flatnonzero((stage >= 0) & (stage < n))
    who = np.concatenate([entries[logged], standing])
    where = np.concatenate([entry_stage[logged], stage[standing]])
    # Where a deal stands is not an entry it was seen making: a move to it is seen only.
    unseen = np.concatenate([seen_only[logged], np.ones(len(standing), dtype=bool)])
    order = np.argsort(who, kind="stable")  # each deal's record, oldest first
    who, where, unseen = who[order], where[order], unseen[order]
    # A move between two open (or won) observations is seen only if any step of it is (a loss,
    # or a stage the dataset no longer has, says nothing of the path).
    steps_unseen = np.cumsum(unseen)
    counted = (where >= 0) & (where <= n)
    who, where, steps_unseen = who[counted], where[counted], steps_unseen[counted]
    seen_in = np.zeros((len(reached), n + 1), dtype=bool)
    seen_in[who, where] = True
    move = who[1:] == who[:-1]
    deal = who[1:][move]
    low = np.minimum(where[:-1], where[1:])[move]
    high = np.maximum(where[:-1], where[1:])[move]
    blind = (steps_unseen[1:] > steps_unseen[:-1])[move]

    def passed(mask: np.ndarray) -> np.ndarray:
        """Per deal and open stage: a move of `mask` went past the stage (strictly between)."""
        over = np.zeros((len(reached), n + 2), dtype=np.int64)
        np.add.at(over, (deal[mask], low[mask] + 1), 1)
        np.add.at(over, (deal[mask], high[mask]), -1)
        return over.cumsum(axis=1)[:, :n] > 0

    skipped = passed(~blind) & ~passed(blind) & ~seen_in[:, :n]
    return entered & ~skipped


class _Funnel(NamedTuple):
    """Per group, in sorted order (`_funnel`)."""

    reached: np.ndarray  # deals that reached at least each stage (n open stages and won)
    still: np.ndarray  # open deals that got no further than each open stage
    conversion: np.ndarray  # of each open stage: moved on / left it (moved on or lost)
    estimated: np.ndarray  # the group's counts past the first stage are estimates


def _funnel(frame: pd.DataFrame, keys: list[pd.Series], n: int, entered: np.ndarray) -> _Funnel:
    """Per group of `frame` by `keys` (aligned with it), in sorted order: the funnel's counts.

    A stage's conversion counts the deals that have left it: moved on to a later stage (or won)
    over moved on or lost from it. A deal still in the stage (open, got no further) has not
    converted nor failed to yet: it is counted apart (`still`), not as a loss, so the funnel
    of the latest periods, whose deals are mostly still open, does not look like it leaks.

    A lost deal whose stage is unknown entered the funnel but stopped at an unknown stage: it
    is spread over the stages as the group's lost deals with a known stage were lost (an
    estimate, flagged); where no lost deal's stage is known, it counts at the first stage only
    and the conversion is left blank (unknown) rather than read as a first-stage loss.

    A stage no deal of the group entered (`entered`, per row of `frame`: `_entered`) has no
    conversion either: the deals that reached it all skipped past it, and their count over
    itself would read as 100%."""
    by_key = frame.groupby(keys, sort=True)
    rows = by_key.size().index

    def per_stage(mask: np.ndarray) -> np.ndarray:
        if not mask.any():
            return np.zeros((len(rows), n + 1))
        sub = frame[mask].groupby([key[mask] for key in keys], sort=True)
        counts = sub["reached"].value_counts().unstack(fill_value=0)
        counts = counts.reindex(index=rows, columns=range(n + 1), fill_value=0)
        return counts.to_numpy(dtype=float, copy=True)

    unknown_rows = frame["lost_unknown"].to_numpy(dtype=bool)
    at_most = per_stage(~unknown_rows)
    lost_at = per_stage(frame["lost"].to_numpy(dtype=bool) & ~unknown_rows)
    unknown = by_key["lost_unknown"].sum().reindex(rows, fill_value=0).to_numpy(dtype=float)
    known_lost = lost_at.sum(axis=1)
    spread = (unknown > 0) & (known_lost > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(spread[:, None], lost_at / known_lost[:, None], 0.0)
    at_most += unknown[:, None] * share
    blind = (unknown > 0) & ~spread
    at_most[blind, 0] += unknown[blind]
    reached = at_most[:, ::-1].cumsum(axis=1)[:, ::-1]
    still = per_stage(frame["open"].to_numpy(dtype=bool))[:, :n]
    left = reached[:, :-1] - still
    with np.errstate(divide="ignore", invalid="ignore"):
        conversion = np.where(left > 0, reached[:, 1:] / left, np.nan)
    conversion[blind] = np.nan
    seen = pd.DataFrame(entered, index=frame.index).groupby(keys, sort=True).sum()
    conversion[seen.reindex(index=rows, fill_value=0).to_numpy() == 0] = np.nan
    return _Funnel(reached, still, conversion, spread)


def _funnel_notes(frame: pd.DataFrame) -> list[str]:
    """Say how the funnel read lost deals whose stage the data does not give."""
    unknown = int(frame["lost_unknown"].sum())
    if not unknown:
        return []
    lost = int(frame["lost"].sum())
    if unknown < lost:
        return [
            f"{unknown:,} of the {lost:,} lost deals have no record of the stage they were lost "
            f"in (only that they were lost): the funnel spreads them over the stages as the "
            f"{lost - unknown:,} others were lost, so its counts past the first stage are "
            "estimates (where a group or period has no loss of known stage, its conversion is "
            "left blank)"
        ]
    return [
        f"the data does not say in which stage its {lost:,} lost deals were lost, only that they "
        "were: the funnel cannot read stage-to-stage conversion from it and leaves it blank; "
        "'reached' past the first stage counts the deals known to have got there (won or open). "
        "A stage history (a history file, or 'Date entered <stage>' columns) shows the funnel"
    ]


def _keys(frame: pd.DataFrame, group: bool, period_col: str | None) -> list[pd.Series]:
    g = frame["g"] if group else pd.Series(0, index=frame.index)
    p = frame[period_col] if period_col else pd.Series(-1.0, index=frame.index)
    return [g.rename("group"), p.rename("period")]


def _scope(
    deals: _Deals,
    stages: StageSet,
    group: bool,
    split: bool,
    period: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summary, funnel, time in stage and open pipeline for one way of splitting the deals."""
    frame, stays = deals.frame, deals.stays

    def keyed(sub: pd.DataFrame, col: str, *extra: pd.Series) -> Any:
        return sub.groupby([*_keys(sub, group, col if split else None), *extra], sort=True)

    won = frame[frame["won"]]
    closed = frame[frame["won"] | frame["lost"]]
    open_ = frame[frame["open"]]
    recorded = won[~won["estimated"] & won["amount"].notna()]
    scored = frame[frame["csat"].notna()]

    by_created = keyed(frame, "created_p")
    # Funnel: how many deals got at least as far as each stage, and how many are still in it.
    n = len(stages.open_stages)
    counts = _funnel(frame, _keys(frame, group, "created_p" if split else None), n, deals.entered)
    rows = by_created.size().index
    won_groups = keyed(won, "closed_p")
    closed_cycles = keyed(closed, "closed_p")["cycle"]
    won_cycles = won_groups["cycle"]
    open_groups = keyed(open_, "created_p")
    summary = pd.concat(
        {
            "deals": by_created.size(),
            "open": open_groups.size(),
            "open_value": open_groups["amount"].sum(),
            "open_value_estimated": keyed(open_[open_["estimated"]], "created_p")["amount"].sum(),
            "won": won_groups.size(),
            "won_of_created": pd.Series(np.rint(counts.reached[:, n]), index=rows),
            "won_without_amount": keyed(won[won["amount"].isna()], "closed_p").size(),
            "lost": keyed(closed[closed["lost"]], "closed_p").size(),
            "won_revenue": won_groups["amount"].sum(),
            "won_revenue_estimated": keyed(won[won["estimated"]], "closed_p")["amount"].sum(),
            "average_sale_value": keyed(recorded, "closed_p")["amount"].mean(),
            "won_cycle_deals": won_cycles.count(),
            "won_cycle_median_days": won_cycles.median(),
            "won_cycle_p90_days": won_cycles.quantile(0.9),
            "closed_cycle_deals": closed_cycles.count(),
            "closed_cycle_median_days": closed_cycles.median(),
            "closed_cycle_p90_days": closed_cycles.quantile(0.9),
            "csat_mean": keyed(scored, "csat_p")["csat"].mean(),
            "csat_count": keyed(scored, "csat_p")["csat"].count(),
        },
        axis=1,
    )
    if not (group or split):  # the overall row exists even when there are no deals
        summary = summary.reindex(pd.MultiIndex.from_tuples([(0, -1.0)], names=["group", "period"]))
    summary[_COUNTS] = summary[_COUNTS].fillna(0).astype(np.int64)
    summary[_SUMS] = summary[_SUMS].fillna(0.0)
    if frame["amount"].isna().all():  # no amounts in the data: their sums are unknown, not 0
        summary[_SUMS] = np.nan
    decided = summary["won"] + summary["lost"]
    summary["win_rate"] = summary["won"] / decided.where(decided > 0)
    cycle = summary["won_cycle_median_days"]
    summary["pipeline_velocity_per_day"] = (
        summary["open"]
        * summary["win_rate"]
        * summary["average_sale_value"]
        / cycle.where(cycle > 0)
    )
    summary = summary.reset_index()

    funnel = pd.DataFrame(
        {
            "group": np.repeat(rows.get_level_values(0), n),
            "period": np.repeat(rows.get_level_values(1), n),
            "stage": np.tile(np.arange(n), len(rows)),
            "reached": np.rint(counts.reached[:, :-1]).ravel().astype(np.int64),
            "still_in_stage": counts.still.ravel().astype(np.int64),
            "next_stage": np.tile(np.arange(1, n + 1), len(rows)),
            "conversion": counts.conversion.ravel(),
            "estimated": np.repeat(counts.estimated, n) & np.tile(np.arange(n) > 0, len(rows)),
        }
    )

    # Time in stage (completed stays).
    by_stay = keyed(stays, "ended_p", stays["stage"])["days"]
    times = pd.concat(
        {"median_days": by_stay.median(), "completed_stays": by_stay.count()}, axis=1
    ).reset_index()
    times["completed_stays"] = times["completed_stays"].astype(np.int64)

    # Open pipeline per stage.
    by_stage = keyed(open_, "created_p", open_["stage"])
    estimated_amount = open_["amount"].where(open_["estimated"], 0.0)
    pipe = pd.concat(
        {
            "deals": by_stage.size(),
            "value": by_stage["amount"].sum(),
            "estimated_value": estimated_amount.groupby(
                [*_keys(open_, group, "created_p" if split else None), open_["stage"]]
            ).sum(),
            "estimated_deals": by_stage["estimated"].sum(),
        },
        axis=1,
    ).reset_index()
    pipe["estimated_deals"] = pipe["estimated_deals"].astype(np.int64)

    names = np.array(stages.all_stages, dtype=object)
    out = []
    for part in (summary, funnel, times, pipe):
        part = part.assign(
            group=deals.group_labels[part["group"].to_numpy(dtype=np.int64)] if group else None,
            _period=part["period"],
        )
        sort = ["group", "_period"] + (["stage"] if "stage" in part else [])
        part = part.sort_values(sort, kind="stable", na_position="first")
        part["period"] = [_period_label(c, period) for c in part["_period"]] if split else None
        for col in ("stage", "next_stage"):
            if col in part:
                part[col] = names[part[col].to_numpy(dtype=np.int64)]
        out.append(part.drop(columns="_period").reset_index(drop=True))
    return out[0][SUMMARY_COLUMNS], out[1], out[2], out[3]
