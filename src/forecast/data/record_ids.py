"""How long a record's id may be: the store keeps a deal's and a lead's id in `ID_CHARACTERS`
(`tables.opportunities`, `tables.leads` read it here), and PostgreSQL refuses a longer one with
the whole write, so an import names such a row as a bad one instead."""

from __future__ import annotations

import pandas as pd

#: The longest id the store keeps, and the problem of a row whose id is longer.
ID_CHARACTERS = 100
LONG_ID = f"id longer than {ID_CHARACTERS} characters"


def too_long(ids: pd.Series) -> pd.Series:
    """Which ids (text, blanks as NaN) are longer than the store keeps."""
    return ids.str.len() > ID_CHARACTERS
