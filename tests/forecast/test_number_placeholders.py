"""A number column that writes "N/A" or "-" where it has no value is still a number column:
read as text, each "45%" would be a category of its own and the column's signal lost."""

from __future__ import annotations

from forecast.data.importing import read_export
from tests.forecast.test_import_options import write

MAPPING = "kind: leads\ndataset: web\ncolumns: {id: Lead, converted: Won}\n"
ROWS = (
    "Lead,Won,Email open rate,Visits,Source\n"
    "A,1,45%,12,Web\n"
    "B,0,N/A,3,Event\n"
    "C,0,12.5%,-,Web\n"
    "D,1,80%,20,Referral\n"
    "E,0,N/A,1,Web\n"
)


def test_a_few_placeholders_among_numbers_read_as_blanks_and_are_said(tmp_path):
    export = read_export(write(tmp_path, "web.csv", ROWS), write(tmp_path, "web.yaml", MAPPING))
    leads = export.leads.set_index("id")
    rate = leads["Email open rate"]
    assert (rate["A"], rate["D"]) == (45.0, 80.0) and rate[["B", "E"]].isna().all()
    assert leads.loc["C", "Email open rate"] == 12.5
    assert leads["Visits"].isna().sum() == 1 and leads.loc["D", "Visits"] == 20
    notes = export.report.notes
    assert any(
        n.startswith("Email open rate: read as numbers, 'N/A' (2 rows) as blank") for n in notes
    )
    assert any(n.startswith("Visits: read as numbers, '-' (1 row) as blank") for n in notes)
    assert leads.loc["B", "Source"] == "Event"  # text stays text


def test_text_with_digits_or_many_kinds_of_text_stays_text(tmp_path):
    rows = "Lead,Won,Plan\nA,1,10\nB,0,Pro 2\nC,0,3\nD,1,Basic\n"
    export = read_export(write(tmp_path, "p.csv", rows), write(tmp_path, "p.yaml", MAPPING))
    assert export.leads.set_index("id").loc["B", "Plan"] == "Pro 2"
