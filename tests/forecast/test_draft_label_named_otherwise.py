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


def test_a_qualified_column_of_yes_and_no_is_drafted_as_the_label(tmp_path: Path) -> None:
    """A lead-qualification export's outcome is whether the lead qualified: a walkthrough's
    "Qualified" column (yes/no/Y/N/1/0) drafted `converted: ???` and a check naming no column,
    where "Qualified" is the outcome the draft reads in a status column too."""
    from forecast.data.importing import read_export

    file = tmp_path / "leads.csv"
    file.write_text(
        "id,Source,Visits,Created,Qualified\nM0,web,3,2024-01-02,yes\nM1,ads,0,2024-01-03,N\n"
        "M2,web,5,2024-01-04,1\nM3,event,1,2024-01-05,0\nM4,web,7,2024-01-06,Y\n"
        "M5,ads,2,2024-01-07,\n"
    )
    draft = draft_mapping(file, "leads")
    assert draft.columns["converted"] == "Qualified"
    mapping = tmp_path / "leads.yaml"
    mapping.write_text(draft.text)
    labels = read_export(file, mapping).leads.set_index("id")["converted"]
    assert labels.loc[["M0", "M1", "M2", "M3", "M4"]].tolist() == [1, 0, 1, 0, 1]
    assert labels.isna().loc["M5"]
