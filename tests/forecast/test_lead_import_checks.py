"""A lead export is checked as a deal export is: a number no field may hold ("Infinity",
1e300) and a date after the export (or in the future) are bad rows, named by file, line and
column, and nothing is written; leads stored before these checks still train.

Before: such leads imported cleanly and `forecast train leads` stopped with scikit-learn's
"Input X contains infinity" traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import lead_columns
from forecast.data.generator import generate_leads
from forecast.data.importing import read_export
from forecast.errors import ImportRejected, InvalidInput
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings

LEADS = """
id,created_at,Source,Visits,converted
L1,2024-01-02T09:00:00,Google,2,1
L2,2024-01-03T10:00:00,Email,{visits},0
L3,{created},Google,5,1
L4,2024-01-05T12:00:00,Email,0,0
"""


def export(tmp_path: Path, visits: str = "3", created: str = "2024-01-04T11:00:00") -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(LEADS.format(visits=visits, created=created).strip() + "\n")
    return path


@pytest.mark.parametrize("visits", ["Infinity", "-inf", "1e300", "-2e15"])
def test_a_lead_number_no_field_may_hold_rejects_the_import_naming_row_and_column(
    tmp_path: Path, visits: str
) -> None:
    with pytest.raises(ImportRejected) as caught:
        read_export(export(tmp_path, visits=visits), "canonical_leads")
    problems = [(p.row, p.column, p.kind, p.value) for p in caught.value.report.examples]
    assert problems == [(3, "Visits", "number beyond ±1e+15", visits)]


def test_skip_mode_leaves_out_the_lead_with_the_bad_number(tmp_path: Path) -> None:
    read = read_export(export(tmp_path, visits="Infinity"), "canonical_leads", on_error="skip")
    assert sorted(read.leads["id"]) == ["L1", "L3", "L4"]


def test_numbers_within_the_bound_and_text_columns_import(tmp_path: Path) -> None:
    """'Infinity' among words is a word: only a column read as numbers is checked."""
    path = tmp_path / "leads.csv"
    path.write_text(
        "id,created_at,Source,Visits,converted\n"
        "L1,2024-01-02,Infinity,999999999999999,1\nL2,2024-01-03,Email,-3.5,0\n"
        "L3,2024-01-04,Google,1,0\nL4,2024-01-05,Email,2,1\n"
    )
    read = read_export(path, "canonical_leads")
    assert read.report.ok and len(read.leads) == 4


def test_a_lead_created_in_the_future_rejects_the_import(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as caught:
        read_export(export(tmp_path, created="2099-01-01T00:00:00"), "canonical_leads")
    problems = [(p.row, p.column, p.kind) for p in caught.value.report.examples]
    assert problems == [(4, "created_at", "date in the future")]


def test_a_lead_created_after_the_export_date_given_is_a_bad_row(tmp_path: Path) -> None:
    read = read_export(
        export(tmp_path, created="2024-02-01T00:00:00"),
        "canonical_leads",
        on_error="skip",
        export_date="2024-01-31",
    )
    assert [(p.row, p.kind) for p in read.report.examples] == [
        (4, "date after the export date (2024-01-31)")
    ]
    assert "L3" not in set(read.leads["id"])


def test_stored_numbers_no_field_may_hold_are_read_as_not_known() -> None:
    leads = pd.DataFrame({"Visits": ["2", "Infinity", "1e300", "-inf", None, "7"]})
    columns = lead_columns.LeadColumns(["Visits"], [], [], [], as_numbers=("Visits",))
    read = lead_columns.apply(leads, columns)["Visits"]
    assert read.tolist()[:1] == [2.0] and read.iloc[-1] == 7.0
    assert read.iloc[1:5].isna().all()


def test_leads_stored_with_infinite_numbers_still_train(tmp_path: Path) -> None:
    leads = generate_leads(400, seed=7)
    leads["TotalVisits"] = leads["TotalVisits"].astype("str")
    leads.loc[[3, 50], "TotalVisits"] = ["Infinity", "1e300"]
    leads.loc[[9], "Page Views Per Visit"] = np.inf
    settings = Settings(state_dir=tmp_path, min_converted_leads=20)
    result = train_leads(leads, leak_columns=["Tags"], settings=settings, cross_validate=False)
    some = leads.drop(columns=["id", "converted", "Tags"]).head(20)
    assert np.isfinite(result.model.predict_proba(some)[:, 1]).all()


def test_a_deal_feature_column_number_no_field_may_hold_is_a_bad_row(tmp_path: Path) -> None:
    """A deal's `features:` column is checked as a lead's column is."""
    (tmp_path / "deals.csv").write_text(
        "id,stage,created_at,amount,Seats\nD1,Prospecting,2024-01-02,100,5\n"
        "D2,Prospecting,2024-01-03,200,Infinity\nD3,Prospecting,2024-01-04,300,7\n"
    )
    (tmp_path / "m.yaml").write_text(
        "kind: opportunities\ndataset: d\ncolumns: canonical\nfeatures: [Seats]\n"
        "stages:\n  open: [Prospecting]\n  won: Won\n  lost: Lost\n"
    )
    read = read_export(tmp_path / "deals.csv", tmp_path / "m.yaml", on_error="skip")
    assert [(p.row, p.column, p.kind) for p in read.report.examples] == [
        (3, "Seats", "number beyond ±1e+15")
    ]
    assert sorted(read.opportunities["id"]) == ["D1", "D3"]


@pytest.mark.parametrize("day", ["31/01/2024", "01/31/2024", "Jan 31 2024"])
def test_an_export_date_not_written_year_first_is_refused_naming_it(tmp_path: Path, day) -> None:
    with pytest.raises(InvalidInput, match=f"export_date: '{day}' is not a date"):
        read_export(export(tmp_path), "canonical_leads", export_date=day)


def test_a_leads_file_whose_rows_all_read_as_a_footer_reads_as_no_lead(tmp_path):
    """Lines with a value in the first column only are a report's footer: a file of nothing
    else has no lead, said, and is read without a crash (it was a KeyError)."""
    path = tmp_path / "leads.csv"
    path.write_text("id,created_at,Source\nL1,,\nL2,,\n")
    read = read_export(path, "canonical_leads")
    assert read.leads.empty and "id" in read.leads.columns
    assert any("footer of 2 line(s)" in note for note in read.report.notes)


def test_a_column_mostly_of_numbers_read_as_text_says_how_to_read_it_as_numbers(
    tmp_path: Path,
) -> None:
    """'51-200' beside '523': read as text (each number a category of its own, which a new
    number never finds), and the note says so and how to read the column as numbers."""
    path = tmp_path / "leads.csv"
    path.write_text(
        "id,created_at,Employees,Source,converted\n"
        "L1,2024-01-02,523,Google,1\nL2,2024-01-03,51-200,Email,0\n"
        "L3,2024-01-04,12,Google,0\nL4,2024-01-05,1000+,Email,1\nL5,2024-01-06,87,Email,1\n"
    )
    read = read_export(path, "canonical_leads")
    assert read.report.ok and not pd.api.types.is_numeric_dtype(read.leads["Employees"])
    [note] = [n for n in read.report.notes if n.startswith("Employees:")]
    assert "read as text, each value a category of its own, though 3 of its 5 values are" in note
    assert "the 2 others are not ('51-200', '1000+')" in note
    assert "list them in the mapping's missing_values" in note
    # A column of words is text, and says nothing.
    assert not [n for n in read.report.notes if n.startswith("Source:")]


def test_a_lead_id_longer_than_the_store_keeps_is_a_bad_row_naming_it(tmp_path: Path) -> None:
    """PostgreSQL refuses an id past the leads table's 100 characters: the import stopped with
    its 'value too long' traceback (SQLite kept it), `forecast score --store` after writing."""
    long_id = "L" * 101
    path = export(tmp_path)
    path.write_text(path.read_text().replace("L2,", f"{long_id},"))
    with pytest.raises(ImportRejected) as caught:
        read_export(path, "canonical_leads")
    problems = [(p.row, p.column, p.kind, p.value) for p in caught.value.report.examples]
    assert problems == [(3, "id", "id longer than 100 characters", long_id)]
    kept = read_export(path, "canonical_leads", on_error="skip")
    assert sorted(kept.leads["id"]) == ["L1", "L3", "L4"]
    path.write_text(path.read_text().replace(long_id, "L" * 100))
    assert "L" * 100 in set(read_export(path, "canonical_leads").leads["id"])
