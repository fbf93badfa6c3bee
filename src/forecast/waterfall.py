"""The pipeline waterfall: how the open pipeline at one date became the pipeline at a later date.

start + created + pulled in + increased − decreased − pushed out − lost before the period − won
before the period − lost − won = end, per group and in total, with the deals behind every bar.
The pipeline at a date is every deal open then (as known then: `DealHistory.as_of`), or, for a
period, every open deal whose expected close as known then falls inside it. Each deal lands in
the bars its two states say:

- in the pipeline at both dates: its amount change (increased or decreased);
- in it at the start only: won or lost by the end (closed inside the period, if one is given);
  won or lost before the period (closed earlier than the period it was expected in: a manager
  reads "pushed out" as moved to a later period, so these are bars of their own); else pushed
  out (its expected close moved out of the period, or it closed after it). A won deal leaves at
  the amount won, its change from the start in increased/decreased; a lost or pushed deal leaves
  at its start amount;
- in it at the end only: created after the start date, else pulled in (its expected close moved
  into the period, or it reopened);
- in it at neither, but created or pulled in and then closed between the dates inside the
  period: both its entry and its exit (a deal created and won within the week shows in created
  and won). A deal expected in another period and lost meanwhile is not this pipeline's loss.

Per group, a deal whose group changed between the dates (a new owner, team or region) moves out
of the old group and into the new one at its start amount (`moved_out`, `moved_in`), which cancel
in the total. Amounts are summed in whole cents, so every waterfall balances to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.stages import LOST, WON
from forecast.errors import InvalidInput, NotFound
from forecast.groups import GROUP_COLUMNS, canonical_group
from forecast.history import DealHistory, as_timestamp
from forecast.periods import Period

#: The bars in the order a chart draws them; the sign says whether a bar adds or takes away.
BARS: tuple[tuple[str, int], ...] = (
    ("created", 1),
    ("pulled_in", 1),
    ("moved_in", 1),
    ("increased", 1),
    ("decreased", -1),
    ("moved_out", -1),
    ("pushed_out", -1),
    ("lost_before_period", -1),
    ("won_before_period", -1),
    ("lost", -1),
    ("won", -1),
)
SIGN = dict(BARS)
#: What a waterfall can be broken down by, as the KPIs name them (rep: the deal's owner).
GROUPS = tuple(GROUP_COLUMNS)
TOTAL = "(total)"
NO_GROUP = "(none)"
DEAL_COLUMNS = (
    "id",
    "bar",
    "group",
    "amount",
    "amount_start",
    "amount_end",
    "expected_close_start",
    "expected_close_end",
    "stage_start",
    "stage_end",
    "closed_at",
)


@dataclass(frozen=True)
class Waterfall:
    """One group's waterfall (or the total's): amounts in cents, so it balances exactly."""

    group: str
    start_cents: int
    bars_cents: dict[str, int]
    end_cents: int

    @property
    def balanced(self) -> bool:
        moved = sum(SIGN[b] * v for b, v in self.bars_cents.items())
        return self.start_cents + moved == self.end_cents

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "start": self.start_cents / 100,
            **{bar: self.bars_cents.get(bar, 0) / 100 for bar, _ in BARS},
            "end": self.end_cents / 100,
        }


@dataclass(frozen=True)
class PipelineWaterfall:
    """The waterfall between two dates: the total, one per group, the deals behind each bar."""

    start: pd.Timestamp
    end: pd.Timestamp
    period: Period | None
    by: str | None
    total: Waterfall
    groups: list[Waterfall]
    deals: pd.DataFrame  # DEAL_COLUMNS: one row per deal and bar it lands in
    notes: list[str]

    def of_group(self, group: str) -> PipelineWaterfall:
        """Only one group's waterfall and deals (the total stays the whole pipeline's)."""
        groups = [g for g in self.groups if g.group == group]
        if not groups:
            raise NotFound(f"group: no deals of {self.by} {group!r} in the pipeline at either date")
        return replace(self, groups=groups, deals=self.deals[self.deals["group"] == group])

    def line(self, group: str | None = None) -> Waterfall:
        """One group's waterfall, or the total's."""
        return next((g for g in self.groups if g.group == group), self.total)

    def largest_deals(self, per_bar: int) -> dict[str, list[dict[str, Any]]]:
        """Per bar, its `per_bar` largest deals as JSON records."""
        return {
            bar: deal_records(rows.nlargest(per_bar, "amount") if per_bar else rows.iloc[:0])
            for bar, rows in self._by_bar().items()
        }

    def deal_counts(self) -> dict[str, int]:
        """Per bar, how many deals it holds."""
        return {bar: len(rows) for bar, rows in self._by_bar().items()}

    def _by_bar(self) -> dict[str, pd.DataFrame]:
        return {bar: self.deals[self.deals["bar"] == bar] for bar, _ in BARS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": str(self.start.date()),
            "to": str(self.end.date()),
            "period": self.period.to_dict() if self.period is not None else None,
            "by": self.by,
            "bars": [{"bar": b, "sign": "+" if s > 0 else "-"} for b, s in BARS],
            "total": self.total.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "notes": self.notes,
        }


def pipeline_waterfall(
    history: DealHistory,
    start: object,
    end: object,
    *,
    period: Period | None = None,
    by: str | None = None,
) -> PipelineWaterfall:
    """The waterfall of the pipeline (for `period`, or every open deal) from `start` to `end`,
    in total and per value of `by` (one of `GROUPS`). Two passes over the deals, whatever the
    dates: the cost does not grow with how far apart they are."""
    t0, t1 = as_timestamp(start), as_timestamp(end)
    if t1 <= t0:
        raise InvalidInput(f"to: must be after from ({t0.date()}), got {t1.date()}")
    by = canonical_group(by)
    if by is not None and by not in GROUPS:
        raise InvalidInput(f"by: must be one of {', '.join(GROUPS)}, got {by!r}")
    before = history.as_of(t0).set_index("id")
    after = history.as_of(t1).set_index("id")
    notes: list[str] = []
    a0, a1 = _cents(before, "amount", notes, t0), _cents(after, "amount", notes, t1)
    scope0 = _in_scope(before, period, notes, t0)
    in0 = scope0.reindex(after.index, fill_value=False)
    in1 = _in_scope(after, period, notes, t1)
    existed = pd.Series(after.index.isin(before.index), index=after.index)
    closed = after["status"].isin([WON, LOST]) & ~_closed(before).reindex(
        after.index, fill_value=False
    )
    inside = closed if period is None else closed & period.contains(after["closed_at"])
    won, lost = inside & (after["status"] == WON), inside & (after["status"] == LOST)
    earlier = closed & ~inside & _before(after["closed_at"], period)
    won_earlier = earlier & (after["status"] == WON)
    start_amount = a0.reindex(after.index, fill_value=0)
    g0 = _group(before, by).reindex(after.index, fill_value=NO_GROUP)
    g1 = _group(after, by)

    rows: list[pd.DataFrame] = []

    def add(mask: pd.Series, bar: str, amount: pd.Series, group: pd.Series) -> None:
        if mask.any():
            rows.append(
                pd.DataFrame({"id": after.index[mask], "bar": bar, "group": group[mask]})
                .assign(cents=amount[mask].to_numpy(dtype=np.int64))
                .reset_index(drop=True)
            )

    stayed = in0 & in1
    left = in0 & ~in1
    moved = in0 & (g0 != g1)
    add(moved, "moved_out", start_amount, g0)
    add(moved, "moved_in", start_amount, g1)
    change = a1 - start_amount
    changes = stayed | (left & (won | won_earlier))
    add(changes & (change > 0), "increased", change, g1)
    add(changes & (change < 0), "decreased", -change, g1)
    add(left & won, "won", a1, g1)
    add(left & lost, "lost", start_amount, g1)
    add(left & earlier & ~won_earlier, "lost_before_period", start_amount, g1)
    add(left & won_earlier, "won_before_period", a1, g1)
    add(left & ~won & ~lost & ~earlier, "pushed_out", start_amount, g1)
    entered = ~in0 & (in1 | won | (lost & ~existed))
    add(entered & ~existed, "created", a1, g1)
    add(entered & existed, "pulled_in", a1, g1)
    add(entered & ~in1 & won, "won", a1, g1)
    add(entered & ~in1 & lost, "lost", a1, g1)

    moves = pd.concat(rows, ignore_index=True) if rows else _no_moves()
    totals = _waterfall(TOTAL, int(a0[scope0].sum()), moves, int(a1[in1].sum()))
    groups = []
    if by is not None:
        starts = a0[scope0].groupby(_group(before, by)[scope0]).sum()
        ends = a1[in1].groupby(g1[in1]).sum()
        for name in sorted(set(starts.index) | set(ends.index) | set(moves["group"])):
            part = moves[moves["group"] == name]
            groups.append(
                _waterfall(str(name), int(starts.get(name, 0)), part, int(ends.get(name, 0)))
            )
    deals = _deal_table(moves, before, after)
    return PipelineWaterfall(t0, t1, period, by, totals, groups, deals, sorted(set(notes)))


def deal_records(deals: pd.DataFrame) -> list[dict[str, Any]]:
    """The deals behind the bars as plain JSON records (dates as ISO days, no NaN)."""
    out = deals.copy()
    for col in ("expected_close_start", "expected_close_end", "closed_at"):
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        for rec in out.astype(object).where(out.notna(), None).to_dict("records")
    ]


# --- helpers --------------------------------------------------------------------------------------


def _closed(frame: pd.DataFrame) -> pd.Series:
    return frame["status"].isin([WON, LOST])


def _before(when: pd.Series, period: Period | None) -> pd.Series:
    """Dates before the period starts (none without a period, or without a date)."""
    if period is None:
        return pd.Series(False, index=when.index)
    return (pd.to_datetime(when) < period.start).fillna(False)


def _in_scope(
    frame: pd.DataFrame, period: Period | None, notes: list[str], at: pd.Timestamp
) -> pd.Series:
    """Open at the date and, for a period, expected to close inside it (as known then)."""
    scope = frame["is_open"].astype(bool)
    if period is None:
        return scope
    expected = pd.to_datetime(frame.get("expected_close_at"), errors="coerce")
    if expected is None:
        raise InvalidInput("period: the data has no expected close dates to place deals in it")
    undated = int((scope & expected.isna()).sum())
    if undated:
        notes.append(
            f"{undated:,} open deal(s) had no expected close date on {at.date()}: outside "
            f"the {period.label} pipeline"
        )
    return scope & period.contains(expected).fillna(False)


def _cents(frame: pd.DataFrame, column: str, notes: list[str], at: pd.Timestamp) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce") if column in frame else None
    if values is None:
        raise InvalidInput("the data has no amounts: no pipeline value to break down")
    blank = int((values.isna() & frame["is_open"].astype(bool)).sum())
    if blank:
        notes.append(f"{blank:,} open deal(s) had no amount on {at.date()}: counted as 0")
    return (values.fillna(0.0) * 100).round().astype(np.int64)


def _group(frame: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series(TOTAL, index=frame.index, dtype=object)
    column = GROUP_COLUMNS[by]
    values = frame[column] if column in frame else pd.Series(None, index=frame.index, dtype=object)
    return values.astype(object).where(values.notna(), NO_GROUP).astype(str)


def _no_moves() -> pd.DataFrame:
    return pd.DataFrame({"id": [], "bar": [], "group": [], "cents": np.array([], dtype=np.int64)})


def _waterfall(name: str, start: int, moves: pd.DataFrame, end: int) -> Waterfall:
    sums = moves.groupby("bar")["cents"].sum()
    bars = {bar: int(sums.get(bar, 0)) for bar, _ in BARS}
    found = Waterfall(name, start, bars, end)
    if not found.balanced:  # a classification hole: never shown as if it balanced
        raise AssertionError(f"waterfall of {name} does not balance: {found.to_dict()}")
    return found


def _deal_table(moves: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    ids = moves["id"]
    b = before.reindex(ids)
    a = after.reindex(ids)
    table = pd.DataFrame(
        {
            "id": ids.to_numpy(),
            "bar": moves["bar"].to_numpy(),
            "group": moves["group"].to_numpy(),
            "amount": moves["cents"].to_numpy() / 100,
            "amount_start": pd.to_numeric(b.get("amount"), errors="coerce").to_numpy(),
            "amount_end": pd.to_numeric(a.get("amount"), errors="coerce").to_numpy(),
            "expected_close_start": pd.to_datetime(b.get("expected_close_at")).to_numpy(),
            "expected_close_end": pd.to_datetime(a.get("expected_close_at")).to_numpy(),
            "stage_start": b["stage"].to_numpy(),
            "stage_end": a["stage"].to_numpy(),
            "closed_at": pd.to_datetime(a["closed_at"]).to_numpy(),
        }
    )
    order = {bar: i for i, (bar, _) in enumerate(BARS)}
    table["_o"] = table["bar"].map(order)
    table = table.sort_values(["_o", "amount"], ascending=[True, False], kind="stable")
    return table.drop(columns="_o").reset_index(drop=True)[list(DEAL_COLUMNS)]
