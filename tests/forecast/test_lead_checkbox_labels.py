"""A lead label exported as a box ticked for converted leads and left blank for the others
("x", 1 or "Yes" and nothing, as spreadsheets and many a CRM's export write a checkbox).

A blank label means "not known yet", so such a file read as it is had converted leads only and
training stopped at "one class only" without saying why. The import now says what the blanks
are taken for and how to say they mean the other outcome (`value_fixes: {Won: {"": "0"}}`),
which the import then reads.
"""

from __future__ import annotations

from forecast.data.importing import read_export
from tests.forecast.test_import_options import write

ROWS = "Lead No,Source,Won\n1,web,x\n2,ads,\n3,web,x\n4,ads,\n5,ads,\n"


def test_a_blank_label_is_read_as_the_mapping_says_a_blank_is(tmp_path):
    mapping = write(
        tmp_path,
        "leads.yaml",
        "kind: leads\ncolumns: {id: Lead No, converted: Won}\n"
        'value_fixes: {Won: {x: "1", "": "0"}}\n',
    )
    export = read_export(write(tmp_path, "leads.csv", ROWS), mapping)
    assert export.leads["converted"].tolist() == [1, 0, 1, 0, 0]
    assert "Won: a blank is read as '0' (value_fixes)" in export.report.notes


def test_one_outcome_beside_blanks_is_said_with_the_line_that_reads_the_blanks(tmp_path):
    mapping = write(tmp_path, "leads.yaml", "kind: leads\ncolumns: {id: Lead No, converted: Won}\n")
    export = read_export(write(tmp_path, "leads.csv", ROWS.replace(",x", ",1")), mapping)
    assert export.leads["converted"].isna().sum() == 3  # blank: not known yet, as before
    [note] = [n for n in export.report.notes if n.startswith("Won: every value")]
    assert "3 are blank" in note and 'value_fixes: {"Won": {"": "0"}}' in note


def test_blanks_beside_both_outcomes_or_listed_pending_values_are_not_hinted(tmp_path):
    mapping = write(tmp_path, "leads.yaml", "kind: leads\ncolumns: {id: Lead No, converted: Won}\n")
    both = read_export(
        write(tmp_path, "a.csv", ROWS.replace(",x", ",1").replace("5,ads,", "5,ads,0")), mapping
    )
    pending = write(
        tmp_path,
        "p.yaml",
        "kind: leads\ncolumns: {id: Lead No, converted: Won}\nmissing_values: [Open]\n",
    )
    listed = read_export(write(tmp_path, "b.csv", ROWS.replace(",x", ",1")), pending)
    for export in (both, listed):
        assert not [n for n in export.report.notes if n.startswith("Won: every value")]
