"""A date after the export (a typo'd year) is a bad row named by line, column and value: the
value is the cell as the file writes it ("31/12/2099" in a day-first export), so a user can find
it in the file. Before, the report showed the date as read ("2099-12-31"), a text the row did not
hold, in the import's examples and in `forecast score`'s list of leads not scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data.importing import read_export
from forecast.errors import ImportRejected

MAPPING = """
kind: leads
dataset: dayfirst
columns:
  id: Lead ID
  converted: Converted
  created_at: Created Date
date_format: "%d/%m/%Y"
"""

LEADS = """
Lead ID,Created Date,Source,Converted
L1,02/01/2024,Google,1
L2,03/01/2024,Email,0
L3,31/12/2099,Google,1
L4,05/01/2024,Email,0
"""


def test_a_lead_created_after_the_export_is_reported_with_its_date_as_the_file_writes_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS.strip() + "\n")
    with pytest.raises(ImportRejected) as caught:
        read_export(tmp_path / "leads.csv", tmp_path / "map.yaml")
    problems = [(p.row, p.column, p.kind, p.value) for p in caught.value.report.examples]
    assert problems == [(4, "Created Date", "date in the future", "31/12/2099")]


def test_a_deal_closed_after_the_export_is_reported_with_its_date_as_the_file_writes_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "map.yaml").write_text(
        "kind: opportunities\ndataset: d\ncolumns: {id: ID, stage: Stage, created_at: Created, "
        "closed_at: Closed}\nstages: {open: [New], won: Won, lost: Lost}\n"
        'date_format: "%d/%m/%Y"\n'
    )
    (tmp_path / "deals.csv").write_text(
        "ID,Stage,Created,Closed\nD1,New,02/01/2024,\nD2,Won,03/01/2024,05/02/2204\n"
        "D3,Lost,04/01/2024,06/01/2024\n"
    )
    read = read_export(tmp_path / "deals.csv", tmp_path / "map.yaml", on_error="skip")
    problems = [(p.row, p.column, p.kind, p.value) for p in read.report.examples]
    assert problems == [(3, "Closed", "date in the future", "05/02/2204")]
