"""An id for a deal export that has none (Freshsales' and Agile CRM's deal exports): hashed
from the deal's name and creation time, the columns that name a deal and do not change, where
no two sampled deals share them (`id: {hash_of: [...]}`)."""

from __future__ import annotations

import pandas as pd

from forecast.data.draft_names import matched

#: The names of a column that names a deal ("Name", "Deal Name", "Opportunity Title").
NAME_COLUMNS = [
    "name", "dealname", "opportunityname", "title", "dealtitle", "opportunitytitle", "subject",
    "opportunity", "nom", "titel", "nombre", "titre",
    "topic",  # Dynamics 365's name of an opportunity
]  # fmt: skip


def hashed_id(sample: pd.DataFrame, columns: dict[str, str]) -> list[str]:
    """The columns to hash a deal's id from: its name and creation time where every sampled
    row has both and no two rows share them; none (the draft asks) otherwise."""
    created = columns.get("created_at")
    free = [str(c) for c in sample.columns if c not in columns.values()]
    name = matched(free, {"name": NAME_COLUMNS}).get("name")
    if created is None or name is None:
        return []
    parts = sample[[name, created]]
    if parts.isna().any(axis=None) or parts.duplicated().any():
        return []
    return [name, created]
