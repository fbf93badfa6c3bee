"""Drafts of a GoHighLevel opportunities export and of a hand-kept spreadsheet tracker read
their amounts, owners, ids and stages as those files write them, and say what they could not
find (found by a new user's walkthrough)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.errors import InvalidInput
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
    # it has no close date: the check points at the nearest column it has
    assert any("'Updated on', a deal's last update, is the nearest" in c for c in draft.checks)


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


#: A hand-kept Google Sheets tracker: the deal's name is its "Deal" column and it has no id.
TRACKER = (
    "Deal,Company,Owner,Stage,Value,Created,Closed\n"
    'Initech - Starter plan,Initech,SR,Lost,"$6,600.00",1/4/2024,1/22/2024\n'
    'Globex - Starter plan,Globex,JD,Won,"$5,700.00",1/5/2024,2/4/2024\n'
    'Hooli - Onboarding package,Hooli,MK,3 - Demo,"$2,000.00",1/6/2024,\n'
)


def test_a_tracker_without_ids_hashes_them_from_its_deal_name_and_creation_date(tmp_path):
    file = write(tmp_path, "deals.csv", TRACKER)
    draft, deals = _read(tmp_path, file)
    assert "id: {hash_of: [Deal, Created]}" in draft.text
    assert deals["stage"].tolist() == ["Lost", "Won", "3 - Demo"]


def test_a_tracker_whose_deal_names_repeat_says_hash_of_is_the_way_to_an_id(tmp_path):
    again = 'Globex - Starter plan,Globex,JD,Won,"$5,700.00",1/5/2024,2/4/2024\n'
    draft = draft_mapping(write(tmp_path, "deals.csv", TRACKER + again))
    assert "id: ???" in draft.text
    said = next(c for c in draft.checks if c.startswith("no column found for id"))
    assert "hash_of: [Deal, Created]" in said and "share or lack 'Deal' and 'Created'" in said


def test_amounts_like_4_400_00_prove_the_comma_groups_thousands_of_14_300(tmp_path):
    whole = 'Pied Piper - Starter plan,Pied Piper,MK,Won,"$14,300",1/7/2024,3/1/2024\n'
    draft, deals = _read(tmp_path, write(tmp_path, "deals.csv", TRACKER + whole))
    assert 'csv: {thousands: ","}' in draft.text
    assert any("'$6,600.00' group thousands with a comma" in c for c in draft.checks)
    assert deals["amount"].tolist() == [6600, 5700, 2000, 14300]


def test_whole_amounts_alone_still_leave_the_comma_to_the_import(tmp_path):
    text = 'Id,Stage,Amount,Created\n1,Won,"5,000",2024-03-05\n2,Lost,"14,300",2024-03-06\n'
    draft = draft_mapping(write(tmp_path, "deals.csv", text))
    assert "csv:" not in draft.text
    # The draft names both readings for the user to pick, as the import's error does.
    [check] = [c for c in draft.checks if "do not read as numbers as written" in c]
    assert "amounts like '5,000'" in check
    assert 'csv: {thousands: ","} if the comma groups thousands' in check
    assert 'csv: {decimal: ","} if it is the decimal mark' in check


def test_stage_values_differing_only_in_case_are_drafted_as_one_stage(tmp_path):
    rows = (
        'Umbrella - Pro plan,Umbrella,SR,4 - Proposal,"$1,000.00",1/8/2024,\n'
        'Acme - Pro plan,Acme,SR,4 - Proposal,"$1,000.00",1/9/2024,\n'
        'Stark - Pro plan,Stark,JD,4 - proposal,"$1,000.00",1/10/2024,\n'
    )
    draft, deals = _read(tmp_path, write(tmp_path, "deals.csv", TRACKER + rows))
    assert '    - "4 - Proposal"' in draft.text and '    - "4 - proposal"' not in draft.text
    assert 'stage_names:   # other names of the stages\n  "4 - proposal": "4 - Proposal"' in (
        draft.text
    )
    assert (deals["stage"] == "4 - Proposal").sum() == 3


def test_a_tracker_amount_to_be_decided_is_read_as_not_known(tmp_path):
    rows = (
        'Pied Piper - Starter plan,Pied Piper,MK,Won,"$14,300",1/7/2024,3/1/2024\n'
        "Umbrella - Pro plan,Umbrella,SR,3 - Demo,TBD,1/8/2024,\n"
    )
    draft, deals = _read(tmp_path, write(tmp_path, "deals.csv", TRACKER + rows))
    assert 'csv: {thousands: ","}' in draft.text  # "TBD" says nothing of the notation
    assert "missing_values: [TBD]" in draft.text
    assert deals["amount"].tolist()[3] == 14300 and pd.isna(deals["amount"].tolist()[4])


def test_deals_in_several_pipelines_are_drafted_as_the_biggest_pipelines_funnel(tmp_path):
    """GoHighLevel and Pipedrive export every pipeline's deals in one file: a reactivation
    pipeline's "Cold" would sit in the sales funnel's order. The draft keeps the biggest
    pipeline's deals, drafts their stages alone, and the import counts the others left out."""
    rows = ["Opportunity Name,pipeline,stage,status,Lead Value,Created on,Closed on"]
    for i in range(12):
        pipeline, stage = (
            ("Reactivation Pipeline", "Cold") if i % 4 == 0 else ("Sales Pipeline", "Contacted")
        )
        status = ("open", "won", "lost")[i % 3]
        closed = "" if status == "open" else f"2024-02-{i + 1:02d}"
        rows.append(f"Deal {i},{pipeline},{stage},{status},100,2024-01-{i + 1:02d},{closed}")
    file = write(tmp_path, "opps.csv", "\n".join(rows))
    draft = draft_mapping(file)
    checks = " ".join(draft.checks)
    assert (
        "'pipeline' holds 2 pipelines ('Sales Pipeline' (9), 'Reactivation Pipeline' (3))" in checks
    )
    assert "this draft keeps 'Sales Pipeline' (keep_rows)" in checks
    assert "Cold" not in draft.text
    mapping = load_mapping(write(tmp_path, "m.yaml", draft.text))
    assert mapping.keep_rows == {"pipeline": ["Sales Pipeline"]}
    assert mapping.dataset == "opps_sales_pipeline"
    export = read_export(file, mapping)
    assert len(export.opportunities) == 9  # the sales pipeline's


def test_keep_rows_keeps_the_rows_it_names_whatever_their_case_and_says_the_others(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal,Stage,Pipeline,Created,Closed\nD1,Won,sales ,2024-01-01,2024-02-01\n"
        "D2,Won,Partners,2024-01-02,2024-02-01\nD3,Open,,2024-01-03,\n",
    )
    mapping = write(
        tmp_path,
        "m.yaml",
        "kind: opportunities\ndataset: d\n"
        "columns: {id: Deal, stage: Stage, created_at: Created, closed_at: Closed}\n"
        "stages: {open: [Open], won: Won, lost: Lost}\nkeep_rows: {Pipeline: [Sales]}\n",
    )
    export = read_export(file, load_mapping(mapping))
    assert export.opportunities["id"].tolist() == ["D1"]
    said = " ".join(export.report.notes)
    assert "Pipeline = 'Partners', not kept (1)" in said and "Pipeline = '', not kept (1)" in said


def test_keep_rows_naming_a_column_the_file_lacks_is_refused_naming_it(tmp_path):
    file = write(tmp_path, "deals.csv", "Deal,Stage,Created\nD1,Open,2024-01-01\n")
    mapping = write(
        tmp_path,
        "m.yaml",
        "kind: opportunities\ndataset: d\ncolumns: {id: Deal, stage: Stage, created_at: Created}\n"
        "stages: {open: [Open], won: Won, lost: Lost}\nkeep_rows: {Pipeline: [Sales]}\n",
    )
    with pytest.raises(InvalidInput, match="keep_rows: deals.csv has no column 'Pipeline'"):
        read_export(file, load_mapping(mapping))
    with pytest.raises(InvalidInput, match="keep_rows: .*name the values whose rows are kept"):
        load_mapping(write(tmp_path, "e.yaml", mapping.read_text().replace("[Sales]", "[]")))
