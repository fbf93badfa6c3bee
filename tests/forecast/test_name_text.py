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


def test_a_name_typed_with_two_spaces_or_a_tab_is_the_same_name():
    """ "Ana  García" (a blank middle name joined in, a double space typed) prints as "Ana
    García" (and an HTML page shows them alike): one rep, not two rows of KPIs that look the
    same, in the import and in an API's group alike."""
    written = pd.Series(["Ana  García", "Ana García", "Bob   Smith", "Bob\tSmith", "Bob Smith"])
    assert clean_names(written).tolist() == ["Ana García"] * 2 + ["Bob Smith"] * 3
    assert clean_name("Ana  García") == "Ana García" and clean_name("Bob  Smith") == "Bob Smith"


def test_an_export_whose_owner_is_written_with_two_spaces_in_some_rows_has_one_owner(tmp_path):
    from forecast.data.importing import read_export
    from tests.forecast.test_import_options import DEALS, mapping, write

    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID,Stage,Amount,Created,Closed,Owner\n"
        "D1,New,100,2024-02-01,,Ana García\n"
        "D2,Closed Won,900,2024-01-05,2024-02-20,Ana  García\n"
        "D3,New,100,2024-02-01,,Bob  Smith\n"
        "D4,New,100,2024-02-01,,Bob Smith\n",
    )
    with_owner = DEALS.replace("  closed_at: Closed\n", "  closed_at: Closed\n  owner: Owner\n")
    m = mapping(tmp_path, base=with_owner)
    owners = read_export(file, m).opportunities.set_index("id")["owner"]
    assert owners.tolist() == ["Ana García", "Ana García", "Bob Smith", "Bob Smith"]
