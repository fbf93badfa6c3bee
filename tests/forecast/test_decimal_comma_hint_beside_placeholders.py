"""A lead column of numbers written with a decimal comma ("2,5") that also holds a placeholder
for no value ("n/a", "—"), imported by a mapping that names no `csv:` notation, is read as text.
The import's note must say the `csv: decimal` that reads it, as it does for the same column
without placeholders; before, the note pointed only at missing_values, which would not read
"2,5" as a number at all."""

from __future__ import annotations

from pathlib import Path

from forecast.data.importing import read_export

MAPPING = """
kind: leads
dataset: de
columns:
  id: Lead ID
  converted: Converted
"""

LEADS = """Lead ID;Source;Pages per visit;Converted
L1;Web;2,5;1
L2;Ads;3,75;0
L3;Web;—;1
L4;Ads;1,5;0
L5;Web;n/a;0
L6;Ads;4,25;1
"""


def test_the_note_names_the_decimal_comma_beside_placeholders(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS)
    report = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml").report
    [note] = [n for n in report.notes if n.startswith("Pages per visit")]
    assert 'decimal: ","' in note


def test_no_notation_is_named_where_none_reads_the_others_too(tmp_path: Path) -> None:
    """An English file's "2.5" beside a stray "1.234,5": a decimal comma would not read "2.5",
    so the note keeps to what the user can do (write them as numbers, or missing_values)."""
    (tmp_path / "map.yaml").write_text(MAPPING)
    text = LEADS.replace(";", ",").replace("2,5", "2.5").replace("3,75", "3.75")
    (tmp_path / "leads.csv").write_text(text.replace("1,5", '"1.234,5"').replace("4,25", "4.25"))
    report = read_export(tmp_path / "leads.csv", tmp_path / "map.yaml").report
    [note] = [n for n in report.notes if n.startswith("Pages per visit")]
    assert "decimal" not in note and "missing_values" in note
