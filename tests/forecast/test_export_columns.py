"""The import's note of the export's columns it does not read: a user deciding which to keep as
model inputs (`features:`) must see every one of them, not the first few and an ellipsis."""

from __future__ import annotations

from forecast.data.importing import read_export
from tests.forecast.test_import_options import mapping, write

ROWS = ["D1,Won,100,2024-01-02,2024-02-01", "D2,New,50,2024-01-03,"]


def _unread_note(tmp_path, extra: list[str]) -> str:
    """The "not read" note of a small export with `extra` columns beside the mapped ones."""
    header = ",".join(["Deal ID", "Stage", "Amount", "Created", "Closed", *extra])
    rows = [row + "," * len(extra) for row in ROWS]
    file = write(tmp_path, "deals.csv", "\n".join([header, *rows]))
    [note] = [n for n in read_export(file, mapping(tmp_path)).report.notes if "not read" in n]
    return note


def test_every_column_the_import_does_not_read_is_named(tmp_path):
    extra = [f"Custom Field {i}" for i in range(1, 41)]  # a Salesforce object's custom fields
    note = _unread_note(tmp_path, extra)
    assert note.startswith("not read: 40 column(s) of the export")
    assert all(f"'{name}'" in note for name in extra)
    assert "…" not in note and "more" not in note
    assert "'Stage'" not in note and "'Deal ID'" not in note


def test_a_very_wide_export_names_hundreds_of_columns_and_counts_the_rest(tmp_path):
    """Past 200 names the note counts the rest: the other notes stay readable."""
    extra = [f"Field {i:03}" for i in range(1, 231)]
    note = _unread_note(tmp_path, extra)
    assert note.startswith("not read: 230 column(s) of the export")
    assert "'Field 001'" in note and "'Field 200'" in note and "'Field 201'" not in note
    assert "and 30 more" in note and "…" not in note


def test_a_salesforce_report_s_team_and_region_columns_are_named_as_such(tmp_path):
    """A Salesforce report read by the built-in mapping with a custom "Sales Team" column: the
    built-in reads no team, so a manager's figures per team are one "(none)" line. The note
    says which unread column looks like the team (and the region), and how to read it."""
    header = (
        "Opportunity ID,Opportunity Name,Account Name,Stage,Amount,Close Date,Created Date,"
        "Opportunity Owner,Sales Team,Sales Region,Lead Source"
    )
    rows = [
        'O1,Deal 1,Acme,Closed Won,"$1,200.00",3/1/2024,1/2/2024,Ana Lee,West Coast,US,Web',
        "O2,Deal 2,Initech,Prospecting,$500.00,6/1/2024,1/3/2024,Bob Ray,East Coast,US,Web",
    ]
    file = write(tmp_path, "opportunities.csv", "\n".join([header, *rows]))
    notes = read_export(file).report.notes
    [note] = [n for n in notes if "not read" in n]
    assert "'Sales Team' looks like the team" in note
    assert "'Sales Region' looks like the region" in note
    assert "team: Sales Team" in note and "forecast draft-mapping" in note
    assert "'Lead Source' looks like" not in note and "'Opportunity Name' looks like" not in note
