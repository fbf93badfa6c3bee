"""What a deal takes from what it names: its product's list price and series, its account's
sector, size and country, its rep's team and region.

An import reads them from the export's joined tables (a products file, an accounts file, a
teams file), so a CRM's push, which carries the deal's own fields, may leave them out: a pushed
deal then takes what the dataset's latest deal naming the same product, account or rep holds,
and that one's spelling of the name where the two differ only in case, spaces or punctuation
("GTXPro" for "GTX Pro", as the import's loose join reads it). Without this, a pushed deal of a
dataset whose amounts are known only at close would be valued at nothing, and its product would
be counted apart from the imported deals of the same product.
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
    """Each row's left-out catalog fields (`CATALOGS`) from the dataset's stored deals, and the
    stored spelling of the names it gives (in place)."""
    rows = list(rows)
    for key, fields in CATALOGS.items():
        named = {r[key] for r in rows if isinstance(r.get(key), str) and r[key]}
        if not named:
            continue
        known = _latest(conn, dataset, key, fields)
        for r in rows:
            found = known.get(loose_key(r[key])) if r.get(key) in named else None
            if found is None:
                continue
            r[key] = found[key]
            for f in fields:
                if r.get(f) is None and found.get(f) is not None:
                    r[f] = found[f]


def _latest(
    conn: Connection, dataset: str, key: str, fields: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Per name (loosely), its stored spelling and the latest value of each field the deals
    naming it give (a field's newest non-blank value)."""
    table = store.opportunities
    columns = [table.c[key], *(table.c[f] for f in fields)]
    query = (
        select(*columns)
        .where(table.c.dataset == dataset, table.c[key].is_not(None))
        .order_by(table.c.updated_at)
    )
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        entry = out.setdefault(loose_key(row[key]), {})
        entry[key] = row[key]
        for f in fields:
            if row[f] is not None:
                entry[f] = row[f]
    return out
