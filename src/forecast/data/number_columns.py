"""A lead column's or a deal feature's values read as numbers where every one is a number in
the mapping's notation ("1.234,5", "$2,749", "47.5%"), with a note that says which `csv:` option
reads a column that almost is one: read as text, such a column would be a category of rare
levels or an identifier. A half of the import job (`forecast.data.rows.CanonicalRows`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pandas.api.types import is_numeric_dtype

from forecast.data.attributes import written_as_codes
from forecast.data.mapping import CsvOptions
from forecast.data.reading import (
    AMOUNT,
    grouping_shown,
    iter_table,
    localized_numbers,
    number_hint,
    percents,
    reads_as_number,
)

if TYPE_CHECKING:
    from pathlib import Path

    from forecast.data.mapping import Mapping
    from forecast.data.validation import ImportReport


class NumberColumns:
    """Reads columns as numbers; the import job sets the fields."""

    mapping: Mapping
    report: ImportReport
    features: dict[str, str]
    main: Path
    csv: CsvOptions
    frame: pd.DataFrame | None
    groupings: dict[str, CsvOptions | None]  # a lead column → the grouping its values show
    columns: dict[str, str]  # a canonical field → the export's column

    def _probability_with_a_point(self, given: pd.Series, read: pd.Series) -> pd.Series:
        """A probability column written with a point ("65.000") in a file whose amounts have a
        decimal comma ("4.850,00": Vtiger in Italian) reads 65000 in the file's notation, which
        no probability is: where every such value reads 0–100 with a point, it is read so,
        and said."""
        over = read > 100
        if self.csv.decimal == "." or not over.any():
            return read
        pointed = pd.to_numeric(given.astype("str").str.strip(), errors="coerce")
        if not pointed[over].between(0, 100).all():
            return read
        example = given[over].iloc[0]
        self.report.note(
            f"{self.columns['rep_probability']}: probabilities written with a point as the "
            f"decimal mark ({example!r}), unlike the file's numbers: read so"
        )
        return read.where(~over, pointed)

    def _feature_values(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The `features:` columns under their names: numbers where every value given reads
        as one in the mapping's notation ("1.234,5" included), else text."""
        out = pd.DataFrame(index=raw.index)
        for name, column in self.features.items():
            values = raw[column]
            if not is_numeric_dtype(values):
                fixed = self._numbers_if_all_are(values)
                numbers = pd.to_numeric(fixed, errors="coerce")
                if values.notna().any() and numbers[values.notna()].notna().all():
                    values = numbers
                else:
                    values = values.astype("str").str.strip().where(values.notna())
            out[name] = values
        return out

    def _numbers_if_all_are(self, values: pd.Series) -> pd.Series:
        """A lead column whose every value is a number in the mapping's notation ("1.234,5"),
        as numbers in text ("1234.5"), a percent as its number ("47.5%" is 47.5, as the API
        reads it); any other column unchanged, and so is one of codes ("02134": a zip code)."""
        if written_as_codes(values):
            return values
        stripped, percent = percents(values)
        fixed = localized_numbers(stripped, self.csv)
        present = values.notna()
        numbers = pd.to_numeric(fixed[present], errors="coerce")
        if numbers.notna().all():
            if percent.any():
                self.report.note(
                    f"{values.name}: read as numbers, their percent signs dropped "
                    f"({values[percent].iloc[0]!r} is {fixed[percent].iloc[0]})"
                )
            return fixed
        unread = values[present][numbers.isna().to_numpy()].astype("str")
        # A grouping mark reads only values written as amounts ("287,288"): for a column with
        # none among those it could not read (words), the file is not read again to find one.
        amounts = any(AMOUNT.match(v) for v in unread.unique())
        grouped = self._grouping_of(str(values.name)) if amounts else None
        if grouped is not None:  # "3,269,017" beside "287,288": the column groups thousands
            again = localized_numbers(values, grouped)
            if pd.to_numeric(again[present], errors="coerce").notna().all():
                self.report.note(
                    f"{values.name}: read as numbers with {grouped.thousands!r} grouping "
                    f"thousands, as its values show (set csv: thousands to say so)"
                )
                return again
        placeholders = _placeholders(unread, int(numbers.notna().sum()))
        if placeholders:  # "N/A" or "-" among numbers: no value, not a reason to read text
            read = fixed.where(~values.astype("str").isin(placeholders))
            if pd.to_numeric(read[present], errors="coerce").notna().sum() == numbers.notna().sum():
                shown = ", ".join(repr(v) for v in placeholders)
                self.report.note(
                    f"{values.name}: read as numbers, {shown} ({len(unread)} "
                    f"row{'s' if len(unread) != 1 else ''}) as blank "
                    f"(a mapping's missing_values: [{', '.join(placeholders)}] says so)"
                )
                return read
        if not self._numbers_hint(unread, values):
            self._mostly_numbers(values.name, int(numbers.notna().sum()), unread)
        return values

    def _grouping_of(self, column: str) -> CsvOptions | None:
        """The thousands grouping a column's values show anywhere in the file (`grouping_shown`),
        found once for the file: every chunk reads the column alike, as a whole read must."""
        if column not in self.groupings:
            chunks = (
                [self.frame]
                if self.frame is not None
                else iter_table(self.main, 200_000, self.mapping.missing_values, self.csv)
            )
            found = None
            for raw in chunks:
                if found is None and column in raw.columns:
                    found = grouping_shown(raw[column].dropna().astype("str").unique(), self.csv)
            self.groupings[column] = found
        return self.groupings[column]

    def _numbers_hint(self, texts: pd.Series, values: pd.Series) -> bool:
        """Where every value of a lead column that is no number in the mapping's notation would
        be one with other `csv:` marks ("1,305", "$3,157,186"), the note says which: read as
        text, such a column is a category of rare levels or an identifier, and lost. True when
        it said so. `texts`: those of the column `values` that are no number.

        A few placeholders ("n/a", "—") are read as blanks once the others read as numbers:
        said where one notation reads every other value of the column ("2.5" beside "1.234,5"
        is none)."""
        column, texts = str(values.name), texts.astype("str")
        words = texts[~texts.str.contains(r"\d")]
        if len(words):
            given = values.dropna().astype("str").str.strip()
            given = given[given.str.contains(r"\d")]
            distinct = given.unique()[:1000]
            if _placeholders(words, len(given)) != sorted(set(words)) or not any(
                all(reads_as_number(v, o) for v in distinct) for o in NOTATIONS
            ):
                return False
        distinct = texts.drop(words.index).unique()[:100]
        hints = [number_hint(v) for v in distinct]
        if not hints or any(h is None for h in hints):
            return False
        clear = [h for h in hints if h is not None and "ambiguous" not in h]
        also = (
            f" ({', '.join(repr(w) for w in sorted(set(words)))} then as blank)"
            if len(words)
            else ""
        )
        self.report.note(f"{column}: read as text, not as numbers: {(clear or hints)[0]}{also}")
        return True

    def _mostly_numbers(self, column: object, numbers: int, unread: pd.Series) -> None:
        """A column mostly of numbers with other text among them ("51-200" beside "523") is read
        as text: every number a category of its own, which the model learns as rare levels and
        a new number finds none. Said, with how to read it as numbers."""
        if numbers < len(unread):
            return
        shown = ", ".join(repr(v) for v in unread.astype("str").unique()[:3])
        self.report.note(
            f"{column}: {MOSTLY_NUMBERS_READ_AS_TEXT}, though {numbers:,} of "
            f"its {numbers + len(unread):,} values are numbers; the {len(unread):,} others are "
            f"not ({shown}): write them as numbers (a range as its middle), or list them in the "
            "mapping's missing_values to read them as blank and the column as numbers"
        )


#: How the note on a column mostly of numbers read as text begins (after the column's name):
#: what a model learns from the file. A file scored is read by the served model's own inputs,
#: so `forecast score` leaves this note out (`training.score_cli`).
MOSTLY_NUMBERS_READ_AS_TEXT = "read as text, each value a category of its own"
#: The notations a column of numbers with placeholders among them is checked in before its
#: note names one (`_numbers_hint`).
NOTATIONS = (
    CsvOptions(decimal=",", thousands="."),
    CsvOptions(decimal=","),
    CsvOptions(thousands=","),
)
#: At most this many distinct texts among numbers are read as placeholders for no value.
PLACEHOLDERS = 3


def _placeholders(unread: pd.Series, numbers: int) -> list[str]:
    """The texts among a column's numbers that stand for no value ("N/A", "-", "unknown"): a
    few distinct ones without a digit, in a column that is mostly numbers. Empty otherwise."""
    distinct = sorted(set(unread.str.strip()))
    if not distinct or len(distinct) > PLACEHOLDERS or numbers < len(unread):
        return []
    if any(any(ch.isdigit() for ch in text) or len(text) > 12 for text in distinct):
        return []
    return sorted(set(unread))
