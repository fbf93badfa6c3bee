"""Reading export files: CSV or Parquet, in chunks, every column as text, with clear errors.

An unreadable file (empty, not CSV, not UTF-8, not Parquet, an Excel workbook) is `InvalidInput`
naming the file, never a parser's stack trace. Missing is a blank cell and the values the mapping
lists in `missing_values:`, nothing else: a region "NA" (North America) or a name "None" is text.
A CSV is read with the mapping's `csv:` options (separator, encoding); without a separator, the
header line decides between comma, semicolon and tab, as European spreadsheets write `;` with
decimal commas. Numbers stay text here: `localized_numbers` rewrites "1.234,5" or "$2,749" as
"1234.5" / "2749" where a field is read as a number, so an id or a name with a comma is never
changed; `number_hint` and `dotted_thousands_note` say which `csv:` option reads what it cannot.
"""

from __future__ import annotations

import bz2
import codecs
import functools
import gzip
import io
import lzma
import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, cast

import pandas as pd
import pyarrow.parquet as pq

from forecast.data.board_rows import (
    TITLE_LINES,
    BoardRows,
    first_separated,
    title_lines,
)
from forecast.data.mapping import CsvOptions, loose_key
from forecast.errors import InvalidInput

SEPARATORS = (",", ";", "\t", "|")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls")
#: A zip archive (xlsx) and an OLE2 compound file (xls) start with these bytes.
EXCEL_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
#: Currency symbols and ISO 4217 codes an amount may carry ("$2,749", "USD 3,500.13",
#: "2.748,67 €"); a code must be a known one, so "SKU123" or "ABC 12" is never read as a number.
CURRENCY_SYMBOLS = "$€£¥₹₩₽₺₪₫₴₦₱¢"
CURRENCY_CODES = frozenset(
    "USD EUR GBP JPY CHF CAD AUD NZD SEK NOK DKK ISK PLN CZK HUF RON BGN RUB UAH TRY ILS AED "
    "SAR QAR KWD EGP ZAR NGN KES MAD INR PKR CNY RMB HKD TWD SGD MYR THB IDR PHP VND KRW BRL "
    "MXN ARS CLP COP PEN".split()
)
#: Written before an amount for a currency, beside the symbols and codes: the rupee's "Rs.".
CURRENCY_WORDS = frozenset({"rs", "rs."})
_CURRENCY = rf"(?:(?i:rs)\.?|[A-Z]{{0,2}}[{re.escape(CURRENCY_SYMBOLS)}]|[A-Za-z]{{3}})"
#: Spaces that group digits: a space, a no-break space and the narrow and thin ones French and
#: other locales' spreadsheets write ("1 234 567,89"). No locale marks decimals with a space, so
#: a number grouped by them is read whatever the mapping's marks.
GROUPING_SPACES = " \u00a0\u202f\u2009"
_SPACE = f"[{GROUPING_SPACES}]"
AMOUNT = re.compile(
    rf"^\s*(?P<sign1>[+-]?)\s*(?:(?P<before>{_CURRENCY})\s*)?(?P<sign2>[+-]?)"
    rf"(?P<body>\d(?:[\d.,]|{_SPACE}(?=\d))*)\s*(?P<after>{_CURRENCY})?\s*$"
)


def is_parquet(file: Path) -> bool:
    return file.suffix.lower() in (".parquet", ".pq")


def check_not_excel(file: Path) -> None:
    """An Excel workbook is `InvalidInput` saying what to do: read as CSV it is binary garbage
    whose "header" names no column the mapping asks for."""
    try:
        with file.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return  # a missing or unreadable file is reported where it is read
    suffix = file.suffix.lower()
    if suffix in EXCEL_SUFFIXES or (suffix != ".zip" and head.startswith(EXCEL_MAGIC)):
        raise InvalidInput(f"{file} is an Excel workbook: save it as CSV (or Parquet)")


def check_text(file: Path) -> None:
    """A file that is no text (an image, an archive, a database file) is `InvalidInput` saying
    so: read as CSV it gives a garbled "header" and advice about its encoding. Text never holds
    NUL bytes, unless it is UTF-16 (which starts with its byte-order mark)."""
    try:
        with open_bytes(file) as handle:
            head = handle.read(BINARY_SNIFF_BYTES)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError):
        return  # a missing or unreadable file is reported where it is read
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidInput(
            f"{file} is not a text file (it holds binary data): give the export as CSV or Parquet"
        )


#: How much of a file is looked at to tell text from binary data.
BINARY_SNIFF_BYTES = 8192


def read_table(file: Path, missing: list[str], csv: CsvOptions | None = None) -> pd.DataFrame:
    return pd.concat(list(iter_table(file, 1_000_000, missing, csv)), ignore_index=True)


def header(file: Path, csv: CsvOptions | None = None) -> list[str]:
    """A CSV or Parquet file's column names (none for a file that cannot be read)."""
    csv = csv or CsvOptions()
    if not is_parquet(file):
        check_not_excel(file)
    try:
        if is_parquet(file):
            return list(pq.read_schema(file).names)
        sep = csv.separator or sniff_separator(file, csv.encoding)
        names = pd.read_csv(
            file,
            sep=sep,
            nrows=0,
            encoding=csv.encoding,
            encoding_errors="replace",
            skiprows=titles_above(file, csv.encoding, sep),
        )
        return [str(c).strip() for c in names.columns]
    except (OSError, ValueError, pd.errors.ParserError):
        return []


def open_bytes(file: Path) -> IO[bytes]:
    """The file's bytes as pandas reads them: a compressed CSV (".csv.gz", ".bz2", ".xz", a ZIP
    holding one file) decompressed, so the header and the encoding are checked on its text."""
    suffix = file.suffix.lower()
    if suffix == ".gz":
        return cast(IO[bytes], gzip.open(file, "rb"))
    if suffix == ".bz2":
        return bz2.open(file, "rb")
    if suffix == ".xz":
        return lzma.open(file, "rb")
    if suffix == ".zip" and zipfile.is_zipfile(file):
        # The archive is closed here; its file stays open for the member until that is closed.
        with zipfile.ZipFile(file) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) == 1:
                return archive.open(names[0])
    return file.open("rb")


def sniff_separator(file: Path, encoding: str) -> str:
    """The separator the header line uses most (comma when it holds none of them); the header
    is the first line holding one, under a board's title lines."""
    header = first_separated(_first_lines(file, encoding), SEPARATORS)
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])  # ties keep the comma (listed first)
    return best if counts[best] > 0 else ","


def _first_lines(file: Path, encoding: str) -> list[str]:
    """The file's first lines as text (none where it cannot be read)."""
    try:
        with io.TextIOWrapper(open_bytes(file), encoding, errors="replace", newline="") as text:
            return [line for _, line in zip(range(TITLE_LINES), text, strict=False)]
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError):
        return []


def titles_above(file: Path, encoding: str, sep: str) -> int:
    """How many title lines a board's export has above its header (`board_rows`)."""
    return title_lines(_first_lines(file, encoding), sep)


#: The encoding a file that is not UTF-8 is read in, where the mapping names none.
WINDOWS = "cp1252"


def file_encoding(file: Path, csv: CsvOptions) -> tuple[CsvOptions, str | None]:
    """The options to read `file` with and what to say of its encoding: where it is not the
    mapping's and the mapping names none, UTF-16 by its byte-order mark, else cp1252 (what
    Excel on Windows writes); else the odd characters are replaced."""
    if decodes(file, csv.encoding):
        return csv, None
    chosen = "encoding" in csv.model_fields_set
    if not chosen and utf16(file):
        said = f"{file.name}: UTF-16 text (its byte-order mark says so), read as such"
        return csv.model_copy(update={"encoding": "utf-16"}), said
    if not chosen and decodes(file, WINDOWS):
        said = (
            f"{file.name}: not UTF-8 text, read as {WINDOWS} (Windows' Western European, as "
            "Excel on Windows writes; set the mapping's csv: encoding: to choose)"
        )
        return csv.model_copy(update={"encoding": WINDOWS}), said
    return csv, (
        f"{file.name}: some characters are not {csv.encoding} and were replaced (set the "
        "mapping's csv: encoding:, e.g. latin-1 or cp1252)"
    )


def utf16(file: Path) -> bool:
    """Whether the file starts with a UTF-16 byte-order mark (Excel's "Unicode text")."""
    try:
        with open_bytes(file) as handle:
            return handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError):
        return False


def decodes(file: Path, encoding: str, size: int = 1 << 20) -> bool:
    """Whether the file's first `size` bytes are text in `encoding` (the reader replaces what is
    not, so a latin-1 file read as UTF-8 would otherwise pass with its accents garbled)."""
    try:
        with open_bytes(file) as handle:
            head = handle.read(size)
    except (EOFError, zipfile.BadZipFile, lzma.LZMAError):
        return True  # not what its name says: the reader says so
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < size)
    except UnicodeDecodeError:
        return False
    return True


def without_blank_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with text of spaces alone ("", "  ") as blank, in every text column: a CSV's
    empty cell is blank, and the same leads written as Parquet must read the same."""
    for col in frame.columns:
        column = frame[col]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        blank = column.astype("string").str.strip().eq("").fillna(False).to_numpy(dtype=bool)
        if blank.any():
            frame[col] = column.where(~blank, None)
    return frame


def iter_table(
    file: Path, chunk_rows: int, missing: list[str], csv: CsvOptions | None = None
) -> Iterator[pd.DataFrame]:
    """Chunks of a CSV or Parquet file as text columns; blank cells and `missing` values become
    NA (pandas' own list, "NA", "null", "None", "nan", "#N/A" and the like, is not used: those
    are text unless the mapping lists them)."""
    csv = csv or CsvOptions()
    if not is_parquet(file):
        check_not_excel(file)
    try:
        if is_parquet(file):
            rows = 0
            for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                frame = without_blank_text(batch.to_pandas())
                if missing:
                    frame = frame.replace(missing, None)
                rows += len(frame)
                yield frame
            if not rows:
                raise InvalidInput(f"{file}: the file has no rows")
            return
        sep = csv.separator or sniff_separator(file, csv.encoding)
        reader = pd.read_csv(
            file,
            sep=sep,
            skiprows=titles_above(file, csv.encoding, sep),
            skip_blank_lines=False,  # read as rows with no value: each row keeps its line number
            dtype="str",
            chunksize=chunk_rows,
            keep_default_na=False,
            na_values=["", *missing],
            skipinitialspace=True,
            encoding=csv.encoding,
            encoding_errors="replace",
        )
        yielded, board = False, BoardRows()
        for chunk in reader:
            if chunk.empty:
                continue
            yielded = True
            yield board.rows(chunk)
        if not yielded:
            raise InvalidInput(f"{file}: the file has a header but no rows")
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{file}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"{file}: not a readable CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{file}: not {csv.encoding} text (set the mapping's csv: encoding:): {exc}"
        ) from exc
    except OSError as exc:
        if "parquet" in str(exc).lower() or file.suffix.lower() in (".parquet", ".pq"):
            raise InvalidInput(f"{file}: not a readable Parquet file: {exc}") from exc
        raise


#: A report's summary line, by its first cell in full ("Grand Summary,,18006590.46", "Count,600"
#: as Zoho's and spreadsheet reports end), compared loosely (`loose_key`).
SUMMARY_LINES = frozenset(
    {
        "total", "totals", "grandtotal", "grandtotals", "grandsummary", "summary", "sum",
        "count", "recordcount", "average", "subtotal", "summe", "gesamt", "gesamtsumme",
        "insgesamt", "totalgeneral", "sommetotale", "totale", "totalegenerale", "suma",
        "sumatotal", "totalgeral",
    }
)  # fmt: skip


def blank_and_footer(chunk: pd.DataFrame, last: bool) -> tuple[pd.Series, pd.Series]:
    """Masks of a chunk's rows that hold no record: rows with no value at all, and, in a file's
    last chunk, a report's footer, the trailing lines with a value in the first column only
    ("Confidential Information - Do Not Distribute", "Copyright (c) 2000-2024 salesforce.com,
    inc. ...", as a CRM's report export ends) or a summary word as their whole first value
    ("Total", "Grand Summary", "Count": `SUMMARY_LINES`) beside the sums, or as the first value
    after blank cells (a spreadsheet's ",Total,8,2"). A record has an id and
    at least one field more, and no record is named "Total" alone, so neither drops one."""
    cells = chunk.drop(columns="__line", errors="ignore")
    filled = cells.notna()  # a blank cell is read as missing already
    blank = ~filled.any(axis=1)
    footer = pd.Series(False, index=chunk.index)
    if last and cells.shape[1] > 1:
        only_first = filled.iloc[:, 0] & ~filled.iloc[:, 1:].any(axis=1)
        # as objects: a Parquet file's first column of text may get a later column's number
        first = cells.iloc[:, 0].astype(object).where(filled.iloc[:, 0], "")
        later = ~filled.iloc[:, 0] & ~blank  # a sums row labelled past a blank first column
        if later.any():
            first[later] = cells[later].astype(object).bfill(axis=1).iloc[:, 0]
        summary = first.map(lambda v: loose_key(v) in SUMMARY_LINES).astype(bool)
        said = only_first | summary
        trailing = (said | blank)[::-1].cummin()[::-1]
        footer = trailing & said
    return blank, footer


def localized_numbers(values: pd.Series, csv: CsvOptions) -> pd.Series:
    """Numbers written with the mapping's decimal and thousands marks, or with a currency
    ("$2,749", "USD 3,500.13", "2.748,67 €"), as "1234.5" text; any other value is left as it
    is (and is reported as not a number where one is expected). Without `thousands`, digits
    grouped by the other mark are read only where they can mean nothing else: "1,234,567.89"
    or "1,234,567" with a "." decimal, but never "1,234" (1.234 or 1234?). Digits grouped by
    spaces ("1 234 567,89") are read with any marks. The same series is returned when no value
    changes."""
    number, mark = _number_pattern(csv)
    text = values.astype("str")
    present = values.notna()
    bare = present & text.str.fullmatch(rf"\s*[+-]?(?:{number})\s*")
    fixed = _plain(text[bare], csv, mark)  # vectorised: most values carry no currency
    # the rest is a number only with a currency: a value of digits and marks alone is not one
    rest = present & ~bare & text.str.contains(r"\d") & text.str.contains(r"[^\d.,+\-\s]")
    if rest.any():
        fixed = pd.concat([fixed, _with_currency(text[rest], csv)])
    fixed = fixed[fixed != text[fixed.index]]
    if fixed.empty:
        return values
    out = values.astype(object).copy()
    out[fixed.index] = fixed
    return out


def reads_as_number(value: str, csv: CsvOptions) -> bool:
    """Whether one value is a number in the mapping's notation (a currency symbol or code
    before or after it allowed), as `scalar_number` reads it."""
    return scalar_number(value, csv.decimal, csv.thousands) is not None


def scalar_number(value: str, decimal: str = ".", thousands: str | None = None) -> float | None:
    """One value as `localized_numbers` reads a column in the notation (decimal and thousands
    marks; a currency before or after it), as a float; None where it is no number. The patterns are
    compiled once per notation and no pandas object is made: the API reads a field so, in
    microseconds ("", "N/A" and "-" in none)."""
    if not any(ch.isdigit() for ch in value):
        return None
    found = AMOUNT.match(value)
    if found is None:
        return None
    before, after, sign1, sign2, body = (
        found.group(g) or "" for g in ("before", "after", "sign1", "sign2", "body")
    )
    if (before and after) or (sign1 and sign2):
        return None
    for code in (before, after):
        if code[-1:].isalpha() and not _known_currency(code):
            return None
    pattern, mark = _compiled_number(decimal, thousands)
    if not pattern.fullmatch(body):
        return None
    plain = re.sub(_SPACE, "", body.strip())
    if mark not in GROUPING_SPACES:
        plain = plain.replace(mark, "")
    if decimal != ".":
        plain = plain.replace(decimal, ".")
    return float(sign1 + sign2 + plain)


#: How a dataset's export writes numbers: (decimal mark, thousands mark or None); None where
#: the dataset has no notation of its own.
Notation = tuple[str, str | None] | None


def value_number(value: object, notation: Notation = None) -> float:
    """A number field's value as a float: a number, or text that reads as one as the dataset's
    export writes numbers ("22,5" with a decimal comma, "1.200" with a thousands dot,
    "$1,200,000"; a percent as its number, "47.5%" 47.5, as the import reads a column of
    them); NaN for the rest ("inf" and "nan" are text, no number). Without a notation of the
    dataset's own, text Python reads as a number is one."""
    if value is None:
        return math.nan
    if not isinstance(value, str):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan
    text = value.strip()
    if notation is None:
        read = _finite(text)
        if read is not None:
            return read
    text = text[:-1].rstrip() if text.endswith("%") else text
    # Without a notation of its own, the dataset's decimal mark is "." and a comma groups.
    decimal, thousands = notation or (".", ",")
    read = scalar_number(text, decimal, thousands)
    if read is None and notation is not None and _read_alike(text, decimal, thousands):
        read = _finite(text)  # "12.75" in a decimal-comma dataset: a program's number
    # digits past a float's range read as infinity: no number, as "inf" is none
    return read if read is not None and math.isfinite(read) else math.nan


def _finite(text: str) -> float | None:
    """Text as Python reads a number, where that is a finite one ("inf" and "nan" are text)."""
    try:
        read = float(text)
    except ValueError:
        return None
    return read if math.isfinite(read) else None


def _read_alike(text: str, decimal: str, thousands: str | None) -> bool:
    """Whether Python reads text as the dataset would: none of its marks could mean there what
    they mean to the dataset ("1,5" a decimal comma, "1.200" a thousands dot)."""
    if decimal != "." and decimal in text:
        return False
    marks = {m for m in (thousands, "," if decimal == "." else ".") if m and m.strip()}
    return not any(re.search(rf"{re.escape(m)}\d{{3}}(?!\d)", text) for m in marks)


def _known_currency(code: str) -> bool:
    return code.upper() in CURRENCY_CODES or code.casefold() in CURRENCY_WORDS


@functools.lru_cache(maxsize=32)
def _compiled_number(decimal: str, thousands: str | None) -> tuple[re.Pattern[str], str]:
    number, mark = _number_pattern(CsvOptions(decimal=decimal, thousands=thousands))
    return re.compile(number), mark


def _with_currency(text: pd.Series, csv: CsvOptions) -> pd.Series:
    """The values that are numbers in the mapping's notation with a currency symbol or known
    ISO code before or after them (and at most one sign), as "1234.5" text."""
    parts = text.str.extract(AMOUNT).fillna("")
    before, after, sign1, sign2 = parts["before"], parts["after"], parts["sign1"], parts["sign2"]
    ok = (parts["body"] != "") & ((before == "") | (after == "")) & ((sign1 == "") | (sign2 == ""))
    for code in (before, after):
        ok &= ~code.str[-1:].str.isalpha() | code.map(_known_currency)
    number, mark = _number_pattern(csv)
    ok &= parts["body"].str.fullmatch(number)
    return sign1[ok] + sign2[ok] + _plain(parts["body"][ok], csv, mark)


def _number_pattern(csv: CsvOptions) -> tuple[str, str]:
    """The regex of an unsigned number in the mapping's notation, and its grouping mark: the
    mapping's `thousands`, else the other of "," and "." where it can only group digits (a
    decimal part follows, or it appears twice)."""
    dec = re.escape(csv.decimal)
    spaced = rf"\d{{1,3}}(?:{_SPACE}\d{{3}})+(?:{dec}\d*)?"
    # Indian grouping: lakhs and crores in pairs of digits before the last three ("1,50,000",
    # "12,34,56,789"), which nothing else writes.
    lakhs = rf"|\d{{1,2}}(?:,\d{{2}})+,\d{{3}}(?:{dec}\d*)?" if csv.decimal == "." else ""
    if csv.thousands and csv.thousands not in GROUPING_SPACES:
        th = re.escape(csv.thousands)
        indian = lakhs if csv.thousands == "," else ""
        return rf"(?:\d{{1,3}}(?:{th}\d{{3}})+|\d+)(?:{dec}\d*)?|{spaced}{indian}", csv.thousands
    if csv.thousands:  # a space: any of them groups
        return rf"{spaced}|\d+(?:{dec}\d*)?", csv.thousands
    mark = "," if csv.decimal != "," else "."
    g = re.escape(mark)
    return (
        rf"\d{{1,3}}(?:{g}\d{{3}})+{dec}\d+|\d{{1,3}}(?:{g}\d{{3}}){{2,}}(?:{dec}\d*)?"
        rf"|{spaced}|\d+(?:{dec}\d*)?{lakhs}",
        mark,
    )


def _plain(text: pd.Series, csv: CsvOptions, mark: str) -> pd.Series:
    """Numbers matched by `_number_pattern` as "1234.5" text."""
    text = text.str.strip().str.replace(_SPACE, "", regex=True)
    if mark not in GROUPING_SPACES:
        text = text.str.replace(mark, "", regex=False)
    return text.str.replace(csv.decimal, ".", regex=False) if csv.decimal != "." else text


def percents(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values written with a percent sign ("25%", "25 %") without it, and which they were."""
    text = values.astype("str").str.strip()
    percent = values.notna() & text.str.endswith("%")
    if not percent.any():
        return values, percent
    return values.where(~percent, text.str[:-1].str.rstrip()), percent


def grouping_shown(values: Iterable[str], csv: CsvOptions) -> CsvOptions | None:
    """The mapping's options with the thousands mark a value of the column shows beyond doubt
    ("3,269,017": a mark that repeats groups thousands; "1,305.50" beside the decimal mark),
    where the mapping names none: its other values ("287,288") are then read with it."""
    if csv.thousands is not None:
        return None
    for value in values:
        match = AMOUNT.match(value)
        marks = [c for c in match["body"] if c in ",."] if match else []
        grouping = None
        if len(marks) > 1 and len(set(marks)) == 1 and marks[0] != csv.decimal:
            grouping = marks[0]
        elif len(set(marks)) == 2 and marks[-1] == csv.decimal:
            grouping = marks[0]
        if grouping is not None:
            return csv.model_copy(update={"thousands": grouping})
    return None


def number_hint(value: str) -> str | None:
    """Which `csv:` options would read a value that is not a number in the mapping's notation
    ("2,748" → thousands or decimal ","; "2.748,67" → decimal "," and thousands "."), or None
    when no choice of marks reads it."""
    match = AMOUNT.match(value)
    if match is None:
        return None
    body = match["body"]
    marks = [c for c in body if c in ",."]
    if not marks:
        return None
    last = marks[-1]
    other = "," if last == "." else "."
    if len(set(marks)) == 2:
        options, said = (
            CsvOptions(decimal=last, thousands=other),
            f'decimal: "{last}", thousands: "{other}"',
        )
    elif len(marks) > 1:
        options, said = CsvOptions(decimal=other, thousands=last), f'thousands: "{last}"'
        if last == ".":
            said += ', decimal: ","'
    elif len(body) - body.index(last) - 1 == 3:
        grouping = f'thousands: "{last}"' + (', decimal: ","' if last == "." else "")
        if not reads_as_number(value, CsvOptions(decimal=other, thousands=last)):
            return None
        return (
            f"{value!r} is ambiguous: set the mapping's csv: {grouping} if {last!r} groups "
            f'thousands, or csv: decimal: "{last}" if it marks decimals'
        )
    else:
        options, said = CsvOptions(decimal=last), f'decimal: "{last}"'
    if not reads_as_number(value, options):
        return None
    return f"{value!r} reads as a number with the mapping's csv: {said}"


def dotted_thousands_note(
    values: pd.Series, column: str, csv: CsvOptions, least: int = 3
) -> str | None:
    """A note when a number column read with "." as a decimal mark has only values like
    "1.500" or "12.000" with a dot (at least `least` of them): such a column is most likely
    European thousands, read 1,000 times too small. Said, never guessed: "2.125" may be 2.125."""
    if csv.thousands == ".":
        return None
    text = values.dropna().astype("str").str.strip()
    dotted = text[text.str.contains(".", regex=False)]
    if len(dotted) < least:
        return None
    if not dotted.str.fullmatch(r"\D*[1-9]\d{0,2}(?:\.\d{3})+\D*").all():
        return None
    decimal = "" if csv.decimal != "." else ' and decimal: ","'
    return (  # the same words from every chunk, so the report says it once
        f"{column}: every number with a dot has three digits after it, as thousands do "
        f'("12.000" is read as 12): if the dot groups thousands, set the mapping\'s '
        f'csv: thousands: "."{decimal}'
    )
