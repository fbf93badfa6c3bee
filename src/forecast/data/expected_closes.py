"""Expected closes an import does not keep: one before the deal was created.

A push refuses such a date (`expected_close_at` before `created_at`, a 422): a deal is expected
to close after it exists, and an expected close before that would put it at risk as overdue
from its first day. An export is not refused for it: the date is stale (a deal cloned from an
old one, a close date nobody set again), the rest of the row is good. So the row is kept with
no expected close, and the import says how many and on which lines. One at most the mapping's
`clock_skew_tolerance` before creation is the two systems' clocks disagreeing, and kept, as a
push keeps one within its clock skew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from forecast.data.validation import ImportReport

#: The lines a note names at most.
SHOWN_LINES = 5


class EarlyExpectedCloses:
    """The expected closes before creation dropped over an export's chunks, and their lines."""

    def __init__(self, report: ImportReport, skew: pd.Timedelta, columns: dict[str, str]) -> None:
        self.report = report
        self.skew = skew
        # The file's names of the two dates: the expected close may be a CRM's one close date.
        self.column = columns.get("expected_close_at") or columns.get(
            "close_date", "expected_close_at"
        )
        self.created = columns.get("created_at", "created_at")
        self.count = 0
        self.lines: list[int] = []  # the first lines, at most SHOWN_LINES

    def drop(self, out: pd.DataFrame, lines: pd.Series, counted: pd.Series) -> None:
        """Blank `out`'s expected_close_at where it lies more than the tolerance before
        created_at (a creation not given judges nothing); count those of the `counted` rows
        (those written: a bad row is reported for its own problem)."""
        early = (out["created_at"] - out["expected_close_at"] > self.skew).fillna(False)
        if not early.any():
            return
        out.loc[early, "expected_close_at"] = pd.NaT
        said = early & counted
        self.count += int(said.sum())
        room = SHOWN_LINES - len(self.lines)
        self.lines += [int(n) for n in lines[said].head(max(room, 0))]
        if self.count:
            self.report.restate("early expected closes", self.note())

    def note(self) -> str:
        """What the import says of them, over the chunks read so far."""
        shown = ", ".join(str(n) for n in self.lines)
        more = " …" if self.count > len(self.lines) else ""
        line = "line" if self.count == 1 else "lines"
        return (
            f"{self.count:,} deal(s) expected to close before they were created "
            f"({self.column!r} before {self.created!r}, {line} {shown}{more}): that expected "
            "close not kept, the deal kept without one (a push refuses such a date; up to "
            "clock_skew_tolerance before creation is kept)"
        )
