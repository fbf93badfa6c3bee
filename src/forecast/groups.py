"""The groups a forecast, a backtest, a waterfall or a KPI report splits by.

One place names them, so the command line, the library and the API accept the same words:
each group's canonical name, the deal column it reads, and the other names users give it (a
rep is the deal's `owner`, and imports, mappings and CRMs call the field that). Results always
say the canonical name, so `--by owner` and `--by rep` give the same document.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Literal

#: Each group's canonical name and the deal column it groups on.
GROUP_COLUMNS: dict[str, str] = {
    "team": "team",
    "rep": "owner",
    "product": "product",
    "region": "region",
}
#: Other names accepted for a group: the column's own name where it differs from the group's.
GROUP_ALIASES: dict[str, str] = {"owner": "rep"}

#: The names a caller may group by (the API's `by`): the groups and their other names.
GroupName = Literal["team", "rep", "owner", "product", "region"]


class GroupBy(StrEnum):
    """The command line's `--by`: the same names (`owner` said as `rep` in what it prints)."""

    team = "team"
    rep = "rep"
    owner = "owner"
    product = "product"
    region = "region"


def canonical_group(by: str | None) -> str | None:
    """`by` under its canonical name (`owner` → `rep`); any other value unchanged, for the
    caller to accept or refuse with its own wording."""
    if by is None:
        return None
    return GROUP_ALIASES.get(by, by)


def suggest(name: str, known: set[str], level: str) -> str:
    """What a message naming an unknown group adds: the likely names meant, or the known ones."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if close:
        return f"; did you mean {', '.join(repr(c) for c in close)}?"
    listed = sorted(known)
    if not listed:
        return f"; its deals name no {level} at all"
    return f"; known: {', '.join(listed[:10])}" + (" …" if len(listed) > 10 else "")
