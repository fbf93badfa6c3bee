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
- the deal's stored state is the newest push (a later `updated_at`; at one time, the later
  stage), so a late push never rolls the deal back and the state agrees with the history;
- pushes of one dataset are written one after another (each call locks the dataset first and
  reads inside that lock the stages and features it checks against and what it reports), so
  concurrent pushes lose nothing, two identical pushes report one insert, and a push obeys
  the stages of an import that committed just before it.

A push may carry `attributes`: the dataset's own columns kept as model inputs (its mapping's
`features:`), by name. They are stored with the deal's state (`opportunities.attributes`); a name
the dataset does not declare is refused, naming it. They have no field history: a model reads a
deal's latest value at every date, as it reads a flat export's (see `forecast.history`).

Bad input rejects the whole call, naming each field and value (`UnknownStage`, `InvalidInput`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.data.dataset_options import DatasetOptions
from forecast.data.importing import import_frame
from forecast.data.mapping import AmountRules, load_mapping
from forecast.data.mapping import Mapping as ImportMapping
from forecast.data.stages import OPEN, StageSet
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

Outcome = Literal["inserted", "changed", "unchanged", "stale"]


@dataclass(frozen=True)
class DealSynced:
    """What one push did to one deal."""

    id: str
    outcome: Outcome  # stale: the store holds a newer state, which was kept
    stage: str  # the stored stage after the call
    status: str  # open | won | lost
    previous_stage: str | None
    stage_moved: bool
    history_added: int
    updated_at: datetime  # the stored deal's updated_at after the call

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SyncReport:
    dataset: str
    deals: list[DealSynced] = field(default_factory=list)
    history_added: int = 0

    @property
    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("inserted", "changed", "unchanged", "stale")}
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
) -> SyncReport:
    """Upsert deals pushed by a CRM into `dataset` (default: the only opportunities dataset).

    `where` names a deal in error messages (`{i}` is its position; "" for a single deal).
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
        store.lock_dataset(conn, name)
        # What a push is checked against is read inside the lock: an import that changed the
        # dataset's stages or features just before is what this push obeys.
        stages = store.dataset_stages(conn, name)
        info = store.get_dataset(conn, name)
        features = store.dataset_features(info.get("options"))
        for i, d in enumerate(deals):
            _check_attributes(d, _at(where, i), name, features)
        before = _state(conn, name, ids)
        rows = [
            _row(d, _at(where, i), stages, before.get(ids[i]), now or store.utcnow())
            for i, d in enumerate(deals)
        ]
        frame = pd.DataFrame(rows, columns=list(FIELDS))
        for feature in features:
            frame[feature] = [(d.get(ATTRIBUTES) or {}).get(feature) for d in deals]
        try:
            import_frame(
                engine,
                frame,
                _mapping(name, stages, info, features),
                dataset=name,
                on_error="reject",
                conn=conn,
            )
        except ImportRejected as exc:
            raise _rejected(exc, ids, where) from None
        after = _state(conn, name, ids)
    for i, deal_id in enumerate(ids):
        synced = _outcome(deal_id, before.get(deal_id), after[deal_id], rows[i]["updated_at"])
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
    if stages.status(row["stage"]) != OPEN and row["closed_at"] is None:
        row["closed_at"] = updated  # it closed when the CRM recorded the outcome
    return row


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
    """The canonical columns with the dataset's own stages, leak columns, amount rules, stage
    probabilities, features and rep probability scale, so a push leaves the dataset's settings
    as the import that made it left them (and reads its values as that import read them)."""
    raw = info.get("options") or {}
    options = DatasetOptions.from_dict(raw)  # read as the history reads them, and kept whole
    rules = AmountRules(known_before_close=options.amount_known_before_close)
    return load_mapping("canonical").model_copy(
        update={
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
            "value_fixes": dict(raw.get("value_fixes") or {}),
            "currency": str(raw.get("currency") or "USD"),
            "exchange_rates": dict(raw.get("exchange_rates") or {}),
            "rep_probability_scale": options.rep_probability_scale,
        }
    )


def _rejected(exc: ImportRejected, ids: list[str], where: str) -> InvalidInput:
    problems = []
    for p in exc.report.examples:
        at = _at(where, p.row) if 0 <= p.row < len(ids) else ""
        problems.append(f"{at}{p.column}: {p.kind}: {p.value!r}")
    more = exc.report.problem_count - len(problems)
    return InvalidInput(
        "; ".join(problems) + (f"; and {more} more" if more > 0 else "") + " (nothing was written)"
    )


# --- what changed -------------------------------------------------------------------------------


def _state(conn: Connection, dataset: str, ids: list[str]) -> dict[str, dict]:
    """The stored rows of these deals, each with its number of stage-history entries."""
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
        for deal_id, n in entries.groupby("opportunity_id").size().items():
            out[str(deal_id)]["__history"] = int(n)
    return out


def _outcome(deal_id: str, before: dict | None, after: dict, sent_updated: str) -> DealSynced:
    sent = pd.Timestamp(sent_updated)
    if before is None:
        outcome: Outcome = "inserted"
    elif _content(before) == _content(after):
        outcome = "stale" if sent < pd.Timestamp(before["updated_at"]) else "unchanged"
    else:
        outcome = "changed"
    previous = before["stage"] if before else None
    added = after.get("__history", 0) - (before.get("__history", 0) if before else 0)
    return DealSynced(
        id=deal_id,
        outcome=outcome,
        stage=after["stage"],
        status=after["status"],
        previous_stage=previous,
        stage_moved=previous is not None and previous != after["stage"],
        history_added=max(added, 0),
        updated_at=after["updated_at"],
    )


#: What a push's outcome does not compare: when it was sent, and bookkeeping.
_NOT_CONTENT = {"updated_at", "state_key", "__history"}


def _content(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in _NOT_CONTENT}
