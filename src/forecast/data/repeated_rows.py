"""Rows whose id an earlier row of the export has: identical copies of it, or other deals.

An export joined from several reports, or saved twice over, can hold the same row more than
once: every column alike, the id too. Such a copy says nothing new, so it is read once (the
import says how many and where the first is). A row with another row's id and any other value
is a second deal under one id, which the file does not say how to read: a problem naming both
lines. Each id's first row is remembered by its line and a hash of its values, so a copy is
found in any later chunk at little memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from forecast.data.validation import ImportReport

#: The lines a note names at most.
SHOWN_LINES = 3


class RepeatedRows:
    """Each id's first row (line, hash of its values) over an export's chunks, and the
    identical copies collapsed so far."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.firsts: list[pd.DataFrame] = []  # per chunk: id → line, hash of each new id's row
        self.copies = 0
        self.copied_lines: list[int] = []  # the first lines of the rows copied

    def split(self, ids: pd.Series, raw: pd.DataFrame, seen: pd.Series) -> tuple[pd.Series, ...]:
        """Masks of the chunk's rows that are identical copies of an earlier row with their id,
        and of those with an earlier row's id but other values; and, for each of these, how a
        problem shows it: its id and the line of the first row with it. `seen`: the ids an
        earlier chunk had. Columns the import adds ("__line") are no values of the row."""
        values = raw[[c for c in raw.columns if not str(c).startswith("__")]]
        given = ids.notna()
        rows = pd.DataFrame(
            {
                "id": ids,
                "line": raw["__line"],
                "hash": pd.util.hash_pandas_object(values, index=False),
            }
        )[given]
        repeat = given & (ids.duplicated() | seen)
        new = rows[~rows["id"].duplicated() & ~seen[given]].set_index("id")
        none = pd.Series(False, index=raw.index)
        if not repeat.any():
            self.firsts.append(new)
            return none, none, pd.Series(dtype=object)
        known = pd.concat([*self.firsts, new])
        first = known.reindex(ids[repeat])
        same = pd.Series(
            first["hash"].to_numpy() == rows.loc[repeat, "hash"].to_numpy(), ids.index[repeat]
        )
        copies = none.copy()
        copies[same.index] = same
        line = pd.Series(first["line"].to_numpy(), index=same.index)
        self.firsts.append(new)
        if same.any():
            self.copies += int(same.sum())
            self.copied_lines += [int(n) for n in line[same].unique() if n not in self.copied_lines]
            self.report.restate("copies", self.note())
        shown = ids[same.index] + " (also at line " + line.astype("str") + ", other values)"
        return copies, repeat & ~copies, shown

    def note(self) -> str:
        """What the import says of the copies read once."""
        lines = sorted(self.copied_lines)
        shown = ", ".join(str(n) for n in lines[:SHOWN_LINES]) + (
            " …" if len(lines) > SHOWN_LINES else ""
        )
        return (
            f"{self.copies:,} row(s) identical in every column to an earlier row with the same "
            f"id read once (copies of the rows at line(s) {shown})"
        )
