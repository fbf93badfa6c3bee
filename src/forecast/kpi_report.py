"""The KPI report: the figures `compute_kpis` found, as frames and as plain JSON-ready data.

One row per scope (overall, group, period, group × period) in `summary` (with a period, `won`
counts the deals closed won in it, `won_of_created` the deals created in it that were won: the
funnel's last step; `won_without_amount` the won ones without an amount, which won revenue and
the average sale value leave out), per-stage rows in `funnel` (reached, still_in_stage,
next_stage, conversion: moved on / left the stage, deals still in it left out, None where no
deal entered the stage or none has left it), `time_in_stage` and `open_pipeline`; `to_dict`
nests them per scope with every open stage present (empty where a scope has no row), and `None`
where a figure is missing. A figure that overflowed (only amounts far past 1e15 can make one) is
an `InvalidInput` naming it, never a `None`: see `formatting.finite`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.stages import StageSet
from forecast.errors import NotFound
from forecast.formatting import finite

SUMMARY_COLUMNS = [
    "group",
    "period",
    "deals",
    "won",
    "won_of_created",
    "won_without_amount",
    "lost",
    "open",
    "win_rate",
    "average_sale_value",
    "won_revenue",
    "won_revenue_estimated",
    "won_cycle_deals",
    "won_cycle_median_days",
    "won_cycle_p90_days",
    "closed_cycle_deals",
    "closed_cycle_median_days",
    "closed_cycle_p90_days",
    "pipeline_velocity_per_day",
    "open_value",
    "open_value_estimated",
    "csat_mean",
    "csat_count",
]


@dataclass(eq=False)
class KpiReport:
    """KPIs of every group, as tidy frames; `to_dict` and `to_table` render them.

    `summary` has one row per (group, period) with the scalar KPIs; `funnel`, `time_in_stage`
    and `open_pipeline` have one row per (group, period, stage). The overall row has group and
    period None; with `by` only, period is None; with `period` only, group is None.
    """

    as_of: pd.Timestamp
    data_end: pd.Timestamp | None
    from_snapshot: bool
    by: str | None
    period: str | None
    stages: StageSet
    summary: pd.DataFrame
    funnel: pd.DataFrame
    time_in_stage: pd.DataFrame
    open_pipeline: pd.DataFrame
    #: What a reader must know to read the figures right (amounts in several currencies).
    notes: list[str] = field(default_factory=list)
    #: The one currency the amounts are in (None: not said by the data, or several).
    currency: str | None = None
    _index: dict[tuple, dict[str, list[dict[str, Any]]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def row(self, group: str | None = None, period: str | None = None) -> dict[str, Any]:
        """The KPIs of one group and period (both None: overall), as plain Python values."""
        mask = _is(self.summary["group"], group) & _is(self.summary["period"], period)
        if not mask.any():
            raise NotFound(f"no KPIs for group {group!r}, period {period!r} in this report")
        return self._row_dict(self.summary[mask].iloc[0].to_dict())

    @property
    def overall(self) -> dict[str, Any]:
        return self.row()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain Python types only, NaN as None, dates as ISO strings."""
        rows = self.summary.to_dict("records")
        return {
            "as_of": self.as_of.isoformat(),
            "data_end": self.data_end.isoformat() if self.data_end is not None else None,
            "from_snapshot": self.from_snapshot,
            "by": self.by,
            "period": self.period,
            "stages": {
                "open": list(self.stages.open_stages),
                "won": self.stages.won,
                "lost": self.stages.lost,
            },
            "overall": self.overall,
            "groups": [
                self._row_dict(r) for r in rows if r["group"] is not None or r["period"] is not None
            ],
            "notes": list(self.notes),
            "currency": self.currency,
        }

    # -- rows for presentation

    def stage_rows(self, key: tuple) -> dict[str, list[dict[str, Any]]]:
        """The per-stage rows of one (group, period), indexed once for all rows."""
        if not self._index:
            for name in ("funnel", "time_in_stage", "open_pipeline"):
                for rec in getattr(self, name).to_dict("records"):
                    k = (rec.pop("group"), rec.pop("period"))
                    part = self._index.setdefault(k, {})
                    where = (f"{name}, stage {rec['stage']}", *k)
                    part.setdefault(name, []).append(
                        {c: _plain(v, c, *where) for c, v in rec.items()}
                    )
        return self._index.get(key, {})

    def _row_dict(self, r: dict[str, Any]) -> dict[str, Any]:
        v = {k: _plain(r[k], k, None, r["group"], r["period"]) for k in SUMMARY_COLUMNS}
        parts = self.stage_rows((r["group"], r["period"]))
        return {
            "group": v["group"],
            "period": v["period"],
            "deals": v["deals"],
            "won": v["won"],
            "won_of_created": v["won_of_created"],
            "won_without_amount": v["won_without_amount"],
            "lost": v["lost"],
            "open": v["open"],
            "win_rate": v["win_rate"],
            "average_sale_value": v["average_sale_value"],
            "won_revenue": v["won_revenue"],
            "won_revenue_estimated": v["won_revenue_estimated"],
            "time_to_close": {
                "won": {
                    "deals": v["won_cycle_deals"],
                    "median_days": v["won_cycle_median_days"],
                    "p90_days": v["won_cycle_p90_days"],
                },
                "closed": {
                    "deals": v["closed_cycle_deals"],
                    "median_days": v["closed_cycle_median_days"],
                    "p90_days": v["closed_cycle_p90_days"],
                },
            },
            "pipeline_velocity_per_day": v["pipeline_velocity_per_day"],
            "open_value": v["open_value"],
            "open_value_estimated": v["open_value_estimated"],
            "csat": (
                {"mean": v["csat_mean"], "count": v["csat_count"]} if v["csat_count"] else None
            ),
            "funnel": self._per_stage(
                parts.get("funnel"),
                reached=0,
                still_in_stage=0,
                next_stage=None,
                conversion=None,
                estimated=False,
            ),
            "time_in_stage": self._per_stage(
                parts.get("time_in_stage"), median_days=None, completed_stays=0
            ),
            "open_pipeline": self._per_stage(
                parts.get("open_pipeline"),
                deals=0,
                value=0.0,
                estimated_value=0.0,
                estimated_deals=0,
            ),
        }

    def _per_stage(self, rows: list[dict[str, Any]] | None, **empty: Any) -> list[dict[str, Any]]:
        """Every open stage in funnel order, with `empty` values where a stage has no rows."""
        found = _by_stage(rows)
        names = [*self.stages.open_stages, self.stages.won]
        out = []
        for i, stage in enumerate(self.stages.open_stages):
            row = dict(found.get(stage) or {"stage": stage, **empty})
            if "next_stage" in empty:
                row["next_stage"] = names[i + 1]
            out.append(row)
        return out

    def ordered_rows(self) -> list[dict[str, Any]]:
        """Summary rows, group rows first and the overall row last."""
        rows = self.summary.to_dict("records")
        return [r for r in rows if r["group"] is not None or r["period"] is not None] + [
            r for r in rows if r["group"] is None and r["period"] is None
        ]


#: How many rows of a split report the won-amount note names before saying how many more.
NAMED_ROWS = 6


def won_amount_note(summary: pd.DataFrame, by: str | None, period: str | None) -> list[str]:
    """Say how many won deals have no amount, of the report's won deals (as of its date), and
    in which of its groups / periods: won revenue and the average sale value leave them out
    while the win rate and the deal counts include them, which a manager cannot see in the
    figures themselves. Nothing where every won deal has an amount."""
    overall = summary[summary["group"].isna() & summary["period"].isna()]
    blank = int(overall["won_without_amount"].sum())
    if not blank:
        return []
    won = int(overall["won"].sum())
    where = ""
    if by or period:
        split = summary[(summary["won_without_amount"] > 0) & ~summary.index.isin(overall.index)]
        named = [
            f"{' · '.join(str(x) for x in (r.group, r.period) if x is not None)}: "
            f"{r.won_without_amount:,} of {r.won:,}"
            for r in split.head(NAMED_ROWS).itertuples()
        ]
        if len(split) > NAMED_ROWS:
            named.append(f"{len(split) - NAMED_ROWS:,} more")
        where = f" ({'; '.join(named)})"
    if blank == won:
        head = "the won deal has" if won == 1 else f"all {won:,} won deals have"
    else:
        head = f"{blank:,} of the {won:,} won deals " + ("has" if blank == 1 else "have")
    counts = "it counts" if blank == 1 else "they count"
    return [
        f"{head} no amount{where}: {counts} in the win rate and the deal counts, not in won "
        "revenue or the average sale value"
    ]


def open_amount_note(frame: pd.DataFrame) -> list[str]:
    """Say how many open deals (`frame`: one row per deal, `open` and `amount`) have no
    amount, where others in the data have one: open value leaves them out, and a 0 beside
    open deals would read as an empty pipeline. Nothing where the data has no amounts (open
    value is then unknown, not 0) or every open deal has one."""
    open_ = frame[frame["open"]]
    blank = int(open_["amount"].isna().sum())
    if not blank or frame["amount"].isna().all():
        return []
    total = len(open_)
    if blank == total:
        head = "the open deal has" if total == 1 else f"all {total:,} open deals have"
    else:
        head = f"{blank:,} of the {total:,} open deals " + ("has" if blank == 1 else "have")
    counts = "it counts" if blank == 1 else "they count"
    return [f"{head} no amount: {counts} in the open deals, not in open value"]


def _plain(value: Any, column: str, part: str | None, group: Any, period: Any) -> Any:
    """A plain Python value: numpy scalars unwrapped, NaN/NaT as None, timestamps as ISO; an
    overflowed figure raises, naming its column, part, group and period."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if np.isnan(value):
            return None
        scope = ", ".join(str(x) for x in (group, period) if x is not None) or "all deals"
        return finite(value, f"the {column}{f' ({part})' if part else ''} of {scope}")
    return value


def _by_stage(rows: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {r["stage"]: r for r in rows or []}


def _is(values: pd.Series, wanted: Hashable | None) -> pd.Series:
    return values.isna() if wanted is None else values.eq(wanted)
