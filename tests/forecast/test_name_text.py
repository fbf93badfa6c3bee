"""A name is read the same by the import (a column at a time) and by the API (one value): one
rep, team or account however Unicode wrote it."""

from __future__ import annotations

import pandas as pd

from forecast.data.name_text import clean_name, clean_names

WRITTEN = [
    " Team Novak ",
    "Zoe\u0308 A\u030angstro\u0308m 李",  # NFD, as macOS and some CRMs send it
    "Zoë Ångström 李",
    "Team\u00a0Fischer",
    "\ufeffTeam Fischer\u200b",
    "Team\u202fFischer",
    "e\u200b\u0308",  # the zero-width space kept the diaeresis off its letter: "ë" once dropped
    "\u00a0\u200b",
    None,
]


def test_the_import_reads_a_column_of_names_as_the_api_reads_each():
    read = clean_names(pd.Series(WRITTEN, dtype=object))
    assert read.iloc[:-1].tolist() == [clean_name(n) for n in WRITTEN[:-1]]
    assert read.iloc[:-1].tolist() == [
        "Team Novak",
        "Zoë Ångström 李",
        "Zoë Ångström 李",
        "Team Fischer",
        "Team Fischer",
        "Team Fischer",
        "ë",
        "",
    ]
    assert pd.isna(read.iloc[-1])


def test_a_column_of_ascii_names_is_only_stripped():
    assert clean_names(pd.Series([" a ", "b", None])).iloc[:2].tolist() == ["a", "b"]
