"""Reading a dataset back from the store: its record and stages, its deals (with their own
columns), stage history, field history and leads, typed as the tables say whatever the database
driver returned."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    and_,
    select,
    true,
)
from sqlalchemy.engine import Connection

from forecast.data import stage_log
from forecast.data.attributes import (
    attribute_frame,
    dataset_features,
    infer_types,
    numeric_columns,
    with_attributes,
)
from forecast.data.stages import StageSet
from forecast.data.tables import (
    OPPORTUNITY_COLUMNS,
    TRACKED_FIELDS,
    datasets,
    field_history,
    leads,
    opportunities,
    stage_history,
)
from forecast.errors import UnknownDataset

#: What a field-history read returns: the deal, when it was observed, the tracked fields.
_FIELD_COLUMNS = (
    field_history.c.opportunity_id,
    field_history.c.observed_at,
    *[field_history.c[n] for n in TRACKED_FIELDS],
)


def get_dataset(conn: Connection, name: str) -> dict:
    row = conn.execute(select(datasets).where(datasets.c.name == name)).mappings().first()
    if row is None:
        known = list_datasets(conn)
        raise UnknownDataset(f"no dataset named {name!r}; the store has {known or 'none yet'}")
    return dict(row)


def list_datasets(conn: Connection, kind: str | None = None) -> list[str]:
    query = select(datasets.c.name).order_by(datasets.c.name)
    if kind:
        query = query.where(datasets.c.kind == kind)
    return list(conn.execute(query).scalars())


def dataset_stages(conn: Connection, name: str) -> StageSet:
    row = get_dataset(conn, name)
    if row["kind"] != "opportunities" or not row["stages"]:
        raise UnknownDataset(f"dataset {name!r} holds {row['kind']}, not opportunities")
    return StageSet.from_dict(row["stages"])


def _rows_of(
    conn: Connection, cols: Sequence[Any], where: Any, id_col: Any, ids: Sequence[str]
) -> pd.DataFrame:
    """`cols` of the rows matching `where` whose `id_col` is in `ids`, asked in slices of
    5,000 ids (a bound on the statement's size that every driver accepts). An id given twice
    is asked once (in two slices it would bring its rows twice)."""
    step = 5_000
    ids = list(dict.fromkeys(ids))
    names = [c.name for c in cols]
    parts = [
        pd.DataFrame(
            conn.execute(select(*cols).where(where, id_col.in_(ids[i : i + step]))).all(),
            columns=names,
        )
        for i in range(0, len(ids), step)
    ]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=names)


def _typed(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Column dtypes from the table, whatever the driver returned (all-NULL columns included)."""
    for col in frame.columns:
        kind = type(table.c[col].type)
        if kind is DateTime:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
        elif kind in (Float, Integer):
            frame[col] = pd.to_numeric(frame[col]).astype("float64")
        elif kind is Boolean:
            frame[col] = frame[col].astype(bool)
        elif kind is String:
            frame[col] = frame[col].astype("str").where(frame[col].notna())
    return frame


#: Deals whose id is in [low, high) in the database's own order of ids (None: no end on that
#: side): a slice of a dataset read on its own (`store_slices`).
IdRange = tuple[str | None, str | None]


def _in_range(column: Any, ids: IdRange | None) -> Any:
    """The condition that `column` (a deal id) lies in `ids` (true without a range)."""
    low, high = ids or (None, None)
    return and_(
        column >= low if low is not None else true(),
        column < high if high is not None else true(),
    )


def load_opportunities(
    engine: Engine, dataset: str, ids: IdRange | None = None, *, text: Collection[str] = ()
) -> pd.DataFrame:
    """Every deal of a dataset (or those of an id range) as the canonical frame (one row per
    deal, current state), with the dataset's declared features (`features:` of its mapping) as
    columns after them (those holding only numbers as numbers, but those named in `text`)."""
    query = select(
        *[opportunities.c[n] for n in OPPORTUNITY_COLUMNS], opportunities.c.attributes
    ).where(opportunities.c.dataset == dataset, _in_range(opportunities.c.id, ids))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
        options = get_dataset(conn, dataset)["options"] or {}
    attributes = frame.pop("attributes")
    frame = _typed(frame, opportunities)
    frame["attributes"] = [_json(a) for a in attributes]
    return with_attributes(frame, dataset_features(options), text)


def attribute_kinds(engine: Engine, dataset: str, ids: IdRange | None = None) -> dict[str, Any]:
    """Of the deals of an id range, whether each declared feature holds only numbers
    (`attributes.numeric_columns`): a slice is typed as the whole dataset once every slice
    has said."""
    query = select(opportunities.c.attributes).where(
        opportunities.c.dataset == dataset, _in_range(opportunities.c.id, ids)
    )
    with engine.connect() as conn:
        given = [_json(a) for a in conn.execute(query).scalars()]
        names = dataset_features(get_dataset(conn, dataset)["options"] or {})
    return numeric_columns(attribute_frame(given, names))


def _json(value: object) -> dict | None:
    """A JSON column's value as a dict (drivers return text or the parsed value)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def load_history(engine: Engine, dataset: str, ids: IdRange | None = None) -> pd.DataFrame:
    """The stage history of a dataset (or of an id range's deals): opportunity_id, stage,
    entered_at, by deal and oldest first, derived from its stage observations
    (`forecast.data.stage_log`)."""
    with engine.connect() as conn:
        return stage_history_of(conn, dataset, between=ids)


def stage_history_of(
    conn: Connection,
    dataset: str,
    ids: Sequence[str] | None = None,
    *,
    between: IdRange | None = None,
) -> pd.DataFrame:
    """`load_history` on an open connection (inside a write, say), for `ids`, the deals
    `between` two ids, or every deal."""
    h, o = stage_history.c, opportunities.c
    cols = (h.opportunity_id, h.stage, h.entered_at, h.seen_only)
    if ids is None:
        raw = pd.read_sql(
            select(*cols).where(h.dataset == dataset, _in_range(h.opportunity_id, between)), conn
        )
        created = pd.read_sql(
            select(o.id, o.created_at).where(o.dataset == dataset, _in_range(o.id, between)),
            conn,
        )
    else:
        raw = _rows_of(conn, cols, h.dataset == dataset, h.opportunity_id, list(ids))
        created = _rows_of(conn, (o.id, o.created_at), o.dataset == dataset, o.id, list(ids))
    raw = _typed(raw, stage_history)
    created_at = pd.to_datetime(created.set_index("id")["created_at"]).astype("datetime64[us]")
    return _typed(stage_log.derive(raw, created_at, dataset_stages(conn, dataset)), stage_history)


def load_field_history(engine: Engine, dataset: str, ids: IdRange | None = None) -> pd.DataFrame:
    """The field history of a dataset (or of an id range's deals): opportunity_id, observed_at
    and the tracked fields."""
    query = (
        select(*_FIELD_COLUMNS)
        .where(field_history.c.dataset == dataset, _in_range(field_history.c.opportunity_id, ids))
        .order_by(field_history.c.opportunity_id, field_history.c.observed_at)
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return _typed(frame, field_history)


def load_leads(
    engine: Engine,
    dataset: str,
    ids: IdRange | None = None,
    *,
    text: Collection[str] = (),
    raw: bool = False,
) -> pd.DataFrame:
    """Leads of a dataset (or those of an id range: a slice read on a worker): their stored
    attributes as columns, plus id, converted and, where the leads are dated, created_at (what
    a time holdout splits on) and converted_at. Attributes holding only numbers are numbers
    (`infer_types`), but those named in `text`; `raw`: as stored (for `numeric_columns`)."""
    query = select(
        leads.c.id, leads.c.converted, leads.c.created_at, leads.c.attributes, leads.c.converted_at
    ).where(leads.c.dataset == dataset, _in_range(leads.c.id, ids))
    # In the order of ids, read after read: slices (id ranges) read apart and lined up by
    # position (`dask_leads`) are the whole read in order.
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(leads.c.id)).all()
    attrs = pd.DataFrame([r.attributes for r in rows])
    attrs = attrs if raw else infer_types(attrs, text)
    attrs.insert(0, "id", [r.id for r in rows])
    attrs["converted"] = pd.array([r.converted for r in rows], dtype="Int64")
    created = pd.to_datetime(pd.Series([r.created_at for r in rows], dtype=object))
    if created.notna().any():
        attrs["created_at"] = created.to_numpy()
    converted_at = pd.to_datetime(pd.Series([r.converted_at for r in rows], dtype=object))
    if converted_at.notna().any():
        attrs["converted_at"] = converted_at.to_numpy()
    return attrs
