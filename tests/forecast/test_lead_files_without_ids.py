"""A lead file without ids (a public data set, a web form's rows) imports as it is: each lead's
id is a hash of its row but the label, so a re-import finds the same leads and a lead that
converts keeps its id; identical rows are two leads, numbered in file order."""

from __future__ import annotations

from forecast.data.importing import import_export, read_export
from forecast.data.store_reads import load_leads
from tests.forecast.test_import_options import write

MAPPING = "kind: leads\ndataset: bank\ncolumns: {converted: y}\n"
ROWS = (
    '"age";"job";"duration";"y"\n'
    '30;"admin.";120;"no"\n'
    '41;"technician";900;"yes"\n'
    '30;"admin.";120;"no"\n'  # the same as the first row: another lead alike
    '55;"retired";60;"no"\n'
)


def test_a_lead_file_without_ids_imports_with_ids_from_its_rows(tmp_path):
    mapping = write(tmp_path, "bank.yaml", MAPPING)
    export = read_export(write(tmp_path, "bank.csv", ROWS), mapping)
    ids = export.leads["id"].tolist()
    assert len(set(ids)) == 4
    assert ids[2] == ids[0] + "-2"
    assert export.leads["converted"].tolist() == [0, 1, 0, 0]
    [note] = [n for n in export.report.notes if n.startswith("no id column")]
    assert "hash of its row's 3 columns" in note and "id: {hash_of: [...]}" in note
    # A later export where the second lead's label and nothing else changed: the same lead.
    later = read_export(write(tmp_path, "later.csv", ROWS.replace('"yes"', '"no"')), mapping)
    assert later.leads["id"].tolist() == ids


def test_reimporting_finds_the_same_leads_whatever_the_chunks(tmp_path, sqlite_engine):
    mapping = write(tmp_path, "bank.yaml", MAPPING)
    file = write(tmp_path, "bank.csv", ROWS + ROWS.split("\n", 1)[1])  # every row twice
    first = import_export(sqlite_engine, file, mapping, chunk_rows=3)
    assert first.rows_written == 8
    again = import_export(sqlite_engine, file, mapping, chunk_rows=5)
    assert again.rows_written == 0
    stored = load_leads(sqlite_engine, "bank")
    assert len(stored) == 8 and stored["id"].is_unique
    repeats = sorted(i.rsplit("-", 1)[-1] for i in stored["id"] if "-" in i)
    assert repeats == ["2", "2", "2", "3", "4"]


def test_the_label_is_left_out_of_the_id_however_its_column_is_written(tmp_path):
    mapping = write(tmp_path, "bank.yaml", MAPPING.replace("converted: y", "converted: Y"))
    first = read_export(write(tmp_path, "bank.csv", ROWS), mapping)
    later = read_export(write(tmp_path, "later.csv", ROWS.replace('"yes"', '"no"')), mapping)
    assert later.leads["id"].tolist() == first.leads["id"].tolist()
    [note] = [n for n in first.report.notes if n.startswith("no id column")]
    assert "hash of its row's 3 columns" in note
