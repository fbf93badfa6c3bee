"""Every problem of a batch of pushed deals at once, each named by its field's path.

`forecast.data.sync` stops at a batch's first bad deal (nothing is written either way). A CRM
that sent a batch with several bad deals, or a field missing in one (refused by the API's
schema) and an unknown stage in another, is told all of them in one answer: it fixes its
mapping once, not once per push. These are the same checks a push makes, run on each deal
without writing: the dataset's stages, its attributes and CSAT scale, the deal's own dates and
those of its stored state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from forecast.data import csat_scale, store, sync
from forecast.data.dataset_options import DatasetOptions
from forecast.errors import InvalidInput


@dataclass(frozen=True)
class Problem:
    """One bad value: its field's path (`where` with the deal's position), what was wrong, and
    the kind of error (`UnknownStage`, `InvalidInput`)."""

    field: str
    problem: str
    type: str


def deal_problems(
    engine: Engine,
    deals: Mapping[int, Mapping[str, Any]],
    *,
    dataset: str | None,
    where: str = "opportunities[{i}]",
    now: datetime | None = None,
) -> list[Problem]:
    """The problems of these deals (by their position in the batch) as `sync_opportunities`
    would find them one at a time; none written. The dataset must exist (`UnknownDataset`)."""
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, dataset, "opportunities")
        stages = store.dataset_stages(conn, name)
        info = store.get_dataset(conn, name)
        features = store.dataset_features(info.get("options"))
        scale = DatasetOptions.from_dict(info.get("options")).csat_scale
        problems: list[Problem] = []
        ids: dict[int, str] = {}
        for i, deal in deals.items():
            try:
                ids[i] = sync._id(deal, sync._at(where, i))
            except InvalidInput as exc:
                problems.append(_said(exc, sync._at(where, i)))
        if len(ids) == len(deals) == max(deals, default=-1) + 1:  # the whole batch, in order
            try:
                sync._no_duplicates(list(ids.values()), where)
            except InvalidInput as exc:
                problems.append(_said(exc, ""))
        before = sync._state(conn, name, list(dict.fromkeys(ids.values())))
    mapping = sync._mapping(name, stages, info, features)
    for i, deal_id in ids.items():
        deal, at, stored = deals[i], sync._at(where, i), before.get(deal_id)
        try:
            sync._check_attributes(deal, at, name, features)
            csat_scale.hold_to_scale(deal.get("csat"), scale, at)
            row = sync._row(deal, at, stages, stored, now or store.utcnow())
            given = deal.get("created_at") is not None
            sync._check_against_stored(row, at, stored, mapping.clock_skew, given)
        except InvalidInput as exc:
            problems.append(_said(exc, at))
    return problems


def _said(exc: InvalidInput, at: str) -> Problem:
    """The error split into its field's path and what was wrong ("opportunities[1].stage:
    unknown stage 'Bogus'; ..." is the field `opportunities[1].stage`)."""
    text = str(exc)
    field, sep, rest = text[len(at) :].partition(": ") if text.startswith(at) else ("", "", "")
    if not sep or " " in field:
        return Problem(at.rstrip("."), text, type(exc).__name__)
    return Problem(at + field, rest, type(exc).__name__)
