"""CRM sync: a CRM pushes the current state of its deals, one or a batch, and the store follows.

Each push is the deal's whole current state as of `updated_at` (when the CRM last changed it);
a field left out is stored as unknown, except `created_at`, which a stored deal keeps; its values
are fixed by the import's `value_fixes`, kept with the dataset, as an export's are. The write
is `forecast.data.importing.import_frame` with the canonical columns and the dataset's own
stages, so a push obeys the same rules as an import, and every push is kept as an observation:

- its stage joins the dataset's stage observations (a sighting at `updated_at`; a won or lost
  deal's outcome at `closed_at`, default `updated_at`) and its fields the field history; both
  histories are derived from the whole set, so pushes arriving in any order, or twice, leave
  the same history (`forecast.data.stage_log`);
- the deal's stored state is the newest push (a later `updated_at`), so a late push never rolls
  the deal back; two pushes of one `updated_at` are a tie, settled by one rule whatever their
  order (`forecast.data.tie_rule`: the later stage, and the larger content for the other
  fields), which the field history follows too, so the state agrees with the histories. A push
  whose values lost (in whole or part) is answered `tie`, naming the fields whose stored values
  were kept;
- a push's dates are checked against the stored deal, as those of one row are against each
  other (with the clock-skew tolerance the import allows): a creation after the deal's stored
  close or its first stored observation, or a change or a close before its stored creation,
  is refused naming the field and the stored date, and nothing is written;
- a close date is a won or lost deal's: an open deal sent with one is refused; a won or lost
  deal pushed again in the same outcome without one keeps its stored close (else it closed
  when the CRM recorded the outcome, `updated_at`); the stored close is when the stage history
  has the deal enter its outcome, the close the KPIs read, whatever the pushes' order;
- pushes of one dataset are written one after another (each call locks the dataset first and
  reads inside that lock the stages and features it checks against and what it reports), so
  concurrent pushes lose nothing, two identical pushes report one insert, and a push obeys
  the stages of an import that committed just before it; a call that stores nothing new (no
  state, stage or field observation: a push sent again) leaves the dataset's version as it was.

A partial push (`partial`, `PATCH`) gives the changed fields alone: each is merged onto the
stored deal first, and then pushed as a whole one (`forecast.data.partial_push`).

A push may carry `attributes`: the dataset's own columns kept as model inputs (its mapping's
`features:`), by name. They are stored with the deal's state (`opportunities.attributes`); a name
the dataset does not declare is refused, naming it. They have no field history: a model reads a
deal's latest value at every date, as it reads a flat export's (see `forecast.history`).

Bad input rejects the whole call, naming each field and value (`UnknownStage`, `InvalidInput`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from forecast.data import csat_scale, store
from forecast.data.dataset_options import DatasetOptions
from forecast.data.importing import canonical_opportunities, import_frame
from forecast.data.mapping import AmountRules, load_mapping
from forecast.data.mapping import Mapping as ImportMapping
from forecast.data.partial_push import merged_deals
from forecast.data.push_closes import close_at_outcome, outcome_sightings
from forecast.data.stages import OPEN, StageSet
from forecast.data.tables import TRACKED_FIELDS
from forecast.errors import ImportRejected, InvalidInput, UnknownStage

#: The fields a push may carry (the canonical opportunity fields a CRM knows).
FIELDS = (
    "id",
    "stage",
    "updated_at",
    "created_at",
    "closed_at",
    "expected_close_at",
    "amount",
    "list_price",
    "currency",
    "owner",
    "team",
    "region",
    "product",
    "product_series",
    "account",
    "sector",
    "account_country",
    "account_employees",
    "account_revenue",
    "rep_probability",
    "forecast_category",
    "csat",
)
DATE_FIELDS = ("updated_at", "created_at", "closed_at", "expected_close_at")
#: A push's own columns by name: only the dataset's declared features (`features:`).
ATTRIBUTES = "attributes"
#: How far ahead of this server's clock an `updated_at` may be (clock skew between systems).
#: Further would freeze the deal: every real update after it would look older.
FUTURE_TOLERANCE = timedelta(days=1)

Outcome = Literal["inserted", "changed", "unchanged", "stale", "tie"]
OUTCOMES: tuple[Outcome, ...] = ("inserted", "changed", "unchanged", "stale", "tie")


@dataclass(frozen=True)
class DealSynced:
    """What one push did to one deal."""

    id: str
    # stale: the store holds a newer state, which was kept; tie: it held other values of the
    # same updated_at, and the tie rule kept some or all of them (`kept_stored`)
    outcome: Outcome
    stage: str  # the stored stage after the call
    status: str  # open | won | lost
    previous_stage: str | None
    stage_moved: bool
    history_added: int
    updated_at: datetime  # the stored deal's updated_at after the call
    kept_stored: list[str] = field(default_factory=list)  # a tie's fields kept as stored

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SyncReport:
    dataset: str
    deals: list[DealSynced] = field(default_factory=list)
    history_added: int = 0
    changed: bool = False  # something stored changed: a new version, to track again

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for deal in self.deals:
            out[deal.outcome] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            **self.counts,
            "history_added": self.history_added,
            "deals": [d.to_dict() for d in self.deals],
        }


def sync_opportunities(
    engine: Engine,
    deals: Sequence[Mapping[str, Any]],
    *,
    dataset: str | None = None,
    max_batch: int | None = None,
    where: str = "opportunities[{i}]",
    now: datetime | None = None,
    partial: bool = False,
) -> SyncReport:
    """Upsert deals pushed by a CRM into `dataset` (default: the only opportunities dataset).

    `where` names a deal in error messages (`{i}` is its position; "" for a single deal).
    `partial`: each deal gives only changed fields, merged onto the stored deal
    (`forecast.data.partial_push`).
    Returns, per deal, whether it was inserted, changed, unchanged or stale, and whether its
    stage moved. All or nothing: one bad deal rejects the call.
    """
    if not deals:
        raise InvalidInput("no opportunities given")
    if max_batch is not None and len(deals) > max_batch:
        raise InvalidInput(
            f"batch of {len(deals):,} opportunities: the limit is {max_batch:,} per call; split it"
        )
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
    ids = [_id(d, _at(where, i)) for i, d in enumerate(deals)]
    _no_duplicates(ids, where)
    out = SyncReport(name)
    with store.transaction(engine) as conn:
        version = store.lock_dataset(conn, name)
        # What a push is checked against is read inside the lock: an import that changed the
        # dataset's stages or features just before is what this push obeys.
        stages = store.dataset_stages(conn, name)
        info = store.get_dataset(conn, name)
        features = store.dataset_features(info.get("options"))
        scale = DatasetOptions.from_dict(info.get("options")).csat_scale  # its export's CSAT's
        for i, d in enumerate(deals):
            _check_attributes(d, _at(where, i), name, features)
            csat_scale.hold_to_scale(d.get("csat"), scale, _at(where, i))  # as sent (a PATCH too)
        before = _state(conn, name, ids)
        mapping = _mapping(name, stages, info, features)
        stale: set[int] = set()
        if partial:
            deals, stale = merged_deals(
                deals, [before.get(i) for i in ids], name, features, mapping.rep_probability_scale
            )
        written = [i for i in range(len(deals)) if i not in stale]
        rows = []
        for i, d in enumerate(deals):
            row = _row(d, _at(where, i), stages, before.get(ids[i]), now or store.utcnow())
            given = d.get("created_at") is not None
            _check_against_stored(row, _at(where, i), before.get(ids[i]), mapping.clock_skew, given)
            rows.append(row)
        # A stale partial push is checked, not written (`partial_push`).
        frame = pd.DataFrame([rows[i] for i in written], columns=list(FIELDS))
        for feature in features:
            frame[feature] = [(deals[i].get(ATTRIBUTES) or {}).get(feature) for i in written]
        notes: list[str] = []
        try:
            if written:
                notes = import_frame(
                    engine, frame, mapping, dataset=name, on_error="reject", conn=conn
                ).notes
                store.append_history(conn, outcome_sightings(frame, name, stages))
        except ImportRejected as exc:
            raise _rejected(exc, written, where) from None
        after = _state(conn, name, ids)
        close_at_outcome(conn, name, after)
        out.changed = str(store.get_dataset(conn, name)["updated_at"]) != version
        tied = [i for i in written if _same_time(before.get(ids[i]), rows[i])]
        # Which of a tie's values are kept as stored needs the pushed rows as stored (a second
        # reading): only where the import says a tie kept stored values, not on every retry.
        lost = any(note.endswith(_TIES_KEPT_TAIL) for note in notes)
        at_rows = [written.index(i) for i in tied]
        pushed = _canonical(frame.iloc[at_rows], mapping) if tied and lost else {}
    for i, deal_id in enumerate(ids):
        synced = _outcome(
            deal_id,
            before.get(deal_id),
            after[deal_id],
            rows[i]["updated_at"],
            pushed.get(deal_id) if i in tied else None,
            tied=i in tied,
            compare_created=deals[i].get("created_at") is not None,
        )
        out.deals.append(synced)
        out.history_added += synced.history_added
    return out


# --- one deal -----------------------------------------------------------------------------------


def _at(where: str, i: int) -> str:
    prefix = where.format(i=i)
    return f"{prefix}." if prefix else ""


def _id(deal: Mapping[str, Any], at: str) -> str:
    raw = deal.get("id")
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InvalidInput(f"{at}id: every opportunity needs its CRM id")
    if len(text) > 100:
        raise InvalidInput(f"{at}id: {text[:20]!r}… is longer than 100 characters")
    return text


def _no_duplicates(ids: list[str], where: str) -> None:
    first: dict[str, int] = {}
    for i, deal_id in enumerate(ids):
        if deal_id in first:
            raise InvalidInput(
                f"{_at(where, i)}id: {deal_id!r} is sent twice (also at "
                f"{where.format(i=first[deal_id]) or 'the start'}); send each "
                "deal once per call, with its newest state"
            )
        first[deal_id] = i


def _row(
    deal: Mapping[str, Any], at: str, stages: StageSet, stored: dict | None, now: datetime
) -> dict[str, Any]:
    unknown = sorted(set(deal) - {*FIELDS, ATTRIBUTES})
    if unknown:
        raise InvalidInput(
            f"{at}{unknown[0]}: not a field of an opportunity; the fields are {', '.join(FIELDS)}"
        )
    row: dict[str, Any] = {f: deal.get(f) for f in FIELDS}
    row["id"] = str(row["id"]).strip()
    stage = row["stage"]
    if stage is None or not str(stage).strip():
        raise InvalidInput(f"{at}stage: every opportunity needs its current stage")
    try:
        row["stage"] = stages.canonical(str(stage))
    except UnknownStage:
        raise UnknownStage(
            f"{at}stage: unknown stage {stage!r}; the dataset's stages are "
            f"{', '.join(stages.all_stages)}"
        ) from None
    for f in DATE_FIELDS:
        row[f] = _date_text(row[f])
    updated = row["updated_at"]
    if updated is None:
        raise InvalidInput(f"{at}updated_at: required: when the CRM last changed the deal")
    when = _timestamp(updated)
    if when is None:
        raise InvalidInput(
            f"{at}updated_at: {deal.get('updated_at')!r} is not a usable "
            "date-time (use ISO 8601 within years 1678–2261, e.g. "
            "2017-07-03T14:05:00Z)"
        )
    if when > pd.Timestamp(now) + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"{at}updated_at: {updated} is in the future (this server's clock "
            f"says {now:%Y-%m-%d %H:%M} UTC); it would block every later update"
        )
    if row["created_at"] is None:
        if stored is None:
            raise InvalidInput(
                f"{at}created_at: required for a deal the store does not hold yet ({row['id']!r})"
            )
        if not stored["created_estimated"]:  # an estimated date is left to the import
            row["created_at"] = _date_text(stored["created_at"])
    status = stages.status(row["stage"])
    if status == OPEN and row["closed_at"] is not None:
        raise InvalidInput(
            f"{at}closed_at: {row['closed_at']} given for an open deal (stage "
            f"{row['stage']!r}): a close date is a won or lost deal's; send an open deal's "
            "planned close as expected_close_at"
        )
    if status != OPEN and row["closed_at"] is None:
        row["closed_at"] = _kept_close(stored, status, when) or updated
    return row


def _kept_close(stored: dict | None, status: str, updated: pd.Timestamp) -> str | None:
    """The stored close of a deal pushed again in the outcome it is stored in without a close
    date: an edit of a won deal is not when it was won. None where it closes now (it was open,
    or is stored with another outcome): it closed when the CRM recorded the outcome."""
    if stored is None or stored["status"] != status or stored["closed_at"] is None:
        return None
    closed = pd.Timestamp(stored["closed_at"])
    return closed.isoformat() if closed <= updated else None


def _check_against_stored(
    row: dict[str, Any], at: str, stored: dict | None, skew: pd.Timedelta, created_given: bool
) -> None:
    """A push's dates in order with the stored deal's, as one row's are with each other (beyond
    the mapping's clock-skew tolerance): its creation not after the deal's stored close or its
    first stored observation, its change, close and expected close not before its stored
    creation. Else the record would hold a close, a stage or a due date before the deal existed."""
    if stored is None:
        return
    created = _timestamp(row["created_at"])
    if created is not None and created_given:  # its own dates were checked against it
        for what, when in _stored_evidence(stored):
            if created > when + skew:
                raise InvalidInput(
                    f"{at}created_at: {created.isoformat()} is after {what} "
                    f"({when.isoformat()}): a deal is created before it is closed or seen; "
                    "nothing was written"
                )
        return
    if stored["created_at"] is None or stored["created_estimated"]:
        return
    stored_created = pd.Timestamp(stored["created_at"])
    for name in ("updated_at", "closed_at", "expected_close_at"):
        when = _timestamp(row[name])
        if when is not None and when + skew < stored_created:
            raise InvalidInput(
                f"{at}{name}: {when.isoformat()} is before this deal's stored created_at "
                f"({stored_created.isoformat()}): send its created_at with it if the CRM moved "
                "the creation; nothing was written"
            )


def _stored_evidence(stored: dict) -> list[tuple[str, pd.Timestamp]]:
    """The stored dates a deal existed by: its close, its first stage and field observations."""
    out = []
    if stored["closed_at"] is not None:
        out.append(("this deal's stored closed_at", pd.Timestamp(stored["closed_at"])))
    if stored.get("__first_seen") is not None:
        out.append(("this deal's first stored observation", stored["__first_seen"]))
    return sorted(out, key=lambda item: item[1])[:1]


def _check_attributes(
    deal: Mapping[str, Any], at: str, dataset: str, features: Sequence[str]
) -> None:
    """A push's `attributes` are a dataset's declared features, each given a plain value."""
    given = deal.get(ATTRIBUTES)
    if given is None:
        return
    if not isinstance(given, Mapping):
        raise InvalidInput(f"{at}{ATTRIBUTES}: give {{name: value}}, got {given!r}")
    unknown = sorted(str(k) for k in given if k not in features)
    if unknown:
        declared = ", ".join(repr(f) for f in features) or "none"
        raise InvalidInput(
            f"{at}{ATTRIBUTES}: {unknown} not features of dataset {dataset!r} (it keeps: "
            f"{declared}; declare others in its mapping's features: and import it again)"
        )
    for key, value in given.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"{at}{ATTRIBUTES}.{key}: a text or a number, got {value!r}")


def _date_text(value: object) -> object:
    """ISO text in naive UTC for the import; text that is no date is passed on as it is, for
    the import to report."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    ts = _timestamp(value)
    return str(value) if ts is None else ts.isoformat()


def _timestamp(value: object) -> pd.Timestamp | None:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if pd.isna(ts):
        return None
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def _mapping(
    dataset: str, stages: StageSet, info: dict, features: Sequence[str] = ()
) -> ImportMapping:
    """The canonical columns with the dataset's own settings (stages, leak columns, options), so
    a push leaves them as the import that made it did, and reads values as it read them."""
    options = DatasetOptions.from_dict(info.get("options"))  # as the history reads them
    rules = AmountRules(known_before_close=options.amount_known_before_close)
    base = load_mapping("canonical")
    decimal, thousands = options.notation or (".", None)
    return base.model_copy(
        update={
            "csv": base.csv.model_copy(update={"decimal": decimal, "thousands": thousands}),
            "dataset": dataset,
            "stages": stages.to_dict(),
            "stage_names": {},
            "leak_columns": list(info.get("leak_columns") or []),
            "amount": rules,
            "history_file": None,
            "main": None,
            "detect": [],
            "features": {f: f for f in features},
            "stage_probabilities": dict(options.stage_probabilities),
            "stage_probabilities_from": options.stage_probabilities_from,
            "value_fixes": {column: dict(fixes) for column, fixes in options.value_fixes},
            "currency": options.currency,
            "exchange_rates": dict(options.exchange_rates),
            "rep_probability_scale": options.rep_probability_scale,
        }
    )


def _rejected(exc: ImportRejected, written: list[int], where: str) -> InvalidInput:
    """The import's problems, each at its position in the call (`written`: each row's)."""
    problems = []
    for p in exc.report.examples:
        at = _at(where, written[p.row]) if 0 <= p.row < len(written) else ""
        problems.append(f"{at}{p.column}: {p.kind}: {p.value!r}")
    more = exc.report.problem_count - len(problems)
    return InvalidInput(
        "; ".join(problems) + (f"; and {more} more" if more > 0 else "") + " (nothing was written)"
    )


# --- what changed -------------------------------------------------------------------------------


def _state(conn: Connection, dataset: str, ids: list[str]) -> dict[str, dict]:
    """The stored rows of these deals, each with its stage-history entries (`__entries`) and
    the time it was first observed, by a stage or its fields (`__first_seen`)."""
    opps = store.opportunities
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        rows = conn.execute(
            select(opps).where(opps.c.dataset == dataset, opps.c.id.in_(part))
        ).mappings()
        out.update({r["id"]: dict(r) for r in rows})
    if out:
        entries = store.stage_history_of(conn, dataset, list(out))
        for deal_id, rows in entries.groupby("opportunity_id"):
            stays = zip(rows["stage"], rows["entered_at"], strict=True)
            out[str(deal_id)]["__entries"] = frozenset(stays)
            out[str(deal_id)]["__last"] = (rows["stage"].iloc[-1], rows["entered_at"].iloc[-1])
        for deal_id, when in _first_observations(conn, dataset, list(out)).items():
            out[deal_id]["__first_seen"] = when
    return out


def _first_observations(conn: Connection, dataset: str, ids: list[str]) -> dict[str, pd.Timestamp]:
    """Per deal, its earliest stored stage observation or field observation."""
    out: dict[str, pd.Timestamp] = {}
    h, f = store.stage_history.c, store.field_history.c
    for deal, when in ((h.opportunity_id, h.entered_at), (f.opportunity_id, f.observed_at)):
        table = deal.table
        for start in range(0, len(ids), 500):
            query = (
                select(deal, func.min(when))
                .where(table.c.dataset == dataset, deal.in_(ids[start : start + 500]))
                .group_by(deal)
            )
            for deal_id, first in conn.execute(query):
                first = pd.Timestamp(first)
                if deal_id not in out or first < out[deal_id]:
                    out[deal_id] = first
    return out


def _outcome(
    deal_id: str,
    before: dict | None,
    after: dict,
    sent_updated: str,
    pushed: dict | None = None,
    *,
    tied: bool = False,
    compare_created: bool = False,
) -> DealSynced:
    """`tied`: sent at the stored `updated_at`; `pushed`: its row as stored, where a tie of
    the call kept stored values (else a tied push that changed nothing was the stored state)."""
    sent = pd.Timestamp(sent_updated)
    kept: list[str] = []
    if before is None:
        outcome: Outcome = "inserted"
    elif pushed is not None and _differs(pushed, before, compare_created):
        outcome = "tie"
        kept = _differs(pushed, after, compare_created)
    elif tied and _content(before) != _content(after):
        outcome = "tie"  # its values won the tie: all kept
    elif _content(before) == _content(after):
        outcome = "stale" if sent < pd.Timestamp(before["updated_at"]) else "unchanged"
    else:
        outcome = "changed"
    previous = before["stage"] if before else None
    added = after.get("__entries", frozenset()) - (before or {}).get("__entries", frozenset())
    return DealSynced(
        id=deal_id,
        outcome=outcome,
        stage=after["stage"],
        status=after["status"],
        previous_stage=previous,
        stage_moved=previous is not None and previous != after["stage"],
        history_added=len(added),
        updated_at=after["updated_at"],
        kept_stored=kept,
    )


#: The end of the import's note on ties that kept stored values (after their count).
_TIES_KEPT_TAIL = store.TIES_KEPT.split("}", 1)[1]
#: What a push's outcome does not compare: when it was sent, and bookkeeping.
_NOT_CONTENT = {"updated_at", "state_key", "__entries", "__first_seen", "__last"}
#: What a tie compares of the push and the stored deal: what the tie rule keeps of either.
_TIE_FIELDS = ("stage", "status", "closed_at", *TRACKED_FIELDS, ATTRIBUTES)


def _content(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in _NOT_CONTENT}


def _same_time(stored: dict | None, row: dict[str, Any]) -> bool:
    """A push sent at the stored deal's own `updated_at`: a tie, where its values differ."""
    return stored is not None and _timestamp(row["updated_at"]) == _timestamp(stored["updated_at"])


def _canonical(frame: pd.DataFrame, mapping: ImportMapping) -> dict[str, dict]:
    """The rows as the import stored them (validated already: it raises nothing here), by id."""
    rows = canonical_opportunities(frame.reset_index(drop=True), mapping)
    return {str(r["id"]): r for r in rows.to_dict("records")}


def _differs(pushed: dict, stored: dict, compare_created: bool) -> list[str]:
    """The fields whose values differ between a pushed row and a stored one."""
    names = [*_TIE_FIELDS, "created_at"] if compare_created else list(_TIE_FIELDS)
    return [n for n in names if _plain(pushed.get(n)) != _plain(stored.get(n))]


def _plain(value: object) -> object:
    """One comparable form of a value read from a frame or from the store."""
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return None
    if isinstance(value, datetime | pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.number):
        return float(value)
    return str(value)
