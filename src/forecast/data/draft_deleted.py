"""Deleted deals in a deal export: Pipedrive's "Status" says open, won, lost or deleted. A deleted
deal is neither open nor lost: drafted as open (its status blank so that its stage is read) it
swelled the open pipeline by every deal ever deleted. The draft leaves such rows out with
`skip_rows`, as Salesforce's `IsDeleted` is, and says so."""

from __future__ import annotations

import pandas as pd

from forecast.data.draft_names import DELETED_WORDS
from forecast.data.draft_stages import is_outcome, quoted, says


def deleted_values(found: dict[str, pd.Series]) -> dict[str, list[str]]:
    """Per stage or status column (`found`: its values' counts over the file), the values that
    say the deal was deleted ("Deleted", "Gelöscht"); none where a value also says won or lost."""
    out = {}
    for column, counts in found.items():
        values = [str(v) for v in counts.index if _says_deleted(str(v))]
        if values:
            out[column] = values
    return out


def _says_deleted(value: str) -> bool:
    return says(value, DELETED_WORDS) and not is_outcome(value)


def without_deleted(
    sample: pd.DataFrame, found: dict[str, pd.Series], deleted: dict[str, list[str]]
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The sample's rows and the columns' value counts without the deleted deals: the draft's
    stages, outcomes and probabilities are read from the deals the import keeps."""
    out = pd.Series(False, index=sample.index)
    for column, values in deleted.items():
        out |= sample[column].astype("str").str.strip().isin(values) & sample[column].notna()
    counts = {c: v.drop(deleted.get(c, []), errors="ignore") for c, v in found.items()}
    return sample[~out], counts


def skip_block(deleted: dict[str, list[str]]) -> list[str]:
    """The `skip_rows:` lines leaving the deleted deals out."""
    lines = ["skip_rows:   # deleted deals: left out of the import"]
    for column, values in deleted.items():
        lines.append(f"  {quoted(column)}: [{', '.join(quoted(v) for v in values)}]")
    return lines


def skip_checks(found: dict[str, pd.Series], deleted: dict[str, list[str]]) -> list[str]:
    """What the draft says of the deleted deals it leaves out: the values and how many rows."""
    said = []
    for column, values in deleted.items():
        rows = int(sum(found[column].get(v, 0) for v in values))
        shown = ", ".join(repr(v) for v in values)
        said.append(
            f"{rows:,} deal(s) whose {column!r} is {shown}: deleted, neither open nor lost, so "
            "left out of the import (skip_rows); drop that line to import them"
        )
    return said
