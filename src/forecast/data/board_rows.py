"""A board's export (monday.com, and spreadsheets laid out like one): the board's title on the
first lines above the header, then each group of rows under its own heading line and a copy of
the header. The title lines are skipped; a group's heading and header copy are read as rows
with no value (skipped and counted, as a blank line is), so the rows of every group are read as
one table and a problem still names its line in the file.

An item's subitems (monday.com's tasks of a deal) follow it: a subitem header line (a blank
first cell, or "Subitems", then the subitem columns' names: ",Name,Owner,Status,Date") and one
row per subitem, its first cell blank, until the next line with a first cell (the next item, a
group's heading, a header copy). They are no deals: blanked as well (`BoardRows`), and counted
apart in the chunk's `attrs` (`SUBITEM_ROWS`, `SUBITEM_HEADERS`) for the import to say so."""

from __future__ import annotations

import csv
import re

import pandas as pd

#: Lines looked at for the title above a header.
TITLE_LINES = 20
#: A chunk's `attrs` keys: the subitem rows, and the subitem header lines, `BoardRows` blanked.
SUBITEM_ROWS = "subitem_rows"
SUBITEM_HEADERS = "subitem_headers"
#: A subitem header's first cell where it is not blank, compared ignoring case.
SUBITEM_WORDS = frozenset({"subitems", "subitem"})


def title_lines(lines: list[str], sep: str) -> int:
    """How many of the file's first `lines` are a title above its header: lines with one value
    at most, where a later one holds several (the header). A one-column file has none."""
    for i, row in enumerate(csv.reader(lines[:TITLE_LINES], delimiter=sep)):
        if sum(1 for cell in row if cell.strip()) > 1:
            return i
    return 0


def first_separated(lines: list[str], separators: tuple[str, ...]) -> str:
    """The first of `lines` that holds a separator outside quotes (a header under a board's
    title line), else the first line."""
    bare = [re.sub(r'"[^"]*"', "", line) for line in lines[:TITLE_LINES]]  # quoted: any mark
    return next((b for b in bare if any(sep in b for sep in separators)), bare[0] if bare else "")


def without_group_headings(chunk: pd.DataFrame) -> pd.DataFrame:
    """The chunk with a group's header copy (a row whose values are the column names) and the
    heading line before it (a value in the first column only) blanked: rows with no record."""
    names = pd.Series([str(c).strip() for c in chunk.columns], index=chunk.columns)
    first = chunk.iloc[:, 0].astype("str").str.strip()
    if chunk.shape[1] < 2 or not bool((first == names.iloc[0]).any()):
        return chunk  # no header copy: most files, read at no cost
    text = chunk.astype("str").apply(lambda c: c.str.strip()).where(chunk.notna())
    given = text.notna().sum(axis=1)
    copy = ((text == names).sum(axis=1) >= ((given + 1) // 2).clip(lower=2)) & (given > 1)
    if not copy.any():
        return chunk
    filled = chunk.notna()
    only_first = filled.iloc[:, 0] & ~filled.iloc[:, 1:].any(axis=1)
    heading = only_first & copy.shift(-1, fill_value=False)
    return chunk.mask(copy | heading)


class BoardRows:
    """A file's chunks, in order, with a board's group headings and header copies
    (`without_group_headings`) and its items' subitems blanked. Whether the previous chunk ended
    among an item's subitems (or on an item) is carried to the next chunk.

    A subitem header is a line with a blank first cell (or "Subitems"), two values or more,
    none holding a digit (column names, where a deal's row holds an id, an amount or a date),
    right under a line with a first cell and a value more (an item); and the file is a board
    with subitems (a "Subitems" column, where monday.com lists each item's), or two of the
    line's values name the file's own columns (",Name,Owner,Status,Date"). The lines below it
    with a blank first cell are its subitems. Any other file is read as it is: a lead's row
    missing its first name (",Doe,jane@example.com,lead") stays a row."""

    def __init__(self) -> None:
        self.among_subitems = False  # the previous chunk's last line was in a subitem block
        self.after_item = False  # ... or was an item (a subitem header may follow it)

    def rows(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk with its subitems and group headings blanked; `attrs` count the subitems."""
        header, block = self._subitems(chunk)
        if block.any():
            chunk = chunk.mask(block)
        out = without_group_headings(chunk)
        out.attrs[SUBITEM_HEADERS] = int(header.sum())
        out.attrs[SUBITEM_ROWS] = int((block & ~header).sum())
        return out

    def _subitems(self, chunk: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Masks of the chunk's subitem header lines, and of every line of a subitem block that
        holds a value (its header line included)."""
        none = pd.Series(False, index=chunk.index)
        if chunk.shape[1] < 3 or chunk.empty:
            return none, none
        lead = chunk.iloc[:, 0]
        blank_first = lead.isna() | lead.astype("str").str.strip().str.casefold().isin(
            {"", *SUBITEM_WORDS}
        )
        if not blank_first.any() and not self.among_subitems:  # most files: no cost
            self.after_item = bool(chunk.iloc[-1, 1:].notna().any())
            return none, none
        text = chunk.astype("str").apply(lambda c: c.str.strip()).where(chunk.notna(), "")
        filled = text != ""
        first = text.iloc[:, 0]
        worded = first.str.casefold().isin(SUBITEM_WORDS)
        starts_line = filled.iloc[:, 0] & ~worded  # an item, a heading, a header copy
        others = filled.iloc[:, 1:].sum(axis=1)
        item = starts_line & (others > 0)
        digits = text.iloc[:, 1:].apply(lambda c: c.str.contains(r"\d")).any(axis=1)
        above = item.shift(1, fill_value=self.after_item)
        names = {str(c).strip().casefold() for c in chunk.columns}
        named = text.iloc[:, 1:].apply(lambda c: c.str.casefold().isin(names)).sum(axis=1)
        board = named >= 2 if SUBITEM_WORDS.isdisjoint(names) else True
        header = ~starts_line & (others >= 2) & ~digits & above & board
        if not header.any() and not self.among_subitems:
            self.after_item = bool(item.iloc[-1])
            return none, none
        state = pd.Series(pd.NA, index=chunk.index, dtype="boolean")
        state[starts_line] = False
        state[header] = True
        inside = state.ffill().fillna(self.among_subitems).astype(bool)
        self.among_subitems = bool(inside.iloc[-1])
        self.after_item = bool(item.iloc[-1])
        return header, inside & filled.any(axis=1)


def subitems_of(chunk: pd.DataFrame) -> tuple[int, int]:
    """The subitem rows and subitem header lines `BoardRows` blanked in a chunk."""
    return int(chunk.attrs.get(SUBITEM_ROWS, 0)), int(chunk.attrs.get(SUBITEM_HEADERS, 0))


def subitems_note(file: str, rows: int, headers: int) -> str | None:
    """What an import or a draft says of the subitems it left out (None where there were none)."""
    if not rows and not headers:
        return None
    return (
        f"{file}: {rows:,} subitem row(s) under {headers:,} item(s) left out, with their header "
        "lines (a board's subitems: tasks of a deal, not deals)"
    )


def subitems_check(sample: pd.DataFrame | None) -> str | None:
    """What a draft says of the subitems among the rows it read: left out, as the import does."""
    rows, headers = subitems_of(sample) if sample is not None else (0, 0)
    if not rows and not headers:
        return None
    return (
        f"subitem lines left out ({rows:,} subitem row(s) under {headers:,} item(s) in the rows "
        "drafted from): a board's subitems are tasks of a deal, not deals; the import leaves "
        "them all out and counts them"
    )
