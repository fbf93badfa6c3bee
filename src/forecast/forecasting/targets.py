"""Targets (quotas) per group and period, kept in the store and shown against the forecast.

A target belongs to a group of a dataset, `(level, name)` with level `all` (the whole dataset,
name `total`), `team`, `rep`, `product` or `region`, and to a period (`2017`, `2017-Q3`,
`2017-07`). There is one target per dataset, group and period: setting it again replaces it.

Targets are validated as a whole before anything is written, and written in one transaction:
a group the dataset's deals do not know, a negative amount or a bad period rejects the batch
with every problem named. `forecast.forecasting.service` shows them against the forecast.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.data.name_text import clean_name
from forecast.data.validation import MAX_NUMBER
from forecast.errors import InvalidInput, UnknownPeriod
from forecast.groups import GROUP_COLUMNS, suggest
from forecast.periods import ACCEPTED, Period, parse_period

#: The level of a target for the whole dataset (its name is `TOTAL`, the forecast's total line):
#: the one spelling every reader and writer of targets uses.
TOTAL_LEVEL = "all"
LEVELS = (TOTAL_LEVEL, "team", "rep", "product", "region")
#: The opportunity column that names each group level (a rep is the deal's owner).
LEVEL_COLUMNS = GROUP_COLUMNS
TOTAL = "total"
CSV_COLUMNS = ("level", "name", "period", "amount")
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Target:
    """One quota: what `level`/`name` should win in `period`."""

    level: str
    name: str
    period: str
    amount: float
    currency: str
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "name": self.name,
            "period": self.period,
            "amount": self.amount,
            "currency": self.currency,
            "updated_at": self.updated_at,
        }


@dataclass
class TargetsWritten:
    """What a `set_targets` or `import_targets` call wrote."""

    dataset: str
    targets: list[Target]
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "inserted": self.inserted,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "targets": [t.to_dict() for t in self.targets],
        }


# --- periods ------------------------------------------------------------------------------------


def period_of(text: object) -> Period:
    """A period from its label; any unusable text (even a year pandas cannot hold) is
    `UnknownPeriod` naming it."""
    try:
        return parse_period(str(text))
    except UnknownPeriod:
        raise
    except (ValueError, OverflowError):  # e.g. year 0000 or 9999: outside pandas' dates
        raise UnknownPeriod(
            f"unknown period {text!r}: the year is out of range; use {ACCEPTED}"
        ) from None


# --- setting targets ----------------------------------------------------------------------------


def set_targets(
    engine: Engine,
    rows: Iterable[Mapping[str, Any]],
    *,
    dataset: str | None = None,
    where: str = "targets[{i}]",
    max_batch: int | None = None,
) -> TargetsWritten:
    """Validate targets (mappings with level, name, period, amount and optional currency) and
    upsert them in one transaction; any problem rejects them all, naming each.

    `where` says how a problem names its row (`{i}` is the row's position, from 0).
    """
    items = list(rows)
    if not items:
        raise InvalidInput("no targets given")
    if max_batch is not None and len(items) > max_batch:
        raise InvalidInput(
            f"batch of {len(items):,} targets: the limit is {max_batch:,} per call; split it"
        )
    with store.transaction(engine) as conn:
        name = opportunity_dataset(conn, dataset)
        targets = _validated(conn, name, items, where)
        return _upsert(conn, name, targets)


def import_targets(
    engine: Engine, path: str | Path, *, dataset: str | None = None
) -> TargetsWritten:
    """Load a CSV of targets (columns level, name, period, amount; optional currency) in one
    transaction. Problems name the file and line."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"{file}: no such file")
    try:
        frame = pd.read_csv(file, dtype="str", skipinitialspace=True, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{file}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{file}: not a readable CSV: {exc}") from None
    frame.columns = [str(c).strip().casefold() for c in frame.columns]
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{file}: missing column(s) {missing}; a targets file needs "
            f"{', '.join(CSV_COLUMNS)} (and may give currency); it has "
            f"{list(frame.columns)}"
        )
    if frame.empty:
        raise InvalidInput(f"{file}: the file has a header but no rows")
    rows = [
        {k: (v.strip() or None) if isinstance(v, str) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    # Line numbers as an editor shows them: the header is line 1.
    shown = str(file).replace("{", "{{").replace("}", "}}")
    return set_targets(engine, rows, dataset=dataset, where=f"{shown}:{{line}}")


def _validated(
    conn: Connection, dataset: str, items: list[Mapping[str, Any]], where: str
) -> list[Target]:
    problems: list[str] = []
    targets: list[Target] = []
    seen: dict[tuple[str, str, str], int] = {}
    known = known_groups(
        conn, dataset, {str(r.get("level") or "").strip().casefold() for r in items}
    )
    currencies = _currencies(conn, dataset)
    default_currency = currencies[0] if len(currencies) == 1 else "USD"
    for i, raw in enumerate(items):
        at = where.format(i=i, line=i + 2)
        before = len(problems)
        level = str(raw.get("level") or "").strip().casefold()
        if level not in LEVELS:
            problems.append(f"{at}: level {raw.get('level')!r} is not one of {list(LEVELS)}")
        name = clean_name(str(raw.get("name") if raw.get("name") is not None else ""))
        if level == TOTAL_LEVEL:
            if name.casefold() not in ("", TOTAL_LEVEL, TOTAL):
                problems.append(
                    f"{at}: a level 'all' target is for the whole dataset; its name "
                    f"must be '{TOTAL}' (or empty), not {name!r}"
                )
            name = TOTAL
        elif level in LEVEL_COLUMNS:
            if not name:
                problems.append(f"{at}: a {level} target needs the {level}'s name")
            elif name not in known[level]:
                problems.append(
                    f"{at}: unknown {level} {name!r}: no deal of dataset "
                    f"{dataset!r} has it{suggest(name, known[level], level)}"
                )
        label = ""
        try:
            label = period_of(raw.get("period")).label
        except UnknownPeriod as exc:
            problems.append(f"{at}: {exc}")
        amount: float | None = None
        try:
            amount = target_amount(raw.get("amount"))
        except InvalidInput as exc:
            problems.append(f"{at}: {exc}")
        currency = str(raw.get("currency") or default_currency).strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            problems.append(f"{at}: currency {raw.get('currency')!r} is not a 3-letter code")
        elif currencies and currency not in currencies:
            problems.append(
                f"{at}: currency {currency} differs from the deals of dataset "
                f"{dataset!r} ({', '.join(currencies)}); the forecast does not "
                "convert currencies"
            )
        key = (level, name, label)
        if len(problems) == before:
            if key in seen:
                problems.append(
                    f"{at}: the same {level} {name!r} and period {label} as "
                    f"{where.format(i=seen[key], line=seen[key] + 2)}"
                )
            seen[key] = i
            targets.append(Target(level, name, label, float(amount), currency))  # type: ignore[arg-type]
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        if more:
            shown.append(f"and {more} more")
        listed = shown[0] if len(shown) == 1 else "\n- " + "\n- ".join(shown)
        raise InvalidInput(
            f"{len(problems)} problem(s) in the targets; nothing was written: " + listed
        )
    return targets


def target_amount(value: object) -> float:
    """A target's amount ("250,000" too): a number from 0 to `MAX_NUMBER`, the bound every
    amount the store takes has (the API's `Amount`), else `InvalidInput` saying what is wrong."""
    given = value.replace(",", "").replace("_", "").strip() if isinstance(value, str) else value
    number = None
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            number = float(given)  # type: ignore[arg-type]
    if number is None or math.isnan(number):
        raise InvalidInput(f"amount {value!r} is not a number")
    if not math.isfinite(number) or number > MAX_NUMBER:
        raise InvalidInput(
            f"amount {value!r} is not finite or beyond {MAX_NUMBER:.0e}; a target is an "
            f"amount to win, from 0 to {MAX_NUMBER:.0e}"
        )
    if number < 0:
        raise InvalidInput(f"amount {value!r} is negative; a target is an amount to win, 0 or more")
    return number


def known_groups(conn: Connection, dataset: str, levels: set[str]) -> dict[str, set[str]]:
    """The names each group level has among the dataset's deals."""
    out: dict[str, set[str]] = {level: set() for level in LEVEL_COLUMNS}
    opps = store.opportunities
    for level in levels & set(LEVEL_COLUMNS):
        col = opps.c[LEVEL_COLUMNS[level]]
        query = select(col).where(opps.c.dataset == dataset, col.is_not(None)).distinct()
        out[level] = {str(v) for v in conn.execute(query).scalars()}
    return out


def _currencies(conn: Connection, dataset: str) -> list[str]:
    opps = store.opportunities
    query = select(opps.c.currency).where(opps.c.dataset == dataset).distinct()
    return sorted(str(c) for c in conn.execute(query).scalars() if c)


def _upsert(conn: Connection, dataset: str, targets: list[Target]) -> TargetsWritten:
    table = store.targets
    stored = {
        (r.level, r.name, r.period): (r.amount, r.currency)
        for r in conn.execute(select(table).where(table.c.dataset == dataset))
    }
    now = store.utcnow()
    written = TargetsWritten(dataset, [])
    rows = []
    for t in targets:
        before = stored.get((t.level, t.name, t.period))
        if before == (t.amount, t.currency):
            written.unchanged += 1
            continue
        if before is None:
            written.inserted += 1
        else:
            written.changed += 1
        rows.append(
            {
                "dataset": dataset,
                "level": t.level,
                "name": t.name,
                "period": t.period,
                "amount": t.amount,
                "currency": t.currency,
                "updated_at": now,
            }
        )
    if rows:
        stmt = _insert(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["dataset", "level", "name", "period"],
            set_={k: stmt.excluded[k] for k in ("amount", "currency", "updated_at")},
        )
        conn.execute(stmt, rows)
    keys = {(t.level, t.name, t.period) for t in targets}
    written.targets = [
        t for t in read_targets(conn, dataset) if (t.level, t.name, t.period) in keys
    ]
    return written


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert

    return insert(table)


# --- reading targets ----------------------------------------------------------------------------


def list_targets(
    engine: Engine,
    *,
    dataset: str | None = None,
    period: str | None = None,
    level: str | None = None,
) -> tuple[str, list[Target]]:
    """The dataset's targets (optionally of one period and level), by period, level and name."""
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level {level!r} is not one of {list(LEVELS)}")
    label = period_of(period).label if period is not None else None
    with engine.connect() as conn:
        name = opportunity_dataset(conn, dataset)
        rows = read_targets(conn, name, label, level)
    return name, rows


def targets_for(conn: Connection, dataset: str, period: str, by: str | None) -> dict[str, float]:
    """The targets the forecast of `period` grouped `by` uses: `total` and one per group."""
    levels = [TOTAL_LEVEL] + ([by] if by else [])
    out = {}
    for t in read_targets(conn, dataset, period_of(period).label):
        if t.level in levels:
            out[TOTAL if t.level == TOTAL_LEVEL else t.name] = t.amount
    return out


def stamp(engine: Engine, dataset: str) -> str:
    """The dataset's targets as they are now, as one short hash: part of the key of anything
    cached that shows them, so a target set by the API or by `forecast targets` (another process)
    shows at the next view."""
    with engine.connect() as conn:
        rows = read_targets(conn, dataset)
    text = repr([(t.level, t.name, t.period, t.amount, t.currency) for t in rows])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_targets(
    conn: Connection, dataset: str, period: str | None = None, level: str | None = None
) -> list[Target]:
    table = store.targets
    query = select(table).where(table.c.dataset == dataset)
    if period is not None:
        query = query.where(table.c.period == period)
    if level is not None:
        query = query.where(table.c.level == level)
    targets = [
        Target(r.level, r.name, r.period, float(r.amount), r.currency, r.updated_at)
        for r in conn.execute(query)
    ]
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(targets, key=lambda t: (t.period, order.get(t.level, 99), t.name))


def opportunity_dataset(conn: Connection, name: str | None) -> str:
    dataset = store.resolve_dataset(conn, name, "opportunities")
    if store.get_dataset(conn, dataset)["kind"] != "opportunities":
        raise InvalidInput(
            f"dataset {dataset!r} holds leads, not opportunities: targets, forecasts and "
            "KPIs are of a deals dataset (`forecast datasets` lists them)"
        )
    return dataset
