"""An id for a deal export that has none (Freshsales' and Agile CRM's deal exports): hashed
from the deal's name and creation time, the columns that name a deal and do not change, where
no two sampled deals share them (`id: {hash_of: [...]}`)."""

from __future__ import annotations

import pandas as pd

from forecast.data.draft_names import matched

#: The names of a column that names a deal ("Name", "Deal Name", "Opportunity Title"; a
#: spreadsheet tracker's "Deal").
NAME_COLUMNS = [
    "name", "dealname", "opportunityname", "title", "dealtitle", "opportunitytitle", "subject",
    "deal", "opportunity", "nom", "titel", "nombre", "titre",
    "topic",  # Dynamics 365's name of an opportunity
]  # fmt: skip


def hashed_id(sample: pd.DataFrame, columns: dict[str, str]) -> list[str]:
    """The columns to hash a deal's id from: its name and creation time where every sampled
    row has both and no two rows share them; none (the draft asks) otherwise."""
    name, created = _name_and_created(sample, columns)
    if created is None or name is None:
        return []
    parts = sample[[name, created]]
    if parts.isna().any(axis=None) or parts.duplicated().any():
        return []
    return [name, created]


def no_id_check(sample: pd.DataFrame, columns: dict[str, str]) -> str:
    """What a draft that found no id says: an id can be hashed from columns that tell each deal
    apart and never change (`hash_of`), and why the draft could not (no name or creation column
    found, or some rows share or lack them)."""
    name, created = _name_and_created(sample, columns)
    if name is None or created is None:
        found = "no column naming the deal and its creation time was found"
        example = f"[{name or 'Name'}, {created or 'Created'}]"
    else:
        found = f"some sampled rows share or lack {name!r} and {created!r}"
        example = f"[{name}, {created}]"
    return (
        f"no column found for id: name it, or hash one from columns that tell each deal apart "
        f"and never change, e.g. id: {{hash_of: {example}}} ({found})"
    )


def _name_and_created(sample: pd.DataFrame, columns: dict[str, str]) -> tuple[str | None, ...]:
    """A column naming the deal (not mapped to another field) and the creation time's."""
    free = [str(c) for c in sample.columns if c not in columns.values()]
    return matched(free, {"name": NAME_COLUMNS}).get("name"), columns.get("created_at")
