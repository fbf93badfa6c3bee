"""A date format wrong for the file, told apart from a few bad dates in it.

A mapping's `date_format: "%m/%d/%Y"` on an export written day first reads none of the dates
whose day is above 12, and reads the others with day and month swapped. Skipping the rows it
cannot read (`on_error="skip"`) would store the rest misread, and nothing would say so. So a
date column is judged as a whole: where the format fails on some values, another (the same
formats with day and month swapped, or another order `date_formats.covering_formats` finds)
reads every one of them, and the format reads the others only as that one could too, the
format is wrong for the file, and the import refuses the whole file, whatever `on_error`
says. A handful of values no format reads ("TBD", "31/02/2025") stay bad rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

from forecast.data.date_formats import (
    SAMPLE,
    UNMISTAKABLE_ORDERS,
    column_in_formats,
    covering_formats,
    yaml_list,
)

#: The values no format reads a column may hold beside a wrong format, looked at (each is
#: tried in every format the import knows: a few milliseconds).
GARBAGE_LOOKED_AT = 20
#: The fewest different dates the mapping's formats cannot read and another can that refuse
#: the file: one or two are typos, bad rows as any other.
MIN_EVIDENCE = 3
#: Values shown in the message.
SHOWN = 3
#: The alternative that is the mapping's own formats with day and month swapped.
SWAPPED = "the mapping's with day and month swapped"


def misread_format(raw: pd.Series, read: pd.Series, formats: Sequence[str]) -> str | None:
    """Why the file is refused, where `formats` (the mapping's, as `read` was read with) are
    wrong for the column `raw`; None where they are not (every value read, or the values they
    cannot read are a few bad ones, or dates in a second form beside theirs)."""
    if not (raw.notna() & read.isna()).any():
        return None
    values = raw[raw.notna()].drop_duplicates().reset_index(drop=True)
    text = values.astype("str").str.strip()
    mine = column_in_formats(values, formats)
    unread = mine.isna()
    found: dict[str, tuple[list[str], pd.Series]] = {}
    for order, theirs in _alternatives(text, unread, formats).items():
        dates = column_in_formats(values, theirs)
        if not _reads_every_date(text, unread, dates):
            continue
        if (~unread).any() and (mine[~unread] == dates[~unread]).all():
            return None  # they read alike: a form missing beside the mapping's, not a wrong one
        found[order] = (theirs, dates)
    if not found:
        return None
    return _message(str(raw.name), text, mine, found, formats)


def swapped(formats: Sequence[str]) -> list[str]:
    """The formats with day and month swapped where they come before the year ("%m/%d/%Y" →
    "%d/%m/%Y"); the others (year first, ISO 8601, months by name) as they are."""
    return [_swapped(f) for f in formats]


def _swapped(fmt: str) -> str:
    days = [fmt.find(d) for d in ("%d", "%m")]
    year = max(fmt.find("%Y"), fmt.find("%y"))
    if min(days) < 0 or year < max(days):
        return fmt
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _alternatives(
    text: pd.Series, unread: pd.Series, formats: Sequence[str]
) -> dict[str, list[str]]:
    """Formats that might read the column instead: the mapping's with day and month swapped,
    and, per date order, those that read a sample of its values (a few values no format
    reads left out)."""
    out = {}
    if (other := swapped(formats)) != list(formats):
        out[SWAPPED] = other
    sample = [*text[unread].head(SAMPLE // 2), *text[~unread].head(SAMPLE // 2)]
    covering = covering_formats(sample)
    if not covering:
        dates = [v for v in sample[:GARBAGE_LOOKED_AT] if _some_format_reads(v)]
        covering = covering_formats(dates + sample[GARBAGE_LOOKED_AT:])
    return out | covering


def _reads_every_date(text: pd.Series, unread: pd.Series, theirs: pd.Series) -> bool:
    """Whether other formats (`theirs`: their reading of each value) read a few values the
    mapping's cannot (`unread`) and every value the mapping's read; values neither reads
    must be a few that no format reads."""
    evidence = int((unread & theirs.notna()).sum())
    if evidence < MIN_EVIDENCE or theirs[~unread].isna().any():
        return False
    left = text[unread & theirs.isna()]
    if len(left) > GARBAGE_LOOKED_AT:
        return False
    return not any(_some_format_reads(v) for v in left)


@lru_cache(maxsize=4096)
def _some_format_reads(value: str) -> bool:
    """Whether the value is a date in any form the import knows (else it is a bad value, not
    a sign of the file's format); repeated values ("TBD") are looked at once."""
    return bool(covering_formats([value]))


def _message(
    column: str,
    text: pd.Series,
    mine: pd.Series,
    found: dict[str, tuple[list[str], pd.Series]],
    formats: Sequence[str],
) -> str:
    """The refusal: the column, the format given, the one the values fit, examples, and what
    to set."""
    given = (
        "ISO 8601 (the mapping gives no date_format)"
        if list(formats) == ["ISO8601"]
        else f"the mapping's date_format: {yaml_list(list(formats))}"
    )
    unread = mine.isna()
    orders = {order: fit for order, fit in found.items() if order != SWAPPED} or found
    order, (theirs, dates) = next(iter(orders.items()))
    shown = ", ".join(repr(v) for v in text[unread & dates.notna()].head(SHOWN))
    fits = f"{yaml_list(theirs)} ({order})" if order != SWAPPED else yaml_list(theirs)
    if SWAPPED in found:  # the mapping's own list, swapped, reads the column
        fix = f"{yaml_list(found[SWAPPED][0])} (the same formats, day and month swapped)"
    elif order in UNMISTAKABLE_ORDERS and list(formats) != ["ISO8601"]:
        # Read beside the formats given (they read other columns): no date reads two ways.
        fix = yaml_list([*formats, *(f for f in theirs if f not in formats)])
    else:
        fix = yaml_list(theirs)
    skipping = "keep the others misread" if (~unread).any() else "leave out every one dated"
    refused = (
        f"Skipping the rows it cannot read would {skipping}, so the whole file is refused, even "
        f"where bad rows are skipped; nothing was written: set date_format: {fix} in the "
        "mapping and import again"
    )
    if not (~unread).any():
        if len(orders) > 1:
            either = " or ".join(f"{yaml_list(f)} ({o})" for o, (f, _) in orders.items())
            return (
                f"{column}: {given} reads none of its dates ({shown}), while either order "
                f"reads every one (no day above 12): {either}. Set the mapping's date_format "
                f"as the CRM writes them and import again; nothing was written"
            )
        return (
            f"{column}: {given} reads none of its dates ({shown}), while {fits} reads every "
            f"one. {refused}"
        )
    differ = (~unread & (mine != dates)).idxmax()
    example = (
        f"{text[differ]!r} read as {_day(mine[differ])}, where {yaml_list(theirs)} reads "
        f"{_day(dates[differ])}"
    )
    return (
        f"{column}: {given} is wrong for this file: it cannot read dates like {shown}, and "
        f"reads the others differently from {fits}, which reads every date of the column "
        f"({example}). {refused}"
    )


def _day(when: pd.Timestamp) -> str:
    """A date as a reader checks it: the day, and the time where there is one."""
    return when.strftime("%Y-%m-%d" if when == when.normalize() else "%Y-%m-%d %H:%M")
