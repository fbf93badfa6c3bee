"""The import's table shows its notes and the file's values as written, square brackets
included: a note saying `missing_values: [n/a, —]` lost its list to the console's markup
("a mapping's missing_values:  says so"), and a value such as "[Open]" in the examples or a
file's "[Region]" column vanished the same way."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from training.cli import app

MAPPING = """
kind: leads
dataset: brackets
columns:
  id: Lead ID
  converted: Converted
"""

LEADS = """Lead ID,[Region],Visits,Converted
L1,[EU],3,1
L2,[US],n/a,0
L3,[EU],—,1
L4,[US],5,0
L5,[EU],2,[Open]
"""


def test_the_import_table_keeps_square_brackets_of_notes_and_values(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "leads.csv").write_text(LEADS)
    result = CliRunner().invoke(
        app,
        ["import", str(tmp_path / "leads.csv"), "--mapping", str(tmp_path / "map.yaml")],
        env={"COLUMNS": "400"},
    )
    assert "missing_values: [n/a, —] says so" in result.output
    assert "[Open]" in result.output
