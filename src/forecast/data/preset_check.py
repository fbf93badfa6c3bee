"""Whether a built-in mapping reads a file as it is: a draft says "a built-in mapping already
reads this file" only where it does, since a preset is recognised by a few header names alone
(a Zoho lead file has a Salesforce report's "Lead ID" and "Lead Status", not its statuses)."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from forecast.errors import ForecastError

#: The rows of a CSV file a preset is tried on.
TRIED_ROWS = 2_000


def preset_reads(path: Path, preset: str) -> bool:
    """Whether the built-in mapping `preset` reads the file's first `TRIED_ROWS` rows (a file
    that is not plain CSV, whole) without a problem, as `forecast import FILE` would."""
    from forecast.data.importing import read_export  # the import detects presets itself

    try:
        if path.suffix.casefold() != ".csv":
            read_export(path, preset)
            return True
        with tempfile.TemporaryDirectory(prefix="forecast-preset-") as folder:
            head = Path(folder) / path.name
            with path.open("rb") as rows:
                head.write_bytes(b"".join(itertools.islice(rows, TRIED_ROWS + 1)))
            read_export(head, preset)
    except ForecastError:
        return False
    return True
