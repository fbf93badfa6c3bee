"""Which `date_format:` would read dates the mapping's format cannot ("12/31/2024" in a file read
as ISO 8601): said in the import's notes, never guessed. A column where every day and month is
12 or less could be either order ("02/03/2024"), so both are said and the user picks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd

#: Date orders spreadsheets and CRMs write, each with the separators they use.
_DAYS = [(f"%m{s}%d{s}%Y", "month first") for s in "/-."] + [
    (f"%d{s}%m{s}%Y", "day first") for s in "/-."
]
_DAYS += [("%m/%d/%y", "month first"), ("%d/%m/%y", "day first"), ("%d.%m.%y", "day first")]
_DAYS += [("%Y-%m-%d", "year first"), ("%Y/%m/%d", "year first"), ("%Y.%m.%d", "year first")]
#: Months by name ("Jan 5, 2024", "05-Jan-2024", "5 January 2024"): one order, never ambiguous.
_DAYS += [
    (f"{month}{s}", "month named")
    for month in ("%b", "%B")
    for s in (" %d, %Y", " %d %Y", "-%d-%Y")
] + [(f"%d{s}{month}{s}%Y", "month named") for month in ("%b", "%B") for s in (" ", "-")]
_DAYS += [("%d-%b-%y", "month named")]
#: Times: 24-hour, 12-hour with "PM" apart or glued to the minutes (SugarCRM's "06:46pm").
_TIMES = (
    *("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p", " %I:%M:%S%p"),
    *("T%H:%M:%S", "T%H:%M:%SZ"),
)
CANDIDATES = [(day + time, order) for day, order in _DAYS for time in _TIMES]
#: The values of a column a hint is found from.
SAMPLE = 100


#: Why dates a hint is about were not read, said the same whatever the mapping gives.
NOT_READ = (
    "are not read: they are in no format the mapping reads (its date_format, or ISO 8601 "
    "where it gives none)"
)


def date_hint(values: Iterable[object]) -> str | None:
    """The `date_format:` that reads every sampled value (several formats where date-only values
    sit beside date-times), or both orders where either could, or None when none reads them.
    Said as what happened (the dates were not read) and what would read them: the import and
    `forecast score` show it as it is, beside what became of the dates' rows."""
    sample = list(dict.fromkeys(str(v).strip() for v in values if v is not None))
    sample = [v for v in sample if v][:SAMPLE]
    reading = covering_formats(sample)
    if not reading:
        return None
    example = sample[0]
    said = [f"{yaml_list(formats)} ({order})" for order, formats in reading.items()]
    if len(said) == 1:
        return f"dates like {example!r} {NOT_READ}; set date_format: {said[0]} to read them"
    return (
        f"dates like {example!r} could be either order (no day above 12): set the mapping's "
        f"date_format: {' or '.join(said)}, as the CRM writes them"
    )


def covering_formats(values: Iterable[object]) -> dict[str, list[str]]:
    """Per date order ("day first", ...), the formats that read every sampled value."""
    sample = list(dict.fromkeys(str(v).strip() for v in values if v is not None))
    sample = [v for v in sample if v][:SAMPLE]
    orders = dict.fromkeys(order for _, order in CANDIDATES)
    return {order: f for order in orders if sample and (f := _cover(sample, order)) is not None}


#: Orders a value cannot be read in two ways: a column that mixes them with day/month dates
#: ("2023-01-05" beside "01/31/2023", as a web form's merged exports do) is read with both.
UNMISTAKABLE_ORDERS = ("year first", "month named")


def _cover(sample: list[str], order: str) -> list[str] | None:
    """Formats of one order that read every value between them (fewest first found), or None.
    A day/month order takes formats of the unmistakable orders too for the values its own
    formats do not read, once its own read some."""
    left, chosen = list(sample), list[str]()
    own = [fmt for fmt, its_order in CANDIDATES if its_order == order]
    others = [fmt for fmt, o in CANDIDATES if o in UNMISTAKABLE_ORDERS and o != order]
    for fmt in own + (others if order not in UNMISTAKABLE_ORDERS else []):
        if fmt in others and not chosen:
            return None  # none of its own order: the unmistakable ones say it on their own
        read = [v for v in left if _reads(v, fmt)]
        if read:
            chosen.append(fmt)
            left = [v for v in left if v not in read]
            if not left:
                return chosen
    return None


def yaml_list(formats: list[str]) -> str:
    """Formats as a mapping writes them: one quoted, several as a list."""
    quoted = [f'"{f}"' for f in formats]
    return quoted[0] if len(quoted) == 1 else f"[{', '.join(quoted)}]"


def _reads(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


#: "UTC" or "GMT" written after a time ("2024-03-05 14:22:10 UTC", as databases export them).
UTC_SUFFIX = re.compile(r"(?<=\d)\s*(?:UTC|GMT)$")


#: An ISO 8601 date or date-time ("2024-03-14", "2024-03-14T09:30:00Z"): one reading only.
ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def in_formats(value: str, formats: Sequence[str]) -> pd.Timestamp | None:
    """One date read as `column_in_formats` reads a column: each format in turn, then the same
    without a "UTC"/"GMT" after the time, then as ISO 8601; naive UTC, or None where none reads
    it (a CRM scores a lead with its creation date written as its export writes it). Value by
    value, not through a Series of one: a sixth of the time, which a batch of leads pays per
    lead."""
    for text in dict.fromkeys((value, UTC_SUFFIX.sub("", value))):
        for fmt in formats:
            when = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
            if not pd.isna(when):
                return when.tz_localize(None)
    if "ISO8601" not in formats and ISO_DATE.fullmatch(value.strip()):
        when = pd.to_datetime(value.strip(), format="ISO8601", errors="coerce", utc=True)
        return None if pd.isna(when) else when.tz_localize(None)
    return None


def column_in_formats(raw: pd.Series, formats: Sequence[str]) -> pd.Series:
    """A column's dates in the mapping's formats (`date_format`), tried in order, as naive UTC; a
    time written with a "UTC" or "GMT" after it ("2024-03-05 14:22:10 UTC", as databases export
    them) is read with the suffix dropped; an ISO 8601 date no format read is read as ISO, as
    the API reads a date whatever the mapping's format (it cannot be read two ways). NaT where
    none reads a value."""
    parsed = pd.to_datetime(raw, format=formats[0], errors="coerce", utc=True)
    for fmt in formats[1:]:  # each next format reads what the ones before could not
        left = parsed.isna() & raw.notna()
        if not left.any():
            return parsed.dt.tz_localize(None).astype("datetime64[us]")
        parsed[left] = pd.to_datetime(raw[left], format=fmt, errors="coerce", utc=True)
    left = parsed.isna() & raw.notna()
    if left.any():
        text = raw[left].astype("str")
        text = text[text.str.contains(UTC_SUFFIX)]
        plain = text.str.replace(UTC_SUFFIX, "", regex=True)
        for fmt in formats if not plain.empty else ():
            done = pd.to_datetime(plain, format=fmt, errors="coerce", utc=True)
            parsed[done.dropna().index] = done.dropna()
            plain = plain[done.isna()]
    left = parsed.isna() & raw.notna()
    if left.any() and "ISO8601" not in formats:
        text = raw[left].astype("str").str.strip()
        iso = text[text.map(lambda v: ISO_DATE.fullmatch(v) is not None).astype(bool)]
        done = pd.to_datetime(iso, format="ISO8601", errors="coerce", utc=True).dropna()
        parsed[done.index] = done
    return parsed.dt.tz_localize(None).astype("datetime64[us]")
