"""Reading export files: CSV or Parquet, in chunks, every column as text, with clear errors.

An unreadable file (empty, not CSV, not UTF-8, not Parquet) is `InvalidInput` naming the file,
never a parser's stack trace; values the mapping calls missing become NA. A CSV is read with the
mapping's `csv:` options (separator, encoding); without a separator, the header line decides
between comma, semicolon and tab, as European spreadsheets write `;` with decimal commas.
Numbers stay text here: `localized_numbers` rewrites "1.234,5" as "1234.5" where a field is
read as a number, so an id or a name with a comma is never changed.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from forecast.data.mapping import CsvOptions
from forecast.errors import InvalidInput

SEPARATORS = (",", ";", "\t", "|")


def is_parquet(file: Path) -> bool:
    return file.suffix.lower() in (".parquet", ".pq")


def read_table(file: Path, missing: list[str], csv: CsvOptions | None = None) -> pd.DataFrame:
    return pd.concat(list(iter_table(file, 1_000_000, missing, csv)), ignore_index=True)


def header(file: Path, csv: CsvOptions | None = None) -> list[str]:
    """A CSV or Parquet file's column names (none for a file that cannot be read)."""
    csv = csv or CsvOptions()
    try:
        if is_parquet(file):
            return list(pq.read_schema(file).names)
        sep = csv.separator or sniff_separator(file, csv.encoding)
        names = pd.read_csv(
            file, sep=sep, nrows=0, encoding=csv.encoding, encoding_errors="replace"
        )
        return [str(c).strip() for c in names.columns]
    except (OSError, ValueError, pd.errors.ParserError):
        return []


def sniff_separator(file: Path, encoding: str) -> str:
    """The separator the header line uses most (comma when it holds none of them)."""
    try:
        with file.open(encoding=encoding, errors="replace", newline="") as handle:
            header = handle.readline()
    except OSError:
        return ","
    header = re.sub(r'"[^"]*"', "", header)  # a quoted column name may hold any of them
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])  # ties keep the comma (listed first)
    return best if counts[best] > 0 else ","


def decodes(file: Path, encoding: str, size: int = 1 << 20) -> bool:
    """Whether the file's first `size` bytes are text in `encoding` (the reader replaces what is
    not, so a latin-1 file read as UTF-8 would otherwise pass with its accents garbled)."""
    with file.open("rb") as handle:
        head = handle.read(size)
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < size)
    except UnicodeDecodeError:
        return False
    return True


def iter_table(
    file: Path, chunk_rows: int, missing: list[str], csv: CsvOptions | None = None
) -> Iterator[pd.DataFrame]:
    """Chunks of a CSV or Parquet file as text columns; `missing` values become NA."""
    csv = csv or CsvOptions()
    try:
        if is_parquet(file):
            for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                if missing:
                    frame = frame.replace(missing, None)
                yield frame
            return
        reader = pd.read_csv(
            file,
            sep=csv.separator or sniff_separator(file, csv.encoding),
            dtype="str",
            chunksize=chunk_rows,
            na_values=missing or None,
            skipinitialspace=True,
            encoding=csv.encoding,
            encoding_errors="replace",
        )
        yielded = False
        for chunk in reader:
            if chunk.empty:
                continue
            yielded = True
            yield chunk
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


def localized_numbers(values: pd.Series, csv: CsvOptions) -> pd.Series:
    """Numbers written with the mapping's decimal and thousands marks, as "1234.5" text; any
    other value is left as it is (and is reported as not a number where one is expected)."""
    if csv.decimal == "." and csv.thousands is None:
        return values
    dec, th = re.escape(csv.decimal), re.escape(csv.thousands or "")
    grouped = rf"\d{{1,3}}(?:{th}\d{{3}})+" if csv.thousands else r"(?!)"
    pattern = rf"^\s*[+-]?(?:{grouped}|\d+)(?:{dec}\d*)?\s*$"
    text = values.astype("str")
    looks = values.notna() & text.str.match(pattern)
    if not looks.any():
        return values
    fixed = text[looks]
    if csv.thousands:
        fixed = fixed.str.replace(csv.thousands, "", regex=False)
    fixed = fixed.str.replace(csv.decimal, ".", regex=False).str.strip()
    out = values.astype(object).copy()
    out[looks] = fixed
    return out
