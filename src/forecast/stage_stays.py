"""A deal history's stage log read per deal: the stage known at a time, and the stays.

The stage log (`STAGE_LOG_COLUMNS`) holds one row per stage a deal entered, oldest first. A
**stay** in a stage runs from its entry to the deal's next entry of another stage (its outcome
included): a stage recorded twice in a row is one stay, entered at the first of the two. A stay
whose next entry is dated at the same instant took no time (an export that says only which stage
a deal closed in dates that stage at the close): it is no time spent in the stage, not a stay of
zero days. `DealHistory` answers with these functions (`stage_at`, `completed_stays`); KPIs' time
in stage and the at-risk list's "stuck" threshold read the same completed stays.

`last_before` is the as-of kernel of every lookup here and of the field history's too.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np
import pandas as pd

STAGE_LOG_COLUMNS = ("opportunity_id", "stage", "entered_at")
_DAY = np.timedelta64(86_400_000_000, "us")


def last_before(
    e_key: np.ndarray, e_time: np.ndarray, q_key: np.ndarray, q_time: np.ndarray
) -> np.ndarray:
    """The as-of kernel: per query, the index of the last event of the same key dated strictly
    before the query's time (-1 if none). Keys are non-negative integer codes; times datetime64.

    Events at the same instant keep their given order (the later one wins). Vectorised: events
    sorted by (key, time rank) packed in one int64, each query found with `searchsorted`.
    """
    out = np.full(len(q_key), -1, dtype=np.int64)
    if len(e_key) == 0 or len(q_key) == 0:
        return out
    e_t = np.asarray(e_time, dtype="datetime64[us]").view("int64")
    q_t = np.asarray(q_time, dtype="datetime64[us]").view("int64")
    _, inverse = np.unique(np.concatenate([e_t, q_t]), return_inverse=True)
    e_rank, q_rank = inverse[: len(e_t)], inverse[len(e_t) :]
    e_comp = (e_key.astype(np.int64) << 32) | e_rank
    order = np.argsort(e_comp, kind="stable")
    e_sorted = e_comp[order]
    pos = np.searchsorted(e_sorted, (q_key.astype(np.int64) << 32) | q_rank, "left") - 1
    found = pos >= 0
    found[found] = (e_sorted[pos[found]] >> 32) == q_key[found]
    out[found] = order[pos[found]]
    return out


class StageEvents(NamedTuple):
    """The dated entries of a stage log whose deal is known, as arrays."""

    pos: np.ndarray  # the deal's row position in the history's deals
    when: np.ndarray  # entered_at, datetime64[us]
    stage: np.ndarray  # the stage entered (object)


def stage_events(stage_log: pd.DataFrame, deal_ids: pd.Index) -> StageEvents:
    """The entries of `stage_log` of the deals `deal_ids` holds, undated entries left out."""
    pos = deal_ids.get_indexer(stage_log["opportunity_id"])
    when = stage_log["entered_at"].to_numpy("datetime64[us]")
    ok = (pos >= 0) & ~np.isnat(when)
    return StageEvents(pos[ok], when[ok], stage_log["stage"].to_numpy(dtype=object)[ok])


def stage_at(
    events: StageEvents,
    pos: np.ndarray,
    when: np.ndarray,
    first_stage: str,
    created: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per (deal position, time): the stage known then and when it was entered. A deal with no
    entry before the time is in `first_stage` since its creation (`created`, per deal)."""
    at = last_before(events.pos, events.when, pos, when)
    found = at >= 0
    stage = np.full(len(pos), first_stage, dtype=object)
    entered = np.asarray(created, dtype="datetime64[us]")[pos].copy()
    stage[found] = events.stage[at[found]]
    entered[found] = events.when[at[found]]
    return stage, entered


def completed_stays(stage_log: pd.DataFrame, open_stages: Collection[str]) -> pd.DataFrame:
    """Every stay in an open stage that a later entry of the same deal ended (see the module
    docstring): opportunity_id, stage, entered_at, ended_at and days (float), grouped by deal
    in first-seen order, oldest first. A stay still running, an outcome and a stay of no time
    are not in it."""
    at = stage_log["entered_at"].to_numpy("datetime64[us]")
    dated = ~np.isnat(at)
    at = at[dated]
    ids = stage_log["opportunity_id"].to_numpy(dtype=object)[dated]
    stage = stage_log["stage"].to_numpy(dtype=object)[dated]
    codes = pd.factorize(ids)[0]
    order = np.lexsort((at.view("int64"), codes))  # ties keep their given order
    codes, ids, at, stage = codes[order], ids[order], at[order], stage[order]
    first = np.ones(len(codes), dtype=bool)  # a stage re-recorded is one stay, not two
    first[1:] = (codes[1:] != codes[:-1]) | (stage[1:] != stage[:-1])
    codes, ids, at, stage = codes[first], ids[first], at[first], stage[first]
    same_deal = codes[1:] == codes[:-1]
    in_open = pd.Series(stage[:-1], dtype=object).isin(list(open_stages)).to_numpy()
    done = same_deal & in_open & (at[1:] > at[:-1])
    entered, ended = at[:-1][done], at[1:][done]
    return pd.DataFrame(
        {
            "opportunity_id": ids[:-1][done],
            "stage": stage[:-1][done],
            "entered_at": entered,
            "ended_at": ended,
            "days": (ended - entered) / _DAY,
        }
    )


def first_seen(events: StageEvents, created: np.ndarray, first_stage: str) -> np.ndarray:
    """Per deal (`created`: each deal's creation), its stage as first seen: the stage known
    just after its creation (`first_stage` where no entry is dated by then); None where the
    deal has no creation date."""
    created = np.asarray(created, dtype="datetime64[us]")
    dated = np.flatnonzero(~np.isnat(created))
    seen = np.full(len(created), None, dtype=object)
    just_after = created[dated] + np.timedelta64(1, "us")
    seen[dated] = stage_at(events, dated, just_after, first_stage, created)[0]
    return seen


def open_stage_before_close(
    events: StageEvents, closed_at: np.ndarray, open_stages: Collection[str]
) -> np.ndarray:
    """Per deal (`closed_at`: each deal's close), whether an entry into an open stage is dated
    before its close (never for a deal with no close date)."""
    closed_at = np.asarray(closed_at, dtype="datetime64[us]")
    in_open = pd.Series(events.stage, dtype=object).isin(list(open_stages)).to_numpy()
    opened = in_open & (events.when < closed_at[events.pos])  # NaT: not before
    recorded = np.zeros(len(closed_at), dtype=bool)
    recorded[events.pos[opened]] = True
    return recorded
