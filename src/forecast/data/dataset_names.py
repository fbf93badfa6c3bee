"""The dataset name a drafted mapping proposes: the export file's name ("opps.csv" → "opps"),
and for an export of several pipelines the kept pipeline's after it ("opps_sales_pipeline").
Each part is written one way (`slug`), so a name typed on the command line or in a URL needs no
quoting and the file's name and the pipeline's never disagree on how a character is written."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from forecast.data.name_text import clean_name

#: The dataset a draft names for a file whose name leaves no letter or digit ("---.csv").
FALLBACK = "export"


def slug(text: str) -> str:
    """`text` as part of a dataset name: lower case, letters and digits of any script kept, every
    other character "_", none at the ends ("" where nothing is left). It is read as a name is
    (`clean_name`): "ë" written as "e" and a combining mark (as macOS writes file names) is one
    letter, not "e_"; a mark no letter composes with stays with its letter ("हिन्दी" whole)."""
    out: list[str] = []
    for ch in clean_name(text).lower():
        with_letter = unicodedata.category(ch).startswith("M") and out and out[-1] != "_"
        out.append(ch if ch.isalnum() or with_letter else "_")
    return "".join(out).strip("_")


def file_dataset(file: Path) -> str:
    """The dataset a draft names for an export file: its name before the first dot (so
    "deals.csv.gz" is "deals"), as `slug` writes it; `FALLBACK` where that leaves nothing."""
    return slug(file.name.split(".")[0]) or FALLBACK


def pipeline_dataset(name: str, pipeline: str) -> str:
    """The dataset of one pipeline's deals from a file of several: the file's dataset `name`,
    then the pipeline's, as `slug` writes it ("Sales Pipeline" → "opps_sales_pipeline"); the
    file's alone where the pipeline's name has no letter or digit."""
    return "_".join(part for part in (name, slug(pipeline)) if part)
