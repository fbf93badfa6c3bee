"""A board's export (monday.com, and spreadsheets laid out like one): the board's title on the
first lines above the header, then each group of rows under its own heading line and a copy of
the header. The title lines are skipped; a group's heading and header copy are read as rows
with no value (skipped and counted, as a blank line is), so the rows of every group are read as
one table and a problem still names its line in the file."""

from __future__ import annotations

import csv
import re

import pandas as pd

#: Lines looked at for the title above a header.
TITLE_LINES = 20


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
