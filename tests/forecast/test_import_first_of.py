"""A field split over several columns, one filled per row (Pipedrive's "Won time" and "Lost
time"), is read with `{first_of: [...]}`: the first of its columns that is not blank. A
malformed entry, or a column the file lacks, is an error naming the field; the export-state
leak check sees the combined field, blank only where every column is."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data.importing import import_export, read_export
from forecast.data.mapping import load_mapping
from forecast.errors import ImportRejected, InvalidInput
from forecast.export_leaks import find_export_leaks
from forecast.history import load_deal_history
from tests.forecast.test_import_options import write

PIPEDRIVE = """
kind: opportunities
dataset: pipedrive
columns:
  id: ID
  stage: Status
  owner: {first_of: [Owner, Creator]}
  amount: {first_of: [Value, Weighted value]}
  created_at: {first_of: [Deal created, Add time]}
  closed_at: {first_of: [Won time, Lost time]}
  updated_at: {first_of: [Update time, Deal created]}
stages:
  open: [Qualified, Proposal Made]
stage_names: {won: Won, lost: Lost}
"""
DEALS = """
ID,Status,Owner,Creator,Value,Weighted value,Deal created,Add time,Won time,Lost time,Update time
1,won,Ann,Bob,1000,,2024-01-10,,2024-02-01,,2024-02-01
2,lost, ,Bob,,300,,2024-01-11,,2024-02-03,
3,Proposal Made,,,500,,2024-01-12,,,,2024-01-20
"""


def test_each_field_reads_the_first_of_its_columns_that_is_not_blank(tmp_path):
    file = write(tmp_path, "deals.csv", DEALS)
    deals = read_export(file, write(tmp_path, "m.yaml", PIPEDRIVE)).opportunities.set_index("id")
    assert str(deals.loc["1", "closed_at"]) == "2024-02-01 00:00:00"  # Won time
    assert str(deals.loc["2", "closed_at"]) == "2024-02-03 00:00:00"  # Lost time
    assert pd.isna(deals.loc["3", "closed_at"])  # open: both blank
    assert deals.loc["1", "owner"] == "Ann" and deals.loc["2", "owner"] == "Bob"  # " " is blank
    assert pd.isna(deals.loc["3", "owner"])
    assert deals.loc["1", "amount"] == 1000.0 and deals.loc["2", "amount"] == 300.0
    assert str(deals.loc["2", "created_at"]) == "2024-01-11 00:00:00"  # Add time
    assert str(deals.loc["3", "updated_at"]) == "2024-01-20 00:00:00"  # Update time
    # both blank: dated at the export (its newest date), as any row without updated_at
    assert str(deals.loc["2", "updated_at"]) == "2024-02-03 00:00:00"


def test_the_combined_columns_are_imported_into_the_store(sqlite_engine, tmp_path):
    file = write(tmp_path, "deals.csv", DEALS)
    report = import_export(sqlite_engine, file, write(tmp_path, "m.yaml", PIPEDRIVE))
    assert report.written and report.rows_written == 3
    deals = load_deal_history(sqlite_engine, "pipedrive", check_leaks=False).deals
    closed = pd.to_datetime(deals.set_index("id")["closed_at"])
    assert closed["1"] == pd.Timestamp("2024-02-01") and closed["2"] == pd.Timestamp("2024-02-03")
    assert pd.isna(closed["3"])


def test_a_bad_value_in_a_combined_column_is_reported_under_the_combined_name(tmp_path):
    bad = DEALS.replace("2024-02-03", "3rd Feb")
    file = write(tmp_path, "deals.csv", bad)
    with pytest.raises(ImportRejected) as caught:
        read_export(file, write(tmp_path, "m.yaml", PIPEDRIVE))
    [problem] = caught.value.report.examples
    assert (problem.row, problem.kind, problem.value) == (3, "unparseable date", "3rd Feb")
    assert problem.column == "first_of(Won time, Lost time)"


def test_a_column_the_file_lacks_is_an_error_naming_the_field(tmp_path):
    file = write(tmp_path, "deals.csv", DEALS.replace("Lost time", "Lost date"))
    with pytest.raises(InvalidInput, match=r"closed_at: first_of .*\['Lost time'\]"):
        read_export(file, write(tmp_path, "m.yaml", PIPEDRIVE))


def test_column_names_match_ignoring_case_as_other_mapped_names_do(tmp_path):
    file = write(tmp_path, "deals.csv", DEALS.replace("Lost time", "LOST TIME"))
    deals = read_export(file, write(tmp_path, "m.yaml", PIPEDRIVE)).opportunities.set_index("id")
    assert str(deals.loc["2", "closed_at"]) == "2024-02-03 00:00:00"


@pytest.mark.parametrize(
    "entry",
    [
        "{first_of: Won time}",
        "{first_of: []}",
        "{first_of: [Won time, 3]}",
        "{first_of: [Won time], hash_of: [ID]}",
        "{first_of: [Won time, Won time]}",
    ],
)
def test_a_malformed_first_of_is_refused_naming_the_field(tmp_path, entry):
    text = PIPEDRIVE.replace("{first_of: [Won time, Lost time]}", entry)
    with pytest.raises(InvalidInput, match="closed_at: "):
        load_mapping(write(tmp_path, "m.yaml", text))


def _deals(n: int, spare: str) -> str:
    """Deals created over a year, every fourth one open; Owner blank on every open deal (the
    export's artefact), the other column `spare` filled or blank on them."""
    lines = ["ID,Status,Owner,Assigned to,Created,Won time,Lost time,Updated"]
    for i in range(n):
        created = pd.Timestamp("2023-01-01") + pd.Timedelta(days=i * 365 // n)
        close = (created + pd.Timedelta(days=20)).date()
        status = ("Qualified", "won", "lost", "won")[i % 4]
        owner = "" if status == "Qualified" else f"rep{i % 3}"
        other = f"rep{i % 3}" if spare == "filled" else ""
        won = close if status == "won" else ""
        lost = close if status == "lost" else ""
        lines.append(f"{i},{status},{owner},{other},{created.date()},{won},{lost},2024-01-15")
    return "\n".join(lines)


@pytest.mark.parametrize(("spare", "leaks"), [("filled", False), ("blank", True)])
def test_the_leak_check_sees_the_combined_field_blank_only_where_every_column_is(
    sqlite_engine, tmp_path, spare, leaks
):
    mapping = """
kind: opportunities
dataset: leaky
columns:
  id: ID
  stage: Status
  owner: {first_of: [Owner, Assigned to]}
  created_at: Created
  closed_at: {first_of: [Won time, Lost time]}
  updated_at: Updated
stages:
  open: [Qualified]
stage_names: {won: Won, lost: Lost}
"""
    file = write(tmp_path, "deals.csv", _deals(200, spare))
    import_export(sqlite_engine, file, write(tmp_path, "m.yaml", mapping))
    history = load_deal_history(sqlite_engine, "leaky", check_leaks=False)
    found = {leak.field for leak in find_export_leaks(history) if leak.kind == "blank"}
    assert ("owner" in found) is leaks


def test_the_readme_example_maps_a_pipedrive_export(tmp_path: Path):
    """The README's Pipedrive example loads as written."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("# a Pipedrive deals export")
    block = readme[start : readme.index("```", start)]
    mapping = load_mapping(write(tmp_path, "pipedrive.yaml", block))
    assert set(mapping.combined_columns) == {"stage", "closed_at"}
    assert mapping.combined_columns["closed_at"].first_of == ["Won time", "Lost time"]
    export = (
        "ID,Title,Value,Status,Stage,Owner,Deal created,Update time,Won time,Lost time\n"
        "1,Acme,1000,Open,Qualified,Ann,2024-01-02 10:00:00,2024-03-01 10:00:00,,\n"
        "2,Beta,2000,Won,Negotiations Started,Bo,2024-01-05 10:00:00,2024-02-01 10:00:00,"
        "2024-02-01 10:00:00,\n"
        "3,Gamma,500,Lost,Contact Made,Ann,2024-01-07,2024-02-10,,2024-02-10\n"
    )
    deals = read_export(write(tmp_path, "deals.csv", export), mapping).opportunities
    assert deals["stage"].tolist() == ["Qualified", "Won", "Lost"]
    assert deals["status"].tolist() == ["open", "won", "lost"]
    assert deals["closed_at"].tolist()[1:] == [
        pd.Timestamp("2024-02-01 10:00"),
        pd.Timestamp("2024-02-10"),
    ]


def test_a_lead_fields_columns_are_not_model_inputs(tmp_path):
    """A label read from two columns gives itself away if either column stays an input."""
    leads = """
kind: leads
dataset: web
columns: {id: Lead, converted: {first_of: [Converted, Converted (old CRM)]}}
"""
    rows = "Lead,Converted,Converted (old CRM),City\nL1,1,,Lyon\nL2,,0,Metz\nL3,0,1,Nice\n"
    file = write(tmp_path, "leads.csv", rows)
    got = read_export(file, write(tmp_path, "leads.yaml", leads)).leads.set_index("id")
    assert got["converted"].tolist() == [1, 0, 0]
    assert "City" in got.columns
    assert not {"Converted", "Converted (old CRM)"} & set(got.columns)


def test_a_first_of_column_cannot_also_be_a_feature(tmp_path):
    """A label read from "Won" and "Lost" would give itself away as the input "Won"."""
    leads = """
kind: leads
dataset: people
columns: {id: Lead, converted: {first_of: [Won, Lost]}}
features: [Won, Source]
"""
    with pytest.raises(InvalidInput, match=r"already mapped.*'Won': 'converted \(first_of 1\)'"):
        load_mapping(write(tmp_path, "leads.yaml", leads))


def test_a_stage_named_with_its_pipeline_reads_as_the_stage(sqlite_engine):
    """HubSpot names the stages of several pipelines "Closed won (Renewals)"."""
    import pandas as pd

    from forecast.data import store
    from forecast.data.importing import import_frame
    from forecast.data.mapping import load_mapping

    frame = pd.DataFrame(
        {
            "id": ["D1", "D2", "D3"],
            "stage": ["Won (Renewals)", "Prospecting (Partner Deals)", "Mystery (Renewals)"],
            "amount": [100.0, 50.0, 70.0],
            "created_at": ["2024-01-02"] * 3,
            "closed_at": ["2024-02-01", None, None],
            "updated_at": ["2024-02-01"] * 3,
        }
    )
    report = import_frame(
        sqlite_engine, frame, load_mapping("canonical"), dataset="crm", on_error="skip"
    )
    assert report.bad_rows == 1  # a stage unknown with or without its pipeline stays unknown
    assert any("'Won (Renewals)' as 'Won'" in n for n in report.notes)
    deals = store.load_opportunities(sqlite_engine, "crm").set_index("id")
    assert deals["stage"].to_dict() == {"D1": "Won", "D2": "Prospecting"}
