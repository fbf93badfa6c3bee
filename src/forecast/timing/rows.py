"""Survival rows for the timing models: deals seen from landmarks, as known before a cut.

Each training deal is seen from **landmarks** (just after its creation, each stage entry and
every `every_days` while open) and followed until it closes or observation ends: censored, not
dropped. `survival_rows` and `pipeline_rows` first cut the data with `DealHistory.known_before`,
so a model fitted at t never sees a stage entry, a close or a field value recorded at or after t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import features as feat
from forecast.data.stages import LOST, WON
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.history import DealHistory, as_timestamp

#: Features that make up the time part of the hazard (binned into the lookup table).
TIME_FEATURES: tuple[str, ...] = ("stage_index", "age_days", "days_in_stage")
#: Deal attributes known at the landmark: the booster part, evaluated once per deal.
STATIC_FEATURES: tuple[str, ...] = tuple(
    c for c in feat.DEAL_FEATURES if c not in ("stage", *TIME_FEATURES)
)
#: Event codes of survival rows.
CENSORED, EVENT_WON, EVENT_LOST = 0, 1, 2
DAY = pd.Timedelta(days=1)


# --- the data, as known at a date ----------------------------------------------------------------


def landmarks(history: DealHistory, until: pd.Timestamp, every_days: int) -> pd.DataFrame:
    """(id, as_of) while each deal was open before `until`: just after its creation and each
    stage entry, and every `every_days` days."""
    deals = history.final_deals  # a closed deal's landmarks stop at the close `as_of` reads
    deals = deals[deals["created_at"].notna()]
    closed = deals["closed_at"]
    end = closed.where(closed.notna() & (closed < until), until)
    frame = pd.DataFrame(
        {"id": deals["id"].to_numpy(), "created_at": deals["created_at"], "end": end.to_numpy()}
    )
    return feat.snapshot_points(history, frame, every_days)


def survival_rows(
    history: DealHistory,
    until: object,
    *,
    every_days: int = 28,
    half_life_days: float = 0.0,
) -> pd.DataFrame:
    """Training rows for the timing models: deal features at landmarks before `until`, with
    `duration_days` (landmark → close, or → `until` if still open), `followup_days`
    (landmark → `until`), `event` (0 censored, 1 won, 2 lost), `observed_from_days` and
    `weight`. Only what was known before `until` is used (`DealHistory.known_before`).

    A landmark weighs 0.5 ** (its age at `until` / `half_life_days`) (1 when 0): the business
    as it is now counts most, so a win rate that changed is learnt within months, not diluted
    by years of the old one. The weight is a function of the landmark's date only, known at the
    landmark, so it cannot carry the outcome.

    Weighting a deal's landmarks by 1 / (their number) instead would let the future leak into
    the weights: a deal that closes fast has fewer landmarks, so fast closers would weigh more
    among young deals and the early hazard would come out too high. With date-only weights,
    how often a deal appears at a given age depends only on its past.

    Observation starts at the first close the data records (`observed_from_days` after the
    landmark): an export that records no close before some date (a CRM migration, a cut-off)
    says nothing about how fast deals closed before it, so those weeks are not counted as
    "still open".
    """
    cut = as_timestamp(until)
    known = history.known_before(cut)
    points = landmarks(known, cut, every_days)
    if points.empty:
        return _empty_survival()
    rows = feat.deal_rows_at(known, points)
    status = rows["id"].map(known.deals.set_index("id")["status"])
    closed = rows["closed_at"]
    event = np.where(status == WON, EVENT_WON, np.where(status == LOST, EVENT_LOST, CENSORED))
    event = np.where(closed.notna(), event, CENSORED)
    stop = closed.where(closed.notna(), cut)
    rows["duration_days"] = ((stop - rows["as_of"]) / DAY).to_numpy(dtype=float)
    rows["followup_days"] = ((cut - rows["as_of"]) / DAY).to_numpy(dtype=float)
    rows["event"] = event.astype(int)
    rows = rows[rows["duration_days"] > 0].reset_index(drop=True)
    deals = known.final_deals
    first_close = deals.loc[deals["status"].isin([WON, LOST]), "closed_at"].min()
    # From the day before the first close, so that close itself is seen as an event.
    start = rows["as_of"] if pd.isna(first_close) else rows["as_of"].clip(lower=first_close - DAY)
    rows["observed_from_days"] = ((start - rows["as_of"]) / DAY).to_numpy(dtype=float)
    rows["weight"] = 1.0
    if half_life_days > 0:
        age = ((cut - rows["as_of"]) / DAY).to_numpy(dtype=float)
        rows["weight"] = np.power(0.5, age / half_life_days)
    rows["until"] = cut
    return rows


def _empty_survival() -> pd.DataFrame:
    cols = [
        "id",
        "as_of",
        *feat.DEAL_FEATURES,
        "duration_days",
        "followup_days",
        "event",
        "observed_from_days",
        "weight",
    ]
    return pd.DataFrame({c: [] for c in cols})


def pipeline_rows(history: DealHistory, as_of: object) -> pd.DataFrame:
    """Feature rows of the deals open at `as_of`, as known then (the pipeline)."""
    return feat.open_deal_rows(history, as_of)


def _observed_from(rows: pd.DataFrame) -> np.ndarray:
    if "observed_from_days" not in rows:
        return np.zeros(len(rows))
    return np.nan_to_num(rows["observed_from_days"].to_numpy(dtype=float), nan=0.0)


def _check_survival(rows: pd.DataFrame) -> None:
    need = ("id", "as_of", "duration_days", "followup_days", "event", "weight", *TIME_FEATURES)
    missing = [c for c in need if c not in rows.columns]
    if missing:
        raise InvalidInput(f"timing rows lack column(s) {missing}: build them with `survival_rows`")
    if len(rows) == 0:
        raise InsufficientHistory("no deal history before the cut: nothing to learn timing from")
