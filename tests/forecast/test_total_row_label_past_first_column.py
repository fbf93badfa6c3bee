"""A spreadsheet's sums row at the end of an export is no record, also where its "Total" label
sits in a later column than the first (the first, the id's, left blank above the sums). Before,
such a row made the import fail: "missing id" and "label is not 0/1" (the sum of the labels) on
its line, and nothing was written."""

from __future__ import annotations

from pathlib import Path

from forecast.data.importing import read_export

MAPPING = """
kind: leads
dataset: sums
columns:
  id: Lead ID
  converted: Converted
"""

LEADS = """Lead ID,Source,Visits,Converted,,
L1,Web,3,1,,
L2,Ads,0,0,,
L3,Web,5,1,,
,,,,,
,Total,8,2,,
"""


def test_a_trailing_sums_row_labelled_in_its_second_column_is_skipped_and_said(
    tmp_path: Path,
) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS)
    read = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml")
    assert sorted(read.leads["id"]) == ["L1", "L2", "L3"]
    assert any("footer" in note and "Total" in note for note in read.report.notes)


def test_a_lead_named_total_in_a_later_column_inside_the_file_is_still_a_lead(
    tmp_path: Path,
) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(
        "Lead ID,Source,Visits,Converted\nL1,Total,3,1\nL2,Ads,0,0\n"
    )
    read = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml")
    assert sorted(read.leads["id"]) == ["L1", "L2"]
