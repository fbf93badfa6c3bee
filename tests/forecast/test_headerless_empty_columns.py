"""A spreadsheet saved as CSV often ends each line with empty cells under no header (",,"):
columns with no name and no value. They are no attribute of a lead: the import leaves them out
and says so. Before, each was kept as an input named by pandas, "Unnamed: 5", a name that is in
no file, and training listed "Unnamed: 5, Unnamed: 6" among its columns of one value."""

from __future__ import annotations

from pathlib import Path

from forecast.data.importing import read_export

MAPPING = """
kind: leads
dataset: sheet
columns:
  id: Lead ID
  converted: Converted
"""

LEADS = """Lead ID,Source,Visits,Converted,,
L1,Web,3,1,,
L2,Ads,0,0,,
L3,Web,5,1,,
"""


def test_empty_columns_without_a_header_are_left_out_and_said(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS)
    read = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml")
    assert not [c for c in read.leads.columns if str(c).startswith("Unnamed")]
    assert any("no header and no value" in note for note in read.report.notes)


def test_a_column_without_a_header_that_holds_values_is_kept(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS.replace("3,1,,", "3,1,,big"))
    read = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml")
    assert [c for c in read.leads.columns if str(c).startswith("Unnamed")] == ["Unnamed: 5"]
