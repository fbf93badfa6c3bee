"""A stage-history file whose columns have the CRM's own names (Salesforce's Opportunity History
report: Opportunity ID, To Stage, Edit Date) is read through the mapping's `history_columns`;
a named column the file lacks is an error naming it."""

from __future__ import annotations

import pytest

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.errors import InvalidInput
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
006A,Closed Won,1000,2024-01-02,2024-02-20
006B,Proposal,500,2024-01-10,
"""
HISTORY = """
Opportunity ID,From Stage,To Stage,Edit Date,Amount
006A,,Prospecting,2024-01-02,1000
006A,Prospecting,Proposal,2024-01-20,1000
006A,Proposal,Closed Won,2024-02-20,1000
006B,,Qualification,2024-01-10,500
006B,Qualification,proposal,2024-01-25,500
"""


def test_a_history_file_with_the_crms_column_names_is_read_through_history_columns(tmp_path):
    write(tmp_path, "deals.csv", DEALS)
    write(tmp_path, "history.csv", HISTORY)
    export = read_export(tmp_path, write(tmp_path, "m.yaml", MAPPING))
    history = export.history
    entries = history[~history["seen_only"]].sort_values(["opportunity_id", "entered_at"])
    b = entries[entries["opportunity_id"] == "006B"]
    assert b["stage"].tolist() == ["Qualification", "Proposal"]
    assert str(b["entered_at"].iloc[1]) == "2024-01-25 00:00:00"
    assert "Proposal" in entries[entries["opportunity_id"] == "006A"]["stage"].tolist()


def test_a_history_column_the_file_lacks_is_named(tmp_path):
    write(tmp_path, "deals.csv", DEALS)
    write(tmp_path, "history.csv", HISTORY.replace("Edit Date", "Modified"))
    with pytest.raises(InvalidInput, match="entered_at: Edit Date"):
        read_export(tmp_path, write(tmp_path, "m.yaml", MAPPING))


def test_history_columns_for_a_field_a_history_file_has_not_are_refused(tmp_path):
    bad = MAPPING.replace("entered_at: Edit Date}", "entered_at: Edit Date, owner: Owner}")
    with pytest.raises(InvalidInput, match="not history fields"):
        load_mapping(write(tmp_path, "m.yaml", bad))
