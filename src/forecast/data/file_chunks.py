"""Reading an export's files chunk by chunk, and the rows left out on the way.

Each chunk carries `__line`, its rows' line numbers in the file (problems name them). Rows with
no value and a report's footer lines at the end of a file (Salesforce and HubSpot reports add
"Confidential Information - Do Not Distribute" and a copyright) are skipped and counted, as are
the rows the mapping's `skip_rows` or `keep_rows` leaves out (Salesforce's deleted records, a
pipeline other than the one kept): each said once in the import's notes (`_say_skipped_lines`).
The main file's cells are spelled as its `value_fixes` write them where they differ only in case
or spaces (`value_fixes.respelled`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from forecast.data.board_rows import subitems_note, subitems_of
from forecast.data.loose import loose
from forecast.data.mapping import CsvOptions, Mapping
from forecast.data.reading import (
    blank_and_footer,
    is_parquet,
    iter_table,
    sniff_separator,
    titles_above,
)
from forecast.data.validation import ImportReport
from forecast.data.value_fixes import respelled
from forecast.errors import InvalidInput


class FileChunks:
    """The reading half of an import job (`forecast.data.importing._Job` sets the fields)."""

    mapping: Mapping
    report: ImportReport
    main: Path
    frame: pd.DataFrame | None  # rows given in memory, read as the main file
    chunk_rows: int
    csv: CsvOptions
    columns: dict[str, str]
    #: File name → (rows with no value, the report footer's lines) its reads left out.
    skipped_lines: dict[str, tuple[int, list[str]]]
    #: File name → rows `skip_rows` left out, per rule; the main file's deals so left out.
    skipped_by_rule: dict[str, Counter[str]]
    skipped_ids: set[str]
    history_of_skipped: int  # history rows of the deals `skip_rows` left out
    history_of_rejected: int  # history rows of the deals whose rows were bad

    def _chunks(self, file: Path) -> Iterator[pd.DataFrame]:
        """Raw chunks of a CSV or Parquet file, each with `__line`, its line number in the file
        (a Parquet file's record number: it has no header line)."""
        if self.frame is not None and file == self.main:
            blanks = ["", *self.mapping.missing_values]
            chunk = self.frame.replace(blanks, None)
            chunk = chunk.set_axis(pd.RangeIndex(0, len(chunk)))
            chunk["__line"] = chunk.index
            yield respelled(chunk, self.mapping.value_fixes)
            return
        start, empty = (1 if is_parquet(file) else 2 + self._titles(file)), 0
        subitems = [0, 0]  # a board's subitem rows and their header lines, blanked when read
        footer: list[str] = []
        ruled_out: Counter[str] = Counter()  # rows left out by `skip_rows`, per rule
        chunks = iter_table(file, self.chunk_rows, self.mapping.missing_values, self.csv)
        chunk = next(chunks, None)
        while chunk is not None:
            after = next(chunks, None)
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            chunk["__line"] = chunk.index
            start += len(chunk)
            blank, tail = blank_and_footer(chunk, last=after is None)
            rows, headers = subitems_of(chunk)
            subitems = [subitems[0] + rows, subitems[1] + headers]
            empty += int(blank.sum()) - rows - headers
            lines = chunk.loc[tail].drop(columns="__line")  # each said by its first value
            footer += lines.bfill(axis=1).iloc[:, 0].astype("str").tolist()
            kept = self._without_skipped(chunk[~(blank | tail)], file, ruled_out)
            if not kept.empty:
                yield respelled(kept, self.mapping.value_fixes) if file == self.main else kept
            chunk = after
        self.skipped_lines[file.name] = (empty, footer)  # each read of the file says the same
        self.report.note(subitems_note(file.name, *subitems))
        self.skipped_by_rule[file.name] = ruled_out

    def _titles(self, file: Path) -> int:
        """The title lines above a CSV's header (a board's export), for its rows' line numbers."""
        if is_parquet(file):
            return 0
        sep = self.csv.separator or sniff_separator(file, self.csv.encoding)
        return titles_above(file, self.csv.encoding, sep)

    def _without_skipped(
        self, chunk: pd.DataFrame, file: Path, counts: Counter[str]
    ) -> pd.DataFrame:
        """The chunk without the rows the mapping's `skip_rows` names, nor those its
        `keep_rows` does not (values matched ignoring case and spaces), counted per rule. A deal
        left out takes its history file's rows with it (`skipped_ids`)."""
        out = pd.Series(False, index=chunk.index)
        rules = [(c, v, True) for c, v in self.mapping.skip_rows.items()]
        rules += [(c, v, False) for c, v in self.mapping.keep_rows.items()]
        for column, values, skipped in rules:
            if column not in chunk and not skipped and file == self.main:
                raise InvalidInput(  # else every row would be kept, unsaid
                    f"keep_rows: {file.name} has no column {column!r} (its columns: "
                    f"{', '.join(repr(c) for c in chunk.columns if c != '__line')})"
                )
            if column not in chunk:
                continue
            wanted = {loose(v) for v in values}
            text = chunk[column].astype("str")
            named = chunk[column].notna() & text.isin(
                [v for v in text.unique() if loose(v) in wanted]  # each distinct value once
            )
            hit = (named if skipped else ~named) & ~out
            for value, n in chunk.loc[hit, column].fillna("").astype("str").value_counts().items():
                rule = f"{column} = {value}" if skipped else f"{column} = {value!r}, not kept"
                counts[rule] += int(n)
            out |= hit
        id_column = self.columns.get("id")  # not a column where the id is made (`hash_of`)
        if file == self.main and out.any() and isinstance(id_column, str) and id_column in chunk:
            ids = chunk.loc[out, id_column].dropna().astype("str").str.strip()
            self.skipped_ids.update(ids)
        return chunk[~out]

    @property
    def _rules(self) -> str:
        """The mapping's rules that leave rows out, named as the mapping writes them."""
        named = [k for k in ("skip_rows", "keep_rows") if getattr(self.mapping, k)]
        return " and ".join(named)

    def _say_skipped_lines(self) -> None:
        for name, ruled_out in self.skipped_by_rule.items():
            if ruled_out:
                rules = ", ".join(f"{rule} ({n:,})" for rule, n in ruled_out.most_common())
                said = f"{name}: {ruled_out.total():,} row(s) left out by {self._rules}: {rules}"
                self.report.note(said)
        if self.history_of_skipped:
            self.report.note(
                f"{self.mapping.history_file}: {self.history_of_skipped:,} row(s) of the deals "
                f"{self._rules} left out, left out with them"
            )
        if self.history_of_rejected:
            self.report.note(
                f"{self.mapping.history_file}: {self.history_of_rejected:,} row(s) of the deals "
                "whose rows were bad, left out with them (none of those deals is stored)"
            )
        for name, (blanks, footer) in self.skipped_lines.items():
            if blanks:
                self.report.note(
                    f"{name}: {blanks:,} row(s) with no value skipped (blank lines, or copies of "
                    "the header)"
                )
            if footer:
                shown = ", ".join(repr(line) for line in footer[:3]) + (
                    " …" if len(footer) > 3 else ""
                )
                self.report.note(
                    f"{name}: a report footer of {len(footer)} line(s) at its end skipped ({shown})"
                )
