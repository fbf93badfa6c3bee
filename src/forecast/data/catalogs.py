"""What a deal takes from what it names: its product's list price and series, its account's
sector, size and country, its rep's team and region.

An import reads them from the export's joined tables (a products file, an accounts file, a
teams file), so a CRM's push, which carries the deal's own fields, may leave them out: a pushed
deal that does then takes what the dataset's latest deal naming the same product, account or
rep holds. The name is matched as it is written; only a name the dataset does not hold is
matched ignoring case, spaces and punctuation ("GTXPro" for "GTX Pro", as an import's loose join
reads it), and only where that finds one stored spelling, which the deal then takes. Without
this, a pushed deal of a dataset whose amounts are known only at close would be valued at
nothing, and its product counted apart from the imported deals of the same product.

A pushed name is looked up as written (by an index on the dataset's deals by name), and the
dataset's distinct names are read only where one is not held as written; only the few newest
deals naming a name whose fields a push leaves out are read.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from forecast.data import store
from forecast.data.mapping import loose_key

#: What a deal names → the fields it takes from it where it leaves them out.
CATALOGS: dict[str, tuple[str, ...]] = {
    "product": ("list_price", "product_series"),
    "account": ("sector", "account_employees", "account_revenue", "account_country"),
    "owner": ("team", "region"),
}


def fill_from_catalogs(
    conn: Connection, dataset: str, rows: Iterable[MutableMapping[str, Any]]
) -> None:
    """Each row's name in the one stored spelling where it is written otherwise, and its
    left-out (or blank) catalog fields (`CATALOGS`) from the dataset's stored deals (in place)."""
    rows = list(rows)
    table = store.opportunities
    for key, fields in CATALOGS.items():
        naming = [r for r in rows if not _blank(r.get(key))]
        if not naming:
            continue
        names = {str(r[key]) for r in naming}
        held = set(
            conn.execute(
                select(table.c[key])
                .distinct()
                .where(table.c.dataset == dataset, table.c[key].in_(names))
            ).scalars()
        )
        spelling = {n: n for n in held}
        if names - held:  # written otherwise than the dataset holds it: one loose match only
            spellings: dict[str, set[str]] = {}
            every = select(table.c[key]).distinct().where(table.c.dataset == dataset)
            for stored in conn.execute(every).scalars():
                if stored is not None:
                    spellings.setdefault(loose_key(stored), set()).add(stored)
            for name in names - held:
                found = spellings.get(loose_key(name), set())
                if len(found) == 1:
                    spelling[name] = next(iter(found))
        for r in naming:
            r[key] = spelling.get(str(r[key]), r[key])
        wanting = [r for r in naming if r[key] in held or r[key] in spelling.values()]
        wanting = [r for r in wanting if any(_blank(r.get(f)) for f in fields)]
        if not wanting:
            continue
        known = _latest(conn, dataset, key, fields, {r[key] for r in wanting})
        for r in wanting:
            for f in fields:
                if _blank(r.get(f)) and known.get(r[key], {}).get(f) is not None:
                    r[f] = known[r[key]][f]


def _blank(value: object) -> bool:
    """Left out, or sent blank (stored the same)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _latest(
    conn: Connection, dataset: str, key: str, fields: tuple[str, ...], names: set[str]
) -> dict[str, dict[str, Any]]:
    """Per stored name, each field's newest non-blank value among the deals naming it: the
    newest deals first (by the index on the name), read until every field has one."""
    table = store.opportunities
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        query = (
            select(*(table.c[f] for f in fields))
            .where(table.c.dataset == dataset, table.c[key] == name)
            .order_by(table.c.updated_at.desc())
        )
        entry = out[name] = {}
        for row in conn.execute(query).mappings():
            for f in fields:
                if f not in entry and row[f] is not None:
                    entry[f] = row[f]
            if len(entry) == len(fields):
                break
    return out
