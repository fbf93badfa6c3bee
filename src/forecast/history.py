"""What was known at t: a dataset's deals with their stage and field histories, in one object.

**The as-of rule.** `DealHistory.as_of(t)` is the pipeline as it was known at the instant t: only
what was recorded *strictly before* t counts. A stage entered at t, a close dated t, a field value
observed at t are not known yet at t (a forecast for a period starting at t must see a deal that
closes on its first day as open). To see the state just after an event at e, ask for
`e + JUST_AFTER`; training landmarks do that for creations and stage entries.

Every changeable field (amount, expected close, forecast category, rep probability, owner, team,
account, every attribute) is read from the **field history**: each observation is the deal's
whole state as seen at a time (the export's `updated_at` or export date, a CRM push's time). At t
a field holds its value in the last observation before t. Before a deal's first observation, that
first observation stands in (a flat export is the only record of a deal's attributes); a field
whose first-seen values give away which deals were still open at the export is caught by
`forecast.export_leaks` and left out of model inputs (`left_out`), as is a stage that does so
(the time-to-close model then reads every deal as in one stage: `TimeToClose.one_stage`).

A dataset's own columns kept as model inputs (its mapping's `features:`, `DealHistory.attributes`)
are **static attributes**: the field history tracks the canonical fields only, so each deal's
custom value is its latest one (a flat export's final value, a push's newest), read as known
since the deal's creation. That is how a flat export's `sector` or `account_*` are read too, and
the same export-state leak check guards them: a custom column whose blankness or values tell open
from closed deals is left out, with the reason in `leak_notes`. A text column with a different
value on nearly every deal (`attributes.IDENTIFIER_SHARE`) is an identifier or free text, not a
property a model can learn from, and is left out as well.

Whatever needs "as of t" asks this object: snapshots and KPIs (`as_of`), training rows and
time-to-close rows (`rows_at`), the models fitted as of a date (`known_before`), forecasts,
backtests and the at-risk list.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sqlalchemy import Engine

from forecast import closes
from forecast.data import store
from forecast.data.attributes import (
    identifier_notes,
    identifiers,
    rate_base_counts,
    unrated_bases,
)
from forecast.data.dataset_options import DatasetOptions
from forecast.data.stages import LOST, OPEN, WON, StageSet
from forecast.data.store_reads import IdRange
from forecast.data.tables import TRACKED_FIELDS
from forecast.errors import InvalidInput, UnclearDate
from forecast.export_leaks import find_export_leaks
from forecast.history_inputs import (  # noqa: F401 - named here too: `history.observations_of`
    check_columns,
    created_by_first_entry,
    observations_of,
)
from forecast.stage_stays import (
    STAGE_LOG_COLUMNS,
    StageEvents,
    completed_stays,
    first_seen,
    last_before,
    open_stage_before_close,
    stage_at,
    stage_events,
)

#: The smallest step the store keeps: `t + JUST_AFTER` is the first instant that knows about t.
JUST_AFTER = pd.Timedelta(microseconds=1)
#: Known only once a deal has closed: blank while it is open.
KNOWN_AT_CLOSE: tuple[str, ...] = ("csat",)
#: What a deal is worth in money (its amount, else its list price), kept beside model rows
#: where the leak check blanks `amount` or `list_price` as a model input: a forecast still
#: counts the deal at its value (`features.deal_amounts`), which models never read.
DEAL_VALUE = "_deal_value"
_VALUE_FIELDS = ("amount", "list_price")
#: How many `known_before` views a history keeps.
VIEWS_KEPT = 4
#: How many `as_of` states a history keeps.
STATES_KEPT = 2
#: Dates given as text start with a four-digit year (`as_timestamp`).
_LEADS_WITH_YEAR = re.compile(r"\s*[+-]?\d{4}(?!\d)")


def as_timestamp(value: object) -> pd.Timestamp:
    """A naive UTC timestamp (the store's convention) from a date, text or aware timestamp.

    Text must lead with its year (ISO 8601: 2024-02-01, 2024-02-01T09:30:00Z): 01/02/2024 is
    the 1st of February to some users and the 2nd of January to others, and a guess would be
    silently wrong for half of them."""
    if isinstance(value, str) and not _LEADS_WITH_YEAR.match(value):
        raise UnclearDate(
            f"{value!r} is not a date in YYYY-MM-DD form (a day/month order like 01/02/2024 "
            "is ambiguous)"
        )
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise InvalidInput(f"{value!r} is not a date (use YYYY-MM-DD)")
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


@dataclass(frozen=True, eq=False)
class DealHistory:
    """A dataset's deals (latest state), stage history and field history, immutable.

    `deals`: one row per deal with at least id, created_at, stage, status, closed_at.
    `stage_log`: opportunity_id, stage, entered_at, oldest first.
    `field_log`: opportunity_id, observed_at and the tracked fields, one row per observation.
    `seen_only`: per row of `stage_log`, the deal was not recorded entering that stay from its
    stay before (`forecast.data.stage_log`; read with `log_seen_only`). Only the funnel reads
    it: kept apart, every other view of the log and its fingerprint stay as they were.
    """

    deals: pd.DataFrame
    stage_log: pd.DataFrame
    field_log: pd.DataFrame
    stages: StageSet
    options: DatasetOptions = field(default_factory=DatasetOptions)
    name: str | None = None
    left_out: frozenset[str] = frozenset()
    leak_notes: tuple[str, ...] = ()
    seen_only: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    # The last few `known_before` views: a forecast's fit, timing rows and drift ask for one date.
    _views: dict[pd.Timestamp, DealHistory] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The last few `as_of` states: a date's pipeline, its shown deals and its `known_before`
    # view all start from the same state, and each costs a pass over every deal.
    _states: dict[tuple[pd.Timestamp, bool], pd.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        deals: pd.DataFrame,
        stage_log: pd.DataFrame,
        stages: StageSet,
        *,
        field_log: pd.DataFrame | None = None,
        options: DatasetOptions | dict | None = None,
        name: str | None = None,
        check_leaks: bool = True,
    ) -> DealHistory:
        """A history from frames. Without a field log, each deal's current fields count as one
        observation at its `updated_at` (an export seen once). The export-state leak check runs
        unless `check_leaks=False`."""
        check_columns(deals, stage_log)
        deals = deals.drop(columns=["dataset"], errors="ignore")
        deals = deals.drop_duplicates("id", keep="last").reset_index(drop=True)
        deals = created_by_first_entry(deals, stage_log)
        if field_log is None:
            field_log = observations_of(deals)
        opts = options if isinstance(options, DatasetOptions) else DatasetOptions.from_dict(options)
        log = _sorted(stage_log, "entered_at")
        seen_only = (
            log["seen_only"].eq(True).to_numpy()
            if "seen_only" in log
            else np.zeros(len(log), dtype=bool)
        )
        log = log[list(STAGE_LOG_COLUMNS)]
        fields = field_log.drop(columns=["dataset"], errors="ignore")
        known = pd.Index(deals["id"]).get_indexer(fields["opportunity_id"]) >= 0
        fields = _sorted(fields[known], "observed_at")
        history = cls(deals, log, fields, stages, opts, name, seen_only=seen_only)
        if check_leaks:  # a part of a history takes the whole one's findings (`left_out`)
            findings = find_export_leaks(history)
            history = history.leaving_out([f.field for f in findings], [f.note for f in findings])
            kept = [a for a in history.attributes if a not in history.left_out]
            named = identifiers(deals, kept)
            history = history.leaving_out(named, identifier_notes(named))
            absent = unrated_bases(rate_base_counts(deals)) if len(deals) else {}
            history = history.leaving_out(absent, absent.values())
        return history

    def log_seen_only(self) -> np.ndarray:
        """`seen_only` per row of `stage_log`; none where not known (a log given without it, or
        a part of the log put in its place: a slice's rows), as before sightings were told."""
        if len(self.seen_only) != len(self.stage_log):
            return np.zeros(len(self.stage_log), dtype=bool)
        return self.seen_only

    @property
    def attributes(self) -> tuple[str, ...]:
        """The dataset's own columns kept as model inputs that the deals carry (static: see the
        module docstring)."""
        return tuple(f for f in self.options.features if f in self.deals.columns)

    def leaving_out(self, fields: Iterable[str], notes: Iterable[str] = ()) -> DealHistory:
        """The same history whose model inputs leave `fields` out (blank for every deal)."""
        return replace(
            self,
            left_out=frozenset(self.left_out | set(fields)),
            leak_notes=(*self.leak_notes, *notes),
        )

    def keeping_all(self) -> DealHistory:
        """The same history with no field left out (what `--include-leaks` asks for)."""
        return replace(self, left_out=frozenset(), leak_notes=())

    # -- positions and the two lookups -------------------------------------------------------------

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.deals["id"])

    def positions(self, ids: Iterable[object]) -> np.ndarray:
        """Row positions in `deals` of the ids given (-1 for an unknown id)."""
        return self._index.get_indexer(
            pd.Index(list(ids) if not isinstance(ids, pd.Series) else ids)
        )

    @cached_property
    def _stage_events(self) -> StageEvents:
        return stage_events(self.stage_log, self._index)

    def stage_at(self, pos: np.ndarray, when: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (deal position, time): the stage known then and when it was entered. A deal with
        no entry before the time is in the first open stage since creation; a closed deal whose
        history does not end in its outcome, in it from the file's close on (`final_deals`)."""
        return closes.closed_by_file(self._logged_stage(pos, when), self._closes, pos, when)

    def _logged_stage(self, pos: np.ndarray, when: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        created = self.deals["created_at"].to_numpy("datetime64[us]")
        return stage_at(self._stage_events, pos, when, self.stages.open_stages[0], created)

    def completed_stays(self) -> pd.DataFrame:
        """Every stay in an open stage that had ended by the last entry this history holds
        (`stage_stays.completed_stays`: a stay of no time is none): opportunity_id, stage,
        entered_at, ended_at, days. Of `known_before(t)`: the stays that ended before t."""
        return completed_stays(self.stage_log, self.stages.open_stages)

    def first_seen_stages(self) -> np.ndarray:
        """Per deal (in `deals` order), its stage as first seen: just after its creation (the
        first open stage where no entry is dated by then); None where it has no creation date."""
        created = self.deals["created_at"].to_numpy("datetime64[us]")
        return first_seen(self._stage_events, created, self.stages.open_stages[0])

    def open_stage_before_close(self) -> np.ndarray:
        """Per deal (in `deals` order): its stage history records an open stage entered before
        its close as `final_deals` has it (False without a close date)."""
        return open_stage_before_close(self._stage_events, self._closes.at, self.stages.open_stages)

    @cached_property
    def _field_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(deal position, observed_at, first observation of each deal) of the field log."""
        log = self.field_log
        pos = self._index.get_indexer(log["opportunity_id"])  # every id is known (from_frames)
        when = log["observed_at"].to_numpy("datetime64[us]")
        first = np.full(len(self.deals), -1, dtype=np.int64)
        # The log is sorted by (id, time): the first row of each deal is its first observation.
        rev = np.arange(len(pos))[::-1]
        first[pos[rev]] = rev
        return pos, when, first

    def first_observed(self) -> np.ndarray:
        """Per deal (in `deals` order), when its fields were first observed (NaT: never)."""
        _, when, first = self._field_events
        out = np.full(len(self.deals), np.datetime64("NaT"), dtype="datetime64[us]")
        seen = first >= 0
        out[seen] = when[first[seen]]
        return out

    @cached_property
    def _single_observation(self) -> bool:
        """True when the log holds one observation per deal, in deal order (a flat export)."""
        pos = self._field_events[0]
        return len(pos) == len(self.deals) and bool(
            (np.bincount(pos, minlength=len(self.deals)) == 1).all()
        )

    def fields_at(
        self, pos: np.ndarray, when: np.ndarray, columns: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Per (deal position, time): each tracked field at its value known then (a numpy array,
        or the column's own array type for text).

        The last observation strictly before the time; before the first one, the first one.
        """
        log = self.field_log
        cols = [c for c in (columns or TRACKED_FIELDS) if c in log.columns]
        e_pos, e_time, first = self._field_events
        if self._single_observation:
            row = first[pos]
        else:
            row = last_before(e_pos, e_time, pos, when)
            row = np.where(row >= 0, row, first[pos])
        out = {}
        for col in cols:
            column = log[col]
            # Text is taken as it is stored: turned into Python strings and back, it would cost
            # more than the rest of an as-of read.
            text = isinstance(column.dtype, pd.StringDtype)
            values = column.array if text else column.to_numpy()
            got = values.take(np.maximum(row, 0))
            if (row < 0).any():
                got = pd.Series(got).where(row >= 0).to_numpy()
            out[col] = got
        return out

    # -- as of a date ------------------------------------------------------------------------------

    @property
    def end(self) -> pd.Timestamp:
        """The newest date in the data (creation, close or stage entry): where observation stops.

        Only closed deals' closes count, as `final_deals` has them: an open deal's close date is
        an expectation (CRMs put one on every open deal), and must not extend the data into the
        future; nor may a closed deal's date the file left at the expected close."""
        final = self._final
        closed = final["status"].isin([WON, LOST])
        dates = [final["created_at"].max(), final.loc[closed, "closed_at"].max()]
        if len(self.stage_log):
            dates.append(self.stage_log["entered_at"].max())
        dates = [d for d in dates if pd.notna(d)]
        if not dates:
            raise InvalidInput("the data holds no dates: nothing to learn from")
        return as_timestamp(max(dates))

    def now(self, today: object = None) -> pd.Timestamp:
        """ "Now" for this data: today, or the day after it was exported when that is earlier:
        its last recorded date, or its newest `updated_at` where later (the day an export was
        taken, as the backtest's export date: days after the last close already known to hold
        none are not forecast again). Figures judged as of this date see every record it holds."""
        today_ts = as_timestamp(today if today is not None else pd.Timestamp.now(tz="UTC"))
        try:
            end = self.end
        except InvalidInput:
            return today_ts.normalize()
        updated = self.deals["updated_at"].max() if "updated_at" in self.deals else pd.NaT
        if pd.notna(updated):
            end = max(end, as_timestamp(updated))
        return min(today_ts, end.normalize() + pd.Timedelta(days=1))

    def rows_at(self, points: pd.DataFrame, *, for_models: bool = True) -> pd.DataFrame:
        """One row per (id, as_of) point: the deal as known at that instant.

        id, as_of, created_at, stage, stage_entered_at, status, closed_at (only when closed before
        as_of), every tracked field at its value then. Deals unknown or not yet created are
        dropped. While a deal is open its fields known only at close are blank, and where amounts
        are only learnt at close its amount is the list price (`amount_estimated`). With
        `for_models`, fields the leak check left out are blank.
        """
        pos = self.positions(points["id"])
        when = points["as_of"].to_numpy("datetime64[us]")
        created = self.deals["created_at"].to_numpy("datetime64[us]")
        keep = pos >= 0
        keep[keep] = created[pos[keep]] < when[keep]
        return self._rows_at(pos[keep], when[keep], for_models)

    def _rows_at(self, pos: np.ndarray, when: np.ndarray, for_models: bool) -> pd.DataFrame:
        """`rows_at` for deal positions each created before its time."""
        created = self.deals["created_at"].to_numpy("datetime64[us]")
        stage, entered = self.stage_at(pos, when)
        status = np.full(len(pos), OPEN, dtype=object)
        status[stage == self.stages.won] = WON
        status[stage == self.stages.lost] = LOST
        is_open = status == OPEN
        # Closed at its entry into the outcome it is in then (`stage_at`): a deal reopened after
        # a loss and won later was closed at its loss during its lost spell.
        closed_at = np.where(is_open, np.datetime64("NaT", "us"), entered)
        cols: dict[str, Any] = {
            "id": self.deals["id"].to_numpy()[pos],
            "as_of": when,
            "created_at": created[pos],
            "stage": stage,
            "stage_entered_at": entered,
            "status": status,
            "is_open": is_open,
            "closed_at": closed_at,
        }
        cols.update(self._fields_as_known(pos, when, is_open, for_models))
        for col in self.attributes:  # static: the deal's latest value, at every date
            cols[col] = self.deals[col].to_numpy()[pos]
            if for_models and col in self.left_out:
                cols[col] = np.full(len(pos), None, dtype=object)
        frame = pd.DataFrame(cols)
        return _typed_like(frame, self.field_log)

    def _fields_as_known(
        self,
        pos: np.ndarray,
        when: np.ndarray,
        is_open: np.ndarray,
        for_models: bool,
        columns: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """The tracked fields of `rows_at`: fields known only at close blank while open, an
        open deal's amount its list price where amounts are learnt at close, and with
        `for_models` the fields the leak check left out blank."""
        fields = self.fields_at(pos, when, columns)
        for col in KNOWN_AT_CLOSE:
            if col in fields:
                fields[col] = pd.Series(fields[col]).where(~is_open).to_numpy()
        if not self.options.amount_known_before_close and "list_price" in fields:
            amount = np.asarray(fields.get("amount", np.full(len(pos), np.nan)), dtype=float)
            fields["amount"] = np.where(
                is_open, np.asarray(fields["list_price"], dtype=float), amount
            )
            if "amount_estimated" in fields:
                estimated = np.asarray(fields["amount_estimated"], dtype=object)
                fields["amount_estimated"] = np.where(is_open, True, estimated)
        if for_models:
            blanked = [col for col in self.left_out if col in fields]
            if any(col in _VALUE_FIELDS for col in blanked):
                fields[DEAL_VALUE] = _value(fields, len(pos))
            for col in blanked:
                fields[col] = np.full(len(pos), None, dtype=object)
        return fields

    def amounts_at(self, pos: np.ndarray, when: np.ndarray) -> pd.DataFrame:
        """`amount` and `list_price` of each (deal position, time) as `rows_at` gives them to
        models, reading those two fields alone (a whole row costs many times more)."""
        stage, _ = self.stage_at(pos, when)
        is_open = (stage != self.stages.won) & (stage != self.stages.lost)
        fields = self._fields_as_known(pos, when, is_open, True, ["amount", "list_price"])
        return pd.DataFrame(fields, index=pd.RangeIndex(len(pos)))

    def as_of(self, t: object, *, for_models: bool = False) -> pd.DataFrame:
        """Every deal created before t, as it was known at t (see the module's as-of rule), with
        `age_days` and `days_in_stage`. Fields keep their values unless `for_models`."""
        ts = as_timestamp(t)
        key = (ts, for_models)
        frame = self._states.get(key)
        if frame is None:
            frame = self._state_at(ts, for_models)
            while len(self._states) >= STATES_KEPT:
                self._states.pop(next(iter(self._states)))
            self._states[key] = frame
        # A shallow copy: with copy-on-write, a caller's edits never reach the kept state.
        return frame.copy(deep=False)

    def _state_at(self, ts: pd.Timestamp, for_models: bool) -> pd.DataFrame:
        pos = np.flatnonzero(self._created_before(ts))
        frame = self._rows_at(
            pos, np.full(len(pos), ts.to_datetime64(), "datetime64[us]"), for_models
        )
        day = pd.Timedelta(days=1)
        frame["age_days"] = (ts - frame["created_at"]) / day
        frame["days_in_stage"] = (ts - frame["stage_entered_at"]) / day
        if "created_estimated" in self.deals:
            frame.insert(3, "created_estimated", self.deals["created_estimated"].to_numpy()[pos])
        return frame

    def _created_before(self, ts: pd.Timestamp) -> np.ndarray:
        """Per deal: created before ts (the deals `as_of(ts)` holds)."""
        created = self.deals["created_at"]
        return (created.notna() & (created < ts)).to_numpy()

    def open_at(self, t: object, *, for_models: bool = False) -> pd.DataFrame:
        """Only the deals open at t."""
        frame = self.as_of(t, for_models=for_models)
        return frame[frame["is_open"]].reset_index(drop=True)

    def known_before(self, t: object) -> DealHistory:
        """The history as a model fitted at t may see it: deals created before t in their state
        at t (an outcome reached later is open, without close date), stage entries and field
        observations before t (a deal's first observation stays, as the stand-in for its past)."""
        ts = as_timestamp(t)
        view = self._views.get(ts)
        if view is None:
            view = self._cut_at(ts)
            while len(self._views) >= VIEWS_KEPT:
                self._views.pop(next(iter(self._views)))
            self._views[ts] = view
        return view

    def _cut_at(self, ts: pd.Timestamp) -> DealHistory:
        state = self.as_of(ts)
        deals = state.drop(
            columns=["as_of", "is_open", "stage_entered_at", "age_days", "days_in_stage"]
        )
        before = (self.stage_log["entered_at"] < ts).to_numpy()
        log = self.stage_log[before]
        e_pos, e_time, first = self._field_events
        keep = e_time < ts.to_datetime64()
        keep[first[first >= 0]] = True
        member = self._created_before(ts)  # the deals of `state`
        keep &= (e_pos >= 0) & member[np.maximum(e_pos, 0)]
        return replace(
            self,
            deals=deals.reset_index(drop=True),
            stage_log=log.reset_index(drop=True),
            field_log=self.field_log[keep].reset_index(drop=True),
            seen_only=self.log_seen_only()[before],
        )

    def model_deals(self) -> pd.DataFrame:
        """The deals' latest state with left-out fields blank: what per-deal model inputs read."""
        blanked = [c for c in self.left_out if c in self.deals and c != "stage"]
        return self.deals.assign(**dict.fromkeys(blanked)) if blanked else self.deals

    @property
    def final_deals(self) -> pd.DataFrame:
        """`deals`, a closed deal's `closed_at` as its stage history records it (`closes`): what
        every reader of outcomes and their dates takes, so that they agree with `as_of`."""
        return self._final.copy(deep=False)  # copy-on-write: a caller's edit stays its own

    @cached_property
    def _final(self) -> pd.DataFrame:
        return self.deals.reset_index(drop=True).assign(closed_at=self._closes.at)

    @cached_property
    def _closes(self) -> closes.FinalCloses:  # once per history: 1.6 s at a million deals
        n = len(self.deals) if len(self.stage_log) else 0  # no stage history: the file's closes
        ever = self._logged_stage(np.arange(n), np.full(n, closes.EVER)) if n else None
        return closes.final_closes(self.deals, self.stages, ever)

    def closed_outcomes(self) -> pd.DataFrame:
        """Deals with an outcome and a close date, closed as `final_deals` has it: id, owner,
        account, closed_at, won (1/0)."""
        return self._outcomes.copy(deep=False)  # copy-on-write: a caller's edit stays its own

    @cached_property
    def _outcomes(self) -> pd.DataFrame:  # read by every batch of feature rows
        return closes.outcomes_of(self.model_deals().assign(closed_at=self._closes.at))


def _sorted(frame: pd.DataFrame, time_col: str) -> pd.DataFrame:
    """Rows grouped by deal (in first-seen order), oldest first, ties in their given order;
    sorted on integer codes, far faster than on text ids."""
    codes = pd.factorize(frame["opportunity_id"])[0]
    when = frame[time_col].to_numpy("datetime64[us]").view("int64")
    order = np.lexsort((when, codes))
    return frame.iloc[order].reset_index(drop=True)


def _typed_like(frame: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """Field columns with the field log's dtypes (blank columns stay text or float, not object)."""
    for col in frame.columns:
        if col in log.columns and col not in ("opportunity_id", "observed_at"):
            kind = log[col].dtype
            if col == "amount_estimated":
                frame[col] = frame[col].fillna(False).astype(bool)
            elif is_numeric_dtype(kind):
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
            elif str(kind).startswith("datetime64"):
                frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
            else:
                values = frame[col]
                frame[col] = values.astype("str").where(values.notna())
    for col in ("as_of", "created_at", "stage_entered_at", "closed_at"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    frame["stage"] = frame["stage"].astype("str")
    frame["status"] = frame["status"].astype("str")
    frame["is_open"] = frame["is_open"].astype(bool)
    return frame


def load_deal_history(
    engine: Engine,
    dataset: str,
    *,
    check_leaks: bool = True,
    ids: IdRange | None = None,
    text: Collection[str] = (),
) -> DealHistory:
    """The stored dataset's deals, stage history and field history as one `DealHistory`: the
    one way the library reads a stored opportunities dataset (or, with `ids`, the deals of an
    id range: a slice read on a worker, its features in `text` typed as text as in the whole
    dataset)."""
    with engine.connect() as conn:
        stages = store.dataset_stages(conn, dataset)
        options = store.get_dataset(conn, dataset)["options"] or {}
    return DealHistory.from_frames(
        store.load_opportunities(engine, dataset, ids, text=text),
        store.load_history(engine, dataset, ids),
        stages,
        field_log=store.load_field_history(engine, dataset, ids),
        options=DatasetOptions.from_dict(options),
        name=dataset,
        check_leaks=check_leaks,
    )


def _value(fields: dict[str, Any], n: int) -> np.ndarray:
    """Each row's amount, else its list price (NaN where neither is known): `DEAL_VALUE`."""
    value = pd.to_numeric(pd.Series(fields.get("amount", np.full(n, np.nan))), errors="coerce")
    if "list_price" in fields:
        price = pd.to_numeric(pd.Series(fields["list_price"]), errors="coerce")
        value = value.fillna(price)
    return value.to_numpy(dtype=float)
