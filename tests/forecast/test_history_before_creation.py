"""A stage entry dated before its deal was created is never passed over in silence: within the
mapping's clock-skew tolerance it is read as entered at creation (and counted in the notes), as
a close is; further back it is a "stage entered before create" problem naming the file, row,
column and dates. By default that rejects the import, writing nothing; with `skip` that entry
alone is left out and the deal and its other entries are kept."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.importing import import_export, read_export
from forecast.errors import ImportRejected
from forecast.history import load_deal_history
from tests.forecast.test_import_options import write

MAPPING = """
kind: opportunities
dataset: sfdc
main: deals.csv
history_file: history.csv
history_columns: {opportunity_id: Opportunity ID, stage: To Stage, entered_at: Edit Date}
columns: {id: Opportunity ID, stage: Stage, amount: Amount, created_at: Created Date,
          closed_at: Close Date}
stages:
  open: [Prospecting, Qualification, Proposal]
stage_names: {"Closed Won": Won, "Closed Lost": Lost}
"""
DEALS = """
Opportunity ID,Stage,Amount,Created Date,Close Date
006A,Closed Won,1000,2024-01-10,2024-02-20
006B,Proposal,500,2024-01-10,
006C,Prospecting,700,,
"""
HISTORY = """
Opportunity ID,To Stage,Edit Date
006A,Prospecting,2024-01-02
006A,Proposal,2024-01-20
006A,Closed Won,2024-02-20
006B,Qualification,2024-01-09 12:00
006B,Proposal,2024-01-25
006C,Prospecting,2023-12-01
"""


def folder(tmp_path, history: str = HISTORY):  # noqa: ANN001, ANN201
    write(tmp_path, "deals.csv", DEALS)
    write(tmp_path, "history.csv", history)
    return tmp_path, write(tmp_path, "m.yaml", MAPPING)


def entries(history: pd.DataFrame, deal: str) -> list[tuple[str, str]]:
    mine = history[history["opportunity_id"] == deal].sort_values("entered_at")
    return [(s, str(t)) for s, t in zip(mine["stage"], mine["entered_at"], strict=True)]


def test_a_history_row_far_before_creation_is_a_problem_naming_file_row_column_and_dates(
    tmp_path,
):
    path, mapping = folder(tmp_path)
    with pytest.raises(ImportRejected) as caught:
        read_export(path, mapping)
    report = caught.value.report
    assert report.counts["stage entered before create"] == 1
    [problem] = [p for p in report.examples if p.kind == "stage entered before create"]
    assert problem.file.endswith("history.csv") and problem.row == 2
    assert problem.column == "Edit Date"
    assert problem.value == "2024-01-10 > 2024-01-02"


def test_a_rejected_import_keeps_what_was_stored(sqlite_engine, tmp_path):
    path, mapping = folder(tmp_path, HISTORY.replace("006A,Prospecting,2024-01-02\n", ""))
    import_export(sqlite_engine, path, mapping)
    before = load_deal_history(sqlite_engine, "sfdc", check_leaks=False).stage_log
    write(
        tmp_path,
        "history.csv",
        HISTORY.replace("006B,Proposal,2024-01-25", "006B,Proposal,2023-06-01"),
    )
    with pytest.raises(ImportRejected):
        import_export(sqlite_engine, path, mapping)
    after = load_deal_history(sqlite_engine, "sfdc", check_leaks=False).stage_log
    pd.testing.assert_frame_equal(after, before)


def test_with_skip_only_that_entry_is_left_out_and_the_deal_is_kept(sqlite_engine, tmp_path):
    path, mapping = folder(tmp_path)
    report = import_export(sqlite_engine, path, mapping, on_error="skip")
    assert report.written and report.rows_written == 3 and report.bad_rows == 1
    history = load_deal_history(sqlite_engine, "sfdc", check_leaks=False)
    assert entries(history.stage_log, "006A") == [
        ("Proposal", "2024-01-20 00:00:00"),
        ("Won", "2024-02-20 00:00:00"),
    ]
    assert "006A" in set(history.deals["id"])


def test_an_entry_within_the_clock_skew_tolerance_is_read_as_entered_at_creation(tmp_path):
    path, mapping = folder(tmp_path)
    export = read_export(path, mapping, on_error="skip")
    dated = export.history[~export.history["seen_only"]]  # the file's, not the row's sighting
    assert entries(dated, "006B") == [
        ("Qualification", "2024-01-10 00:00:00"),
        ("Proposal", "2024-01-25 00:00:00"),
    ]
    assert any("1 stage entry dated up to 1 day before" in n for n in export.report.notes)


def test_a_zero_tolerance_makes_any_entry_before_creation_a_problem(tmp_path):
    path, _ = folder(tmp_path)
    mapping = write(tmp_path, "m.yaml", MAPPING + 'clock_skew_tolerance: "0"\n')
    with pytest.raises(ImportRejected) as caught:
        read_export(path, mapping)
    rows = sorted(p.row for p in caught.value.report.examples)
    assert rows == [2, 5]


def test_a_deal_without_a_creation_date_has_nothing_to_judge_its_entries_by(tmp_path):
    path, mapping = folder(tmp_path)
    export = read_export(path, mapping, on_error="skip")
    dated = export.history[~export.history["seen_only"]]  # the file's, not the row's sighting
    assert entries(dated, "006C") == [("Prospecting", "2023-12-01 00:00:00")]


FLAT = """
kind: opportunities
dataset: hub
columns: {id: Deal ID, stage: Stage, created_at: Created, closed_at: Closed}
stages:
  open: [New, Proposal]
stage_names: {"Closed Won": Won, "Closed Lost": Lost}
stage_dates: {Proposal: Proposal date}
"""
FLAT_DEALS = """
Deal ID,Stage,Created,Closed,Proposal date
D1,Proposal,2024-01-10,,2024-01-01
D2,Closed Won,2024-01-10,2024-02-01,2024-01-09 20:00
D3,Proposal,2024-01-10,,2024-01-15
"""


def test_an_entry_date_column_before_creation_is_reported_and_the_deal_kept(tmp_path):
    file = write(tmp_path, "deals.csv", FLAT_DEALS)
    mapping = write(tmp_path, "m.yaml", FLAT)
    with pytest.raises(ImportRejected) as caught:
        read_export(file, mapping)
    [problem] = caught.value.report.examples
    assert (problem.row, problem.column, problem.kind) == (
        2,
        "Proposal date",
        "stage entered before create",
    )
    assert problem.value == "2024-01-10 > 2024-01-01"

    export = read_export(file, mapping, on_error="skip")
    assert set(export.opportunities["id"]) == {"D1", "D2", "D3"}
    d1 = entries(export.history, "D1")
    assert len(d1) == 1 and d1[0][0] == "Proposal" and d1[0][1] >= "2024-01-10"
    assert entries(export.history, "D2")[0] == ("Proposal", "2024-01-10 00:00:00")  # skew
    assert entries(export.history, "D3") == [("Proposal", "2024-01-15 00:00:00")]


def test_with_skip_a_deal_whose_row_is_bad_leaves_no_history_behind(sqlite_engine, tmp_path):
    """A walkthrough's Salesforce export: a deal closed before it was created is a bad row,
    left out by `skip`; its history file's rows go with it (they were stored for a deal the
    store did not hold), and the notes say how many."""
    from sqlalchemy import func, select

    from forecast.data import store

    history = HISTORY.replace("006A,Prospecting,2024-01-02\n", "")
    path, mapping = folder(tmp_path, history)
    write(
        tmp_path,
        "deals.csv",
        DEALS.replace(
            "006A,Closed Won,1000,2024-01-10,2024-02-20",
            "006A,Closed Won,1000,2024-01-10,2023-02-20",
        ),
    )
    report = import_export(sqlite_engine, path, mapping, on_error="skip")
    assert report.counts["close before create"] == 1 and report.rows_written == 2
    with sqlite_engine.connect() as conn:
        ids = set(conn.execute(select(store.stage_history.c.opportunity_id)).scalars())
        kept = conn.execute(select(func.count()).select_from(store.stage_history)).scalar()
    assert ids == {"006B", "006C"} and kept == report.history_rows_written
    assert any(
        "history.csv: 2 row(s) of the deals whose rows were bad, left out with them" in n
        for n in report.notes
    )
