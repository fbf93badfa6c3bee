"""Reading export files: CSV or Parquet, in chunks, every column as text, with clear errors.

An unreadable file (empty, not CSV, not UTF-8, not Parquet) is `InvalidInput` naming the file,
never a parser's stack trace; values the mapping calls missing become NA.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from forecast.errors import InvalidInput


def read_table(file: Path, missing: list[str]) -> pd.DataFrame:
    return pd.concat(list(iter_table(file, 1_000_000, missing)), ignore_index=True)


def iter_table(file: Path, chunk_rows: int, missing: list[str]) -> Iterator[pd.DataFrame]:
    """Chunks of a CSV or Parquet file as text columns; `missing` values become NA."""
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                if missing:
                    frame = frame.replace(missing, None)
                yield frame
            return
        reader = pd.read_csv(
            file,
            dtype="str",
            chunksize=chunk_rows,
            na_values=missing or None,
            skipinitialspace=True,
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
        raise InvalidInput(f"{file}: not UTF-8 text: {exc}") from exc
    except OSError as exc:
        if "parquet" in str(exc).lower() or file.suffix.lower() in (".parquet", ".pq"):
            raise InvalidInput(f"{file}: not a readable Parquet file: {exc}") from exc
        raise
