"""A lead mapping whose `converted:` names a column the file lacks reads the file as new leads
without outcomes (by design: a file of leads to score). Where the name is a slip for a column the
file has ("Statuss" for "Status"), the note must name that column, as a mapped column the file
lacks is named elsewhere: otherwise a labelled export imports with no outcome learnt, its label
stored as an input, and nothing on screen points at the typo."""

from __future__ import annotations

from pathlib import Path

from forecast.data.importing import read_export

MAPPING = """
kind: leads
dataset: typo
columns:
  id: Record ID
  converted: Statuss
value_fixes:
  Status: {Won: "1", Lost: "0"}
"""

LEADS = "Record ID,Source,Status\nR1,Web,Won\nR2,Ads,Lost\nR3,Web,Lost\n"


def test_the_no_outcome_note_names_the_near_column(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS)
    report = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml").report
    [note] = [n for n in report.notes if n.startswith("no 'Statuss' column")]
    assert "did you mean 'Status'?" in note
