"""A mapping meets the file as its user wrote it: `value_fixes` match a cell ignoring case and
surrounding spaces, as stage names do (a mapping drafted from "Open" reads a later export's
"open"), and a column the mapping names that the file lacks is an error naming the field and
the file's closest header, whether the field is required or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.errors import InvalidInput
from tests.forecast.test_import_options import write

PIPEDRIVE = """
kind: opportunities
dataset: pd
columns:
  id: ID
  stage: {first_of: [Status, Stage]}
  amount: Value
  owner: Owner
  created_at: Deal created
  closed_at: Closed
value_fixes:
  Status: {Open: ""}
stages:
  open: [Qualified, Proposal Made]
"""
HEADER = "ID,Value,Owner,Stage,Status,Deal created,Closed"


def _deals(folder: Path, *statuses: str, closed: tuple[str, ...] = ()) -> Path:
    """A deal per status; won and lost deals (and those whose status is in `closed`) closed."""
    rows = []
    for i, status in enumerate(statuses, 1):
        closes = status.strip() in closed or status.strip().casefold() in ("won", "lost")
        stage = "Qualified" if i % 2 else "Proposal Made"
        date = "2024-02-01" if closes else ""
        rows.append(f"{i},{100 * i},Ann,{stage},{status},2024-01-0{i},{date}")
    return write(folder, "deals.csv", "\n".join([HEADER, *rows]))


def test_a_value_fix_reads_the_same_value_in_another_case_as_stage_names_are_read(tmp_path):
    """A mapping drafted from a Title-case export imports a lower-case one: each open deal's
    status is blank, so its stage is read, not refused as "unknown stage 'open'"."""
    file = _deals(tmp_path, "open", "OPEN ", "won", "lost", " Open")
    export = read_export(file, load_mapping(write(tmp_path, "m.yaml", PIPEDRIVE)))
    assert export.report.ok
    deals = export.opportunities.set_index("id")
    assert deals["stage"].tolist() == ["Qualified", "Proposal Made", "Won", "Lost", "Qualified"]
    assert deals["status"].tolist() == ["open", "open", "won", "lost", "open"]


def test_two_spellings_fixed_apart_keep_their_own_fixes(tmp_path):
    """Where a column's fixes name two values differing only in case, each is read as written,
    and a third spelling is not guessed at: it is an unknown stage, as before."""
    mapping = PIPEDRIVE.replace('Status: {Open: ""}', 'Status: {Open: "", OPEN: Lost}')
    file = _deals(tmp_path, "Open", "OPEN", "open", closed=("OPEN",))
    export = read_export(file, load_mapping(write(tmp_path, "m.yaml", mapping)), on_error="skip")
    deals = export.opportunities.set_index("id")
    assert deals["stage"].to_dict() == {"1": "Qualified", "2": "Lost"}
    assert dict(export.report.counts) == {"unknown stage": 1}


def test_a_typo_in_an_optional_fields_column_names_the_field_and_the_closest_header(tmp_path):
    mapping = write(tmp_path, "m.yaml", PIPEDRIVE.replace("owner: Owner", "owner: Ownr"))
    file = _deals(tmp_path, "Open", "Won")
    with pytest.raises(InvalidInput) as err:
        read_export(file, load_mapping(mapping))
    said = str(err.value)
    assert "owner: 'Ownr'; did you mean 'Owner'?" in said
    assert "required" not in said.split("; the file has")[0]


def test_a_required_fields_missing_column_is_still_said_required_with_a_suggestion(tmp_path):
    mapping = write(tmp_path, "m.yaml", PIPEDRIVE.replace("id: ID", "id: Deal ID"))
    file = _deals(tmp_path, "Open", "Won").rename(tmp_path / "ids.csv")
    text = file.read_text().replace("ID,", "Deal Idd,", 1)
    file.write_text(text)
    with pytest.raises(InvalidInput, match=r"missing required column\(s\) \['Deal ID'\]") as err:
        read_export(file, load_mapping(mapping))
    assert "(id; did you mean 'Deal Idd'?)" in str(err.value)


def test_a_typo_in_a_first_of_column_suggests_the_closest_header(tmp_path):
    mapping = write(tmp_path, "m.yaml", PIPEDRIVE.replace("[Status, Stage]", "[Status, Stge]"))
    with pytest.raises(InvalidInput, match="did you mean 'Stage'"):
        read_export(_deals(tmp_path, "Open"), load_mapping(mapping))


def test_a_joined_files_values_are_fixed_ignoring_case_too(tmp_path):
    mapping = write(
        tmp_path,
        "m.yaml",
        """
kind: opportunities
dataset: acme
main: deals.csv
joins:
  - {file: owners.csv, key: Owner}
columns: {id: Deal ID, stage: Stage, owner: Owner, team: Team, created_at: Created}
stages: {open: [New], won: Won, lost: Lost}
value_fixes: {Team: {East: EMEA}}
""",
    )
    write(tmp_path, "owners.csv", "Owner,Team\nann,east\nbob,West")
    deals = write(
        tmp_path,
        "deals.csv",
        "Deal ID,Stage,Owner,Created\nD1,New,ann,2024-01-02\nD2,New,bob,2024-01-03",
    )
    teams = read_export(deals, load_mapping(mapping)).opportunities.set_index("id")["team"]
    assert teams.to_dict() == {"D1": "EMEA", "D2": "West"}
