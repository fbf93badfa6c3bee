"""What an import does with rows a CRM export writes loosely: the same row twice, an owner cell
naming several people (monday.com's People column), a reopened deal still carrying its old
close date, a row with no stage. Found by a walkthrough of monday.com and Freshsales exports;
small hand-made files, read without a store."""

from __future__ import annotations

import pytest

from forecast.data.importing import read_export
from forecast.errors import ImportRejected
from tests.forecast.test_import_options import DEALS, mapping, write

HEADER = "Deal ID,Stage,Amount,Created,Closed,Owner\n"
D1 = "D1,New,100,2024-02-01,,Jane Cooper\n"
D2 = "D2,Closed Won,900,2024-01-05,2024-02-20,Bob Lee\n"


def _notes(tmp_path, rows: str) -> tuple:
    owned = DEALS.replace("  closed_at: Closed\n", "  closed_at: Closed\n  owner: Owner\n")
    file = write(tmp_path, "deals.csv", HEADER + rows)
    export = read_export(file, mapping(tmp_path, base=owned))
    return export.opportunities.set_index("id"), export.report.notes


def test_identical_copies_of_a_row_are_read_once_and_said_with_the_first_line(tmp_path):
    deals, notes = _notes(tmp_path, D1 + D2 + D1 + D1 + D2)
    assert sorted(deals.index) == ["D1", "D2"]
    assert (
        "3 row(s) identical in every column to an earlier row with the same id read once "
        "(copies of the rows at line(s) 2, 3)" in notes
    )


def test_identical_copies_are_found_across_chunks(tmp_path):
    from forecast.data.importing import _Job

    file = write(tmp_path, "deals.csv", HEADER + D1 + D2 + D1)
    job = _Job(file, mapping(tmp_path), "reject", chunk_rows=1)
    deals = [p.opportunities for p in job.parts(stored=None)]
    job.finish()
    assert sum(len(d) for d in deals) == 2
    assert any(n.startswith("1 row(s) identical in every column") for n in job.report.notes)


def test_a_second_deal_under_an_id_is_refused_naming_the_line_it_repeats(tmp_path):
    other = D1.replace(",100,", ",150,")
    with pytest.raises(ImportRejected) as caught:
        _notes(tmp_path, D1 + D2 + other)
    [problem] = caught.value.report.examples
    assert (problem.kind, problem.row) == ("duplicate id", 4)
    assert problem.value == "D1 (also at line 2, other values)"


def test_an_owner_cell_naming_several_owners_of_the_file_is_its_first_ones_deal(tmp_path):
    rows = (
        D1
        + D2
        + 'D3,New,300,2024-02-02,,"Jane Cooper, Bob Lee"\n'
        + 'D4,New,400,2024-02-03,,"Bob Lee, Bob Lee"\n'
        + 'D5,New,500,2024-02-04,,"Smith, John"\n'
        + 'D6,New,600,2024-02-05,,"Jane Cooper, Dee Novak"\n'
    )
    deals, notes = _notes(tmp_path, rows)
    assert deals["owner"].to_dict() == {
        "D1": "Jane Cooper",
        "D2": "Bob Lee",
        "D3": "Jane Cooper",
        "D4": "Bob Lee",
        "D5": "Smith, John",  # last name first: one person, neither part an owner alone
        "D6": "Jane Cooper, Dee Novak",  # Dee Novak owns no deal alone: not split
    }
    said = [n for n in notes if n.startswith("Owner: 2 deal(s) name several people")]
    assert said and "'Jane Cooper, Bob Lee'" in said[0] and "the first named is kept" in said[0]


def test_an_open_deal_s_close_date_is_not_kept_and_said(tmp_path):
    reopened = "D3,Proposal,300,2024-01-02,2024-01-20,Jane Cooper\n"
    deals, notes = _notes(tmp_path, D1 + D2 + reopened)
    assert deals["closed_at"].isna()["D3"] and deals["closed_at"].notna()["D2"]
    assert any(
        n.startswith("1 open deal(s) carry a close date (closed_at), not kept") for n in notes
    )


def test_a_row_without_a_stage_is_a_missing_stage(tmp_path):
    with pytest.raises(ImportRejected) as caught:
        _notes(tmp_path, D1 + "D3,,300,2024-01-02,,Jane Cooper\n")
    report = caught.value.report
    assert dict(report.counts) == {"missing stage": 1}
    assert report.examples[0].row == 3


LONG = "D" * 101  # past the store's 100 characters for a deal's id


def test_a_deal_id_longer_than_the_store_keeps_is_a_bad_row_naming_it(tmp_path):
    with pytest.raises(ImportRejected) as caught:
        _notes(tmp_path, D1 + D2.replace("D2,", f"{LONG},"))
    [problem] = caught.value.report.examples
    assert (problem.row, problem.column, problem.kind, problem.value) == (
        3,
        "Deal ID",
        "id longer than 100 characters",
        LONG,
    )


def test_a_store_skipping_a_deal_with_too_long_an_id_keeps_the_others(tmp_path, engine):
    """PostgreSQL refused the whole import with 'value too long for type character
    varying(100)' (a traceback); SQLite kept the id."""
    from forecast.data.importing import import_export

    file = write(tmp_path, "deals.csv", HEADER + D1 + D2.replace("D2,", f"{LONG},"))
    owned = DEALS.replace("  closed_at: Closed\n", "  closed_at: Closed\n  owner: Owner\n")
    report = import_export(engine, file, mapping(tmp_path, base=owned), on_error="skip")
    assert report.bad_rows == 1
    with engine.connect() as conn:
        ids = conn.exec_driver_sql("SELECT id FROM opportunities").scalars().all()
    assert ids == ["D1"]
