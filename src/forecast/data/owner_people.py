"""An owner cell naming several people: monday.com's People column writes them joined by ", "
("Jane Cooper, Bob Lee", even "Jane Cooper, Jane Cooper"). A deal has one owner, the first one
named; read whole, each such cell would be one more rep of its own.

A comma is no proof: "Smith, John" is one person written last name first. So a cell is split
only where each of its parts is an owner the file names alone elsewhere (in this chunk or an
earlier one): "Smith, John" stays whole unless "Smith" and "John" own deals of their own. A
cell naming one person twice is that person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from forecast.data.validation import ImportReport


class OwnerPeople:
    """The owners named alone so far, and the deals whose owner cell named several people."""

    def __init__(self, column: str, report: ImportReport) -> None:
        self.column, self.report = column, report
        self.alone: set[str] = set()
        self.deals = 0
        self.example: str | None = None

    def first_named(self, owners: pd.Series) -> pd.Series:
        """Each owner cell as its first person where it names several (see the module)."""
        text = owners.dropna().astype("str")
        self.alone.update(v for v in text.unique() if "," not in v)
        firsts = {v: self._first(v) for v in text.unique() if "," in v}
        firsts = {v: first for v, first in firsts.items() if first is not None}
        if not firsts:
            return owners
        several = owners.isin(list(firsts))
        self.deals += int(several.sum())
        self.example = self.example or str(owners[several].iloc[0])
        self.report.restate("owners", self.note())
        return owners.where(~several, owners.map(firsts))

    def _first(self, value: str) -> str | None:
        parts = list(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
        if len(parts) == 1 or (len(parts) > 1 and all(p in self.alone for p in parts)):
            return parts[0]
        return None

    def note(self) -> str:
        """What the import says of the deals whose owner cell named several people."""
        return (
            f"{self.column}: {self.deals:,} deal(s) name several people as owner (e.g. "
            f"{self.example!r}): the first named is kept as the deal's owner (a cell is split "
            "only where each part owns deals alone elsewhere in the file, so a name written "
            "'Smith, John' stays whole)"
        )
