"""The number notation a draft mapping names: a `csv:` line where an export's amounts (or a
lead file's number-like columns) read as numbers only with a decimal comma ("7.348,92"), or
only with a comma grouping thousands that another value proves ("$14,300" beside "$4,400.00")."""

from __future__ import annotations

import re

import pandas as pd

from forecast.data.date_formats import SAMPLE
from forecast.data.draft_stages import quoted
from forecast.data.number_columns import PLACEHOLDERS
from forecast.data.reading import AMOUNT, CsvOptions, reads_as_number

#: A comma followed by other than three digits: a decimal mark, never a thousands one.
DECIMAL_COMMA = re.compile(r",(?:\d{1,2}|\d{4,})(?!\d)")
#: A comma, three digits, then a decimal point ("$4,400.00"): the comma groups thousands.
THOUSANDS_COMMA = re.compile(r"\d,\d{3}\.\d")
THOUSANDS_LINE = (CsvOptions(thousands=","), 'csv: {thousands: ","}')
#: Whole numbers grouped by commas ("1,200", "12,000"): in a lead's count column (employees)
#: most likely thousands, proposed for the user to check (an amount's "5,000" is left asked).
WHOLE_GROUPS = re.compile(r"\d{1,3}(?:,\d{3})+")
#: The notations a money column is tried in when it does not read as written in English:
#: European ("7.348,92"), a decimal comma alone ("19 637,59", spaces grouping).
NOTATIONS = (
    (CsvOptions(decimal=",", thousands="."), 'csv: {decimal: ",", thousands: "."}'),
    (CsvOptions(decimal=","), 'csv: {decimal: ","}'),
)


def number_notation(sample: pd.DataFrame, columns: dict[str, str], checks: list[str]) -> list[str]:
    """A `csv:` line where the amounts read as numbers only with a decimal comma (none where
    they read as written, or in no notation tried)."""
    texts = [
        v
        for f in ("amount", "list_price")
        if f in columns
        for v in sample[columns[f]].dropna().astype("str").str.strip().head(SAMPLE)
        if any(ch.isdigit() for ch in v)  # "TBD" says nothing of the notation
    ]
    return _notation_of(texts, checks, "amounts")


#: The most words a draft lists as amounts not known yet ("TBD", "N/A"): more are no amounts.
MAX_WORDS = 3


def amount_words(sample: pd.DataFrame, columns: dict[str, str], checks: list[str]) -> list[str]:
    """A `missing_values:` line for the words an amount column holds beside its numbers (a
    hand-kept tracker's "TBD"): each would otherwise be a bad row that rejects the import."""
    if "amount" not in columns:
        return []
    values = sample[columns["amount"]].dropna().astype("str").str.strip().head(SAMPLE)
    words = [v for v in values.unique() if v and not any(ch.isdigit() for ch in v)]
    if not words or len(words) > MAX_WORDS or len(words) == len(values.unique()):
        return []
    shown = ", ".join(quoted(w) for w in words)
    checks.append(f"amounts written as {words} read as not known (missing_values): check")
    return [f"missing_values: [{shown}]   # amounts not known yet: read as blank"]


def lead_numbers(sample: pd.DataFrame, columns: dict[str, str], checks: list[str]) -> list[str]:
    """`number_notation` for a lead file: its number-like columns (digits and marks alone)
    other than the mapped ones, read with a decimal comma only if they must be. A column no
    notation reads as numbers ("+34 668017409": phone numbers) is not one of them."""
    texts: list[str] = []
    notations = [CsvOptions(), *(options for options, _ in NOTATIONS)]
    for column in sample.columns:
        if column in columns.values():
            continue
        values = sample[column].dropna().astype("str").str.strip().head(SAMPLE)
        values = values[values != ""]
        # A few texts without a digit ("n/a", "—") the import reads as blanks among numbers
        words = values[~values.str.contains(r"\d")]
        if words.nunique() <= PLACEHOLDERS and len(words) <= len(values) - len(words):
            values = values.drop(words.index)
        dates = values.str.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}.*")  # "05.03.2024"
        if len(values) and values.str.fullmatch(r"[+-]?\d[\d.,\s]*").all() and not dates.any():
            if any(all(reads_as_number(v, o) for v in values) for o in notations):
                texts += values.tolist()
    return _notation_of(texts, checks, "numbers", whole_groups=True)


def _notation_of(
    texts: list[str], checks: list[str], what: str, whole_groups: bool = False
) -> list[str]:
    """The `csv:` line (and its check) that reads `texts` as numbers where they do not read
    as written but only with a decimal comma, or with a comma grouping thousands."""
    if not texts or all(reads_as_number(v, CsvOptions()) for v in texts):
        return []
    # Only a decimal part a thousands group cannot be ("7.348,92", "637,5") says the comma is
    # the decimal mark: "5,000" alone may be five thousand, and the import asks which, unless
    # another value groups its thousands so before a decimal point ("$4,400.00" beside "$14,300").
    if not any(DECIMAL_COMMA.search(v) for v in texts):
        options, line = THOUSANDS_LINE
        shown = next((v for v in texts if THOUSANDS_COMMA.search(v)), None)
        if shown is None and whole_groups:  # no decimal point: whole numbers grouped alike
            shown = next((v for v in texts if _whole_groups(v)), None)
        if shown is None or not all(reads_as_number(v, options) for v in texts):
            grouped = next((v for v in texts if _whole_groups(v)), None)
            if shown is None and grouped is not None:
                # "12,500" alone: a thousands comma or a decimal one; the user knows which.
                checks.append(
                    f"{what} like {grouped!r} do not read as numbers as written: add "
                    f"{line} if the comma groups thousands, or "
                    'csv: {decimal: ","} if it is the decimal mark'
                )
            return []
        checks.append(f"{what} like {shown!r} group thousands with a comma: check")
        return [line]
    for options, line in NOTATIONS:
        if all(reads_as_number(v, options) for v in texts):
            shown = next((v for v in texts if DECIMAL_COMMA.search(v)), texts[0])
            checks.append(f"{what} like {shown!r} are read with a decimal comma: check")
            return [line]
    return []


def _whole_groups(value: str) -> bool:
    """Whether a value is a whole number grouped by commas, with or without a currency symbol
    or code before or after it ("$15,400", "15,400 EUR"), as the import reads an amount."""
    found = AMOUNT.match(value)
    return WHOLE_GROUPS.fullmatch(found.group("body").strip() if found else value) is not None
