"""A monday.com board's subitems (tasks under a deal: a subitem header line and rows with a
blank first cell) are no deals: the draft and the import leave them out and say how many."""

from __future__ import annotations

import pandas as pd

from forecast.data.board_rows import SUBITEM_HEADERS, SUBITEM_ROWS, BoardRows
from forecast.data.draft_numbers import _notation_of
from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write

HEADER = "Name,Subitems,Owner,Status,Deal Value,Close Date,Creation Log,Item ID\n"
BOARD = (
    "Sales Pipeline\n\nActive Deals\n" + HEADER + "Acme,Demo,Jane Cooper,Proposal Sent,100,"
    "2026-10-23,2024-03-05 10:00:00 UTC,101\n"
    ",Name,Owner,Status,Date\n"
    ",Demo,Jane Cooper,Done,2024-03-09\n"
    ",Legal review,Jane Cooper,Working on it,2024-03-10\n"
    "Globex,,Bob Lee,New Lead,200,2026-11-02,2024-03-06 10:00:00 UTC,102\n"
    "Hooli,Demo,Bob Lee,New Lead,250,2026-11-03,2024-03-06 11:00:00 UTC,105\n"
    ",Name,Owner,Status,Date\n"
    ",Demo,Bob Lee,,2024-03-12\n\n"
    "Won\n" + HEADER + "Initech,Demo,Bob Lee,Closed Won,300,2024-04-01,"
    "2024-03-07 10:00:00 UTC,103\n"
    ",Name,Owner,Status,Date\n"
    ",Demo,Bob Lee,Done,2024-03-08\n\n"
    "Lost\n" + HEADER + "Wonka,,Jane Cooper,Lost,400,2024-04-02,2024-03-08 10:00:00 UTC,104\n"
)


def test_a_board_draft_lists_no_subitem_status_as_a_stage(tmp_path):
    draft = draft_mapping(write(tmp_path, "board.csv", BOARD))
    assert "Done" not in draft.text and "Working on it" not in draft.text
    assert any(
        c.startswith("subitem lines left out (4 subitem row(s) under 3") for c in draft.checks
    )


def test_a_board_import_reads_its_items_alone_and_counts_the_subitems_left_out(tmp_path):
    file = write(tmp_path, "board.csv", BOARD)
    draft = draft_mapping(file)
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    deals = export.opportunities.set_index("id")
    assert sorted(deals.index) == ["101", "102", "103", "104", "105"]
    assert set(deals["stage"]) == {"Proposal Sent", "New Lead", "Closed Won", "Lost"}
    notes = export.report.notes
    assert "board.csv: 4 subitem row(s) under 3 item(s) left out, with their header lines" in (
        " ".join(notes)
    )
    # the subitem lines are not among the blank lines and header copies
    assert "board.csv: 6 row(s) with no value skipped (blank lines, or copies of the header)" in (
        notes
    )


def test_subitems_split_across_chunks_are_left_out_in_the_next_chunk_too():
    columns = ["Name", "Owner", "Status", "Item ID"]
    lines = [
        ["Acme", "Jane", "Proposal", "101"],
        [None, "Name", "Owner", "Status"],
        [None, "Demo", "Jane", "Done"],
    ]
    rest = [[None, "Legal", "Jane", "Working on it"], ["Globex", "Bob", "New", "102"]]
    board = BoardRows()
    first = board.rows(pd.DataFrame(lines, columns=columns))
    second = board.rows(pd.DataFrame(rest, columns=columns, index=[3, 4]))
    assert first["Item ID"].tolist()[0] == "101" and first.iloc[1:].isna().all(axis=None)
    assert (first.attrs[SUBITEM_HEADERS], first.attrs[SUBITEM_ROWS]) == (1, 1)
    assert second.iloc[0].isna().all() and second["Item ID"].tolist()[1] == "102"
    assert (second.attrs[SUBITEM_HEADERS], second.attrs[SUBITEM_ROWS]) == (0, 1)


def test_a_deal_row_missing_its_first_value_is_no_subitem():
    columns = ["Name", "Owner", "Status", "Amount", "Deal ID"]
    rows = [["Acme", "Jane", "Won", "10", "1"], [None, "Bob", "Lost", "20", "2"]]
    read = BoardRows().rows(pd.DataFrame(rows, columns=columns))
    assert read["Deal ID"].tolist() == ["1", "2"] and read.attrs[SUBITEM_ROWS] == 0


def test_a_draft_asks_about_comma_grouped_amounts_written_with_a_currency():
    checks: list[str] = []
    _notation_of(["$15,400", "$8,900"], checks, "amounts")
    assert checks and "amounts like '$15,400' do not read as numbers as written" in checks[0]
    assert 'csv: {thousands: ","}' in checks[0]
    eur: list[str] = []
    _notation_of(["15,400 EUR"], eur, "amounts")
    assert eur


def test_a_lead_row_missing_its_first_name_under_another_is_no_subitem_header():
    columns = ["First Name", "Last Name", "Email", "Lifecycle Stage"]
    rows = [["Ann", "Lee", "ann@x.com", "lead"], [None, "Doe", "jane@x.com", "customer"]]
    rows += [[None, "Roe", "rick@x.com", "lead"]]
    read = BoardRows().rows(pd.DataFrame(rows, columns=columns))
    assert read["Last Name"].tolist() == ["Lee", "Doe", "Roe"] and read.attrs[SUBITEM_ROWS] == 0
