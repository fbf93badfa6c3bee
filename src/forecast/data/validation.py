"""Problems found in an export, counted per kind, each with file, row and column.

The checks are vectorised over a chunk: each returns a boolean mask of bad rows, so a
million-row export is validated at pandas speed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from forecast.data.date_formats import SAMPLE, date_hint
from forecast.data.reading import number_hint

MAX_EXAMPLES_PER_KIND = 20
#: The kind of problem a number field's unreadable value is; its notes say which `csv:` option
#: would read the value ("2,748": `thousands` or `decimal`).
NOT_A_NUMBER = "not a number"
UNPARSEABLE_DATE = "unparseable date"

#: The largest number a field may hold: far beyond any real deal, account or headcount, and
#: small enough that sums over millions of deals stay exact to the cent and finite.
MAX_NUMBER = 1e15
#: The problem a number no field may hold is (`beyond_bounds`).
NUMBER_BEYOND = f"number beyond ±{MAX_NUMBER:.0e}"


@dataclass(frozen=True)
class Problem:
    file: str
    row: int  # line number in the file, header = 1
    column: str
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row} [{self.column}] {self.kind}: {self.value!r}"


@dataclass
class ImportReport:
    """What an import read, wrote and rejected. `examples` keeps the first few per kind."""

    dataset: str
    files: list[str] = field(default_factory=list)
    #: What the rows are: "opportunities" or "leads" (the summary shows only what applies).
    kind: str = "opportunities"
    rows_read: int = 0
    rows_written: int = 0  # inserted or changed; an unchanged row is not rewritten
    history_rows_written: int = 0  # new stage entries
    field_rows_written: int = 0  # new field-history observations
    stage_changes: int = 0
    bad_rows: int = 0
    estimated_amounts: int = 0
    estimated_created: int = 0
    fixed_values: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    examples: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the import assumed or fixed
    written: bool = False
    #: Something stored changed (a row, an observation, the dataset's record): it has a new
    #: version. False for an export imported again unchanged (nothing to track again).
    changed: bool = False
    hinted: set[str] = field(default_factory=set, repr=False)  # columns a csv: hint was noted for
    stated: dict[str, str] = field(default_factory=dict, repr=False)  # `restate`'s notes, by key
    tallies: Counter = field(default_factory=Counter, repr=False)  # `tally`'s counts, by key

    @property
    def problem_count(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(
        self,
        file: str,
        rows: pd.Series,
        column: str,
        kind: str,
        values: pd.Series,
        every: pd.Series | None = None,
    ) -> None:
        """Record one problem kind for the rows given (their file line numbers). `every`: the
        column's values, read or not, that a hint must read too (a `date_format:` that read
        only the dates the mapping's format could not would no longer read the others)."""
        if rows.empty:
            return
        self.counts[kind] += len(rows)
        room = MAX_EXAMPLES_PER_KIND - sum(1 for p in self.examples if p.kind == kind)
        for row, value in list(zip(rows, values, strict=True))[: max(room, 0)]:
            self.examples.append(Problem(file, int(row), column, kind, _text(value)))
        if kind == NOT_A_NUMBER and column not in self.hinted:
            texts = values.dropna().astype("str").unique()[:100]
            hint = next((h for v in texts if (h := number_hint(v))), None)
            if hint is not None:
                self.hinted.add(column)
                self.note(f"{column}: {hint}")
        if kind == UNPARSEABLE_DATE and column not in self.hinted:
            unread = list(values.dropna().astype("str").unique()[: SAMPLE // 2])
            read = [] if every is None else list(every.dropna().astype("str").unique())
            # One that reads them all, else (dates the candidates do not cover among those
            # read) one for those unread.
            hint = date_hint(unread + read[: SAMPLE - len(unread)]) or date_hint(unread)
            if hint is not None:
                self.hinted.add(column)
                self.note(f"{column}: {hint}")

    def note(self, text: str | None) -> None:
        """Add a note once (a check made per chunk says it once per import); None adds none."""
        if text is not None and text not in self.notes:
            self.notes.append(text)

    def restate(self, key: str, text: str) -> None:
        """Say `text` as the note `key`: a count over the chunks read so far, which replaces,
        in its place, what `key` said after an earlier chunk."""
        old = self.stated.get(key)
        if old is not None and old in self.notes:
            self.notes[self.notes.index(old)] = text
        else:
            self.notes.append(text)
        self.stated[key] = text

    def tally(self, key: str, n: int, text: str) -> None:
        """Count `n` more of what the note `key` counts over every chunk, and say it: `text`
        with `{n}` the count so far (nothing is said while it is none)."""
        self.tallies[key] += n
        if self.tallies[key]:
            self.restate(key, text.format(n=f"{self.tallies[key]:,}"))

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "history_rows_written": self.history_rows_written,
            "field_rows_written": self.field_rows_written,
            "stage_changes": self.stage_changes,
            "bad_rows": self.bad_rows,
            "estimated_amounts": self.estimated_amounts,
            "estimated_created": self.estimated_created,
            "fixed_values": dict(self.fixed_values),
            "problems": dict(self.counts),
            "examples": [p.__dict__ for p in self.examples],
            "notes": self.notes,
            "written": self.written,
            "changed": self.changed,
        }


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def beyond_bounds(numbers: pd.Series) -> pd.Series:
    """Numbers no field may hold: beyond ±MAX_NUMBER, or not finite ("Infinity", "1e400"),
    which no model can learn from and no sum survives. A blank (NaN) is not one."""
    return numbers.abs() > MAX_NUMBER


def unparseable(raw: pd.Series, parsed: pd.Series) -> pd.Series:
    """Values present in the file that did not parse (blank cells were read as missing)."""
    return raw.notna() & parsed.isna()
