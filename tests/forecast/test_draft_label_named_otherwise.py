"""A lead export whose outcome column has a name the draft does not know ("Lead Stage",
"Result" holding Won / Lost / Open) drafts `converted: ???`. The check must say which column's
values read as outcomes, so the user sees where the label likely is, rather than only "no column
found" beside forty columns to search."""

from __future__ import annotations

from pathlib import Path

from forecast.data.mapping_draft import draft_mapping

LEADS = """Record ID,Source Channel,Do Not Email,{name},Visits
R1,API,No,Won,3
R2,Landing Page,Yes,Lost,0
R3,API,No,Open,5
R4,Web,No,Lost,1
R5,API,Yes,Won,7
"""


def _checks(tmp_path: Path, name: str) -> list[str]:
    file = tmp_path / "leads.csv"
    file.write_text(LEADS.format(name=name))
    draft = draft_mapping(file, "leads")
    assert "converted: ???" in draft.text  # still the user's to say: picked by name only
    return [c for c in draft.checks if c.startswith("no column found for converted")]


def test_the_check_names_a_column_whose_values_read_as_outcomes(tmp_path: Path) -> None:
    for name in ("Lead Stage", "Result"):
        [check] = _checks(tmp_path, name)
        assert repr(name) in check and "'Won'" in check and "'Lost'" in check


def test_a_yes_no_attribute_is_not_offered_as_the_label(tmp_path: Path) -> None:
    file = tmp_path / "plain.csv"
    file.write_text("Record ID,Do Not Email,Visits\nR1,No,3\nR2,Yes,0\nR3,No,5\n")
    [check] = [c for c in draft_mapping(file, "leads").checks if "converted" in c]
    assert "Do Not Email" not in check
