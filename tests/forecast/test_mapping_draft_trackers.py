"""Drafts of a GoHighLevel opportunities export and of a hand-kept spreadsheet tracker read
their amounts, owners, ids and stages as those files write them, and say what they could not
find (found by a new user's walkthrough)."""

from __future__ import annotations

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write


def _read(tmp_path, file):
    """The draft of `file` and the deals it reads, by id."""
    draft = draft_mapping(file)
    mapping = load_mapping(write(tmp_path, "draft.yaml", draft.text))
    return draft, read_export(file, mapping).opportunities.set_index("id")


def test_a_gohighlevel_export_reads_its_lead_value_owner_and_update_time(tmp_path):
    file = write(
        tmp_path,
        "opportunities.csv",
        "Opportunity Name,pipeline,stage,Lead Value,assigned,Created on,Updated on,status,"
        "Opportunity ID\n"
        "Ann,Sales,Proposal Sent,6060,Brandon Lee,2024-01-02T18:41:20.243Z,"
        "2024-04-05T01:23:51.345Z,won,o1\n"
        "Bob,Sales,New Lead,1010,Tyler Brooks,2024-01-03T09:01:49.404Z,"
        "2024-03-04T10:27:44.541Z,lost,o2\n"
        "Cy,Sales,Contacted,,Tyler Brooks,2024-01-04T09:01:49.404Z,2024-03-05T10:27:44.541Z,"
        "open,o3\n",
    )
    draft = draft_mapping(file)
    assert draft.columns["amount"] == "Lead Value"
    assert draft.columns["owner"] == "assigned"
    assert draft.columns["updated_at"] == "Updated on"
    assert not any(c.startswith("no column found for amount") for c in draft.checks)


def test_a_deal_export_without_an_amount_says_revenue_figures_need_one(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Opportunity ID,Stage,Created\n1,Won,2024-03-05\n2,Lost,2024-03-06\n3,Demo,2024-03-07\n",
    )
    checks = draft_mapping(file).checks
    said = [c for c in checks if c.startswith("no column found for amount")]
    assert said and "revenue" in said[0]
    assert any(c.startswith("no column found for owner") for c in checks)
    assert any(c.startswith("no column found for updated_at") for c in checks)
