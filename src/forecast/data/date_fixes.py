"""Dates an import reads otherwise than the export wrote them, and says so: a close or a stage
entry a little before the deal's creation (the two systems' clocks disagreeing), and a closed
deal's one close date after its last update (an expected close nobody moved when it closed).
Counted over every chunk of a file, then said once in the import's notes."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

from forecast.data.stages import OPEN


@dataclass
class DateFixes:
    """The counts of one import, and the mapping's clock-skew tolerance they are judged by."""

    tolerance: str  # the mapping's `clock_skew_tolerance`, as written ("1 day")
    closes_at_creation: int = 0  # closes within the tolerance before creation
    entries_at_creation: int = 0  # stage entries within it before their deal's creation
    closes_at_update: int = 0  # closed deals whose one close date lay after their last update

    @property
    def skew(self) -> pd.Timedelta:
        return pd.Timedelta(self.tolerance)

    def forgive_clock_skew(self, out: pd.DataFrame) -> None:
        """A close at most the tolerance before creation is the two systems' clocks
        disagreeing, not a bad row: the close is moved to the creation time, and counted (on
        closed deals only: an open deal's date under `closed_at`, a column of last updates
        mapped as the close, is no close to report)."""
        early = out["created_at"] - out["closed_at"]
        skewed = (early > pd.Timedelta(0)) & (early <= self.skew)
        if skewed.any():
            out.loc[skewed, "closed_at"] = out.loc[skewed, "created_at"]
            self.closes_at_creation += int((skewed & (out["status"] != OPEN)).sum())

    def close_by_last_update(self, out: pd.DataFrame, closed: pd.Series) -> None:
        """A closed deal's one close date later than its last update (beyond the tolerance) is
        the expected close nobody moved when the deal closed (Vtiger keeps it): the deal closed
        by its last update at the latest, and is read so. Left as it was, a planned close weeks
        after the export would become the data's "now" and move every forecast with it."""
        updated = out["updated_at"]
        late = closed & (out["closed_at"] > updated + self.skew).fillna(False)
        if late.any():
            out.loc[late, "closed_at"] = updated[late]
            self.closes_at_update += int(late.sum())

    def entered_since_creation(
        self, entered: pd.Series, created: pd.Series
    ) -> tuple[pd.Series, pd.Series]:
        """Stage entry dates judged against their deal's creation, as a close is: one at most
        the tolerance before creation is read as entered at creation (and counted); further
        before is returned as a mask, for the caller to report that row. A creation the export
        does not give (NaT: estimated) judges nothing."""
        early = created - entered
        skewed = (early > pd.Timedelta(0)) & (early <= self.skew)
        if skewed.any():
            entered = entered.where(~skewed, created)
            self.entries_at_creation += int(skewed.sum())
        return entered, (early > self.skew).fillna(False).astype(bool)

    def notes(self, close_column: str | None, updated_column: str | None) -> list[str]:
        """What was read otherwise, said (the counts then start again)."""
        notes = []
        if self.closes_at_creation:
            notes.append(
                f"{self.closes_at_creation:,} deal(s) closed up to {self.tolerance} before they "
                "were created (clock skew): close date set to the creation date (mapping: "
                "clock_skew_tolerance)"
            )
        if self.entries_at_creation:
            notes.append(
                f"{self.entries_at_creation:,} stage "
                f"{'entry' if self.entries_at_creation == 1 else 'entries'} dated up to "
                f"{self.tolerance} before their deal was created (clock skew): read as entered "
                "at creation (mapping: clock_skew_tolerance)"
            )
        if self.closes_at_update:
            notes.append(
                f"{self.closes_at_update:,} closed deal(s) had a close date ({close_column!r}) "
                f"after their last update ({updated_column!r}): an expected close not moved "
                "when they closed, read as closed at their last update"
            )
        self.closes_at_creation = self.entries_at_creation = self.closes_at_update = 0
        return notes


def before_creation_shown(
    raw: pd.DataFrame, columns: dict[str, str], out: pd.DataFrame, close_field: str
) -> pd.Series:
    """A close before creation as the problem shows it, 'created > closed', each date as the
    export wrote it ('10/25/2016 > 1/5/2016'): the user looks for the row by what the file
    shows, not by the ISO form it is read as."""

    def written(field: str, read: pd.Series) -> pd.Series:
        given = raw.get(columns.get(field, ""))
        if given is None or not (is_object_dtype(given) or is_string_dtype(given)):
            return read.astype("str")  # a typed column (Parquet's dates): its reading
        return given.astype("str").str.strip()

    return written("created_at", out["created_at"]) + " > " + written(close_field, out["closed_at"])
