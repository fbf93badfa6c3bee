"""What a mapping can say about an export beyond its columns: how the CSV is written (separator,
encoding, decimal mark), an id generated for files without one, clock skew between creation and
close, and other CRMs' forecast categories. Small hand-made files, read without a store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data.importing import import_export, read_export
from forecast.data.mapping import load_mapping
from forecast.errors import ImportRejected, InvalidInput

DEALS = """
kind: opportunities
dataset: acme
columns:
  id: Deal ID
  stage: Stage
  amount: Amount
  created_at: Created
  closed_at: Closed
stages:
  open: [New, Proposal]
stage_names: {"Closed Won": Won, "Closed Lost": Lost}
"""


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_text(text.strip() + "\n", encoding=encoding)
    return path


def mapping(folder: Path, extra: str = "", base: str = DEALS) -> Path:
    return write(folder, "mapping.yaml", base + extra)


# --- csv: separator, encoding, decimal ---------------------------------------------------------


def test_a_semicolon_file_with_decimal_commas_and_latin1_reads_as_the_mapping_says(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID;Stage;Amount;Created;Closed;Région
D1;New;1.234,50;2024-02-01;;Île-de-France
D2;Closed Won;900;2024-01-05;2024-02-20;Zürich
""",
        encoding="latin-1",
    )
    m = mapping(tmp_path, 'csv: {separator: ";", encoding: latin-1, decimal: ",", thousands: "."}')
    deals = read_export(file, m).opportunities.set_index("id")
    assert deals.loc["D1", "amount"] == 1234.5 and deals.loc["D2", "amount"] == 900.0
    assert deals.loc["D2", "stage"] == "Won"


def test_a_semicolon_file_is_detected_without_a_mapping_saying_so_and_the_report_says_it(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID;Stage;Amount;Created;Closed
D1;New;100;2024-02-01;
D2;Closed Lost;5;2024-01-05;2024-02-10
""",
    )
    export = read_export(file, mapping(tmp_path))
    assert list(export.opportunities["id"]) == ["D1", "D2"]
    assert export.report is not None
    [note] = export.report.notes
    assert "deals.csv" in note and "';'" in note and "detected from the header line" in note


def test_a_comma_file_gets_no_separator_note_and_a_byte_order_mark_is_not_part_of_a_name(
    tmp_path,
):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Amount,Created,Closed
"D1","New","100","2024-02-01",
""",
        encoding="utf-8-sig",  # Excel's "CSV UTF-8" starts with a byte-order mark
    )
    export = read_export(file, mapping(tmp_path))
    assert list(export.opportunities["id"]) == ["D1"]
    assert export.report is not None and export.report.notes == []


def test_a_file_in_another_encoding_than_the_mapping_says_is_read_and_said_so(tmp_path):
    text = "Deal ID;Stage;Amount;Created;Closed\nD1;New;100;2024-02-01;\n"
    file = write(tmp_path, "deals.csv", text.replace("D1", "Dé1"), encoding="latin-1")
    export = read_export(file, mapping(tmp_path, 'csv: {separator: ";", encoding: utf-8}'))
    assert export.report is not None
    [note] = export.report.notes
    assert "not utf-8" in note and "replaced" in note and "csv: encoding:" in note


def test_a_file_that_is_not_utf8_is_read_as_windows_text_where_the_mapping_names_none(tmp_path):
    text = "Deal ID;Stage;Amount;Créé le;Closed\nDé1;New;100;2024-02-01;\n"
    file = write(tmp_path, "deals.csv", text, encoding="cp1252")
    m = DEALS.replace("created_at: Created", "created_at: Créé le")
    export = read_export(file, mapping(tmp_path, 'csv: {separator: ";"}', base=m))
    assert export.opportunities["id"].tolist() == ["Dé1"]
    [note] = export.report.notes
    assert "not UTF-8 text, read as cp1252" in note


def test_a_decimal_comma_in_a_lead_file_gives_numbers(tmp_path):
    leads = """
kind: leads
dataset: people
columns:
  id: Lead
  converted: Won
csv: {separator: ";", decimal: ","}
"""
    file = write(tmp_path, "leads.csv", "Lead;Won;Score;City\nL1;1;0,75;Lyon, FR\nL2;0;12;Metz\n")
    got = read_export(file, write(tmp_path, "leads.yaml", leads)).leads.set_index("id")
    assert got["Score"].tolist() == [0.75, 12.0]
    assert got["City"].tolist() == ["Lyon, FR", "Metz"]  # text with a comma is left alone


def test_a_lead_column_of_grouped_numbers_says_which_csv_option_reads_it(tmp_path):
    """Read as text, "1,305" employees would be a category of rare levels, or an identifier,
    and the model would lose it without a word: the import says how to read it."""
    leads = "kind: leads\ndataset: people\ncolumns:\n  id: Lead\n  converted: Won\n"
    rows = 'Lead,Won,Revenue,Employees,City\nL1,1,"$3,157,186","1,305",Lyon\nL2,0,$12,943,Metz\n'
    export = read_export(write(tmp_path, "leads.csv", rows), write(tmp_path, "l.yaml", leads))
    notes = export.report.notes
    assert export.leads["Revenue"].tolist() == [3157186.0, 12.0]  # no other reading: a number
    assert any(n.startswith("Employees: ") and 'thousands: ","' in n for n in notes)
    assert not any(n.startswith(("City", "Revenue")) for n in notes)


def test_the_grouping_a_column_shows_anywhere_in_the_file_reads_every_chunk(
    tmp_path, sqlite_engine
):
    """Read a chunk at a time, a column must be read alike in every chunk: one that proves
    its grouping only in a later chunk still reads "287,288" in the first as 287,288."""
    leads = "kind: leads\ndataset: people\ncolumns:\n  id: Lead\n  converted: Won\n"
    rows = ["Lead,Won,Revenue", *[f'L{i},{i % 2},"$287,{i:03d}"' for i in range(6)]]
    rows.append('L9,0,"$3,269,017"')
    file = write(tmp_path, "leads.csv", "\n".join(rows))
    import_export(sqlite_engine, file, write(tmp_path, "l.yaml", leads), chunk_rows=3)
    from forecast.data.store_reads import load_leads

    got = load_leads(sqlite_engine, "people").set_index("id")["Revenue"]
    assert got["L0"] == 287000.0 and got["L9"] == 3269017.0


def test_a_lead_column_whose_values_show_their_grouping_reads_every_value_with_it(tmp_path):
    """ "$3,269,017" proves the comma groups thousands: "$287,288" beside it is 287,288, not
    287.288 nor text (read as text, the column would be an identifier and lost)."""
    leads = "kind: leads\ndataset: people\ncolumns:\n  id: Lead\n  converted: Won\n"
    rows = 'Lead,Won,Revenue\nL1,1,"$287,288"\nL2,0,"$3,269,017"\nL3,0,$12\n'
    export = read_export(write(tmp_path, "leads.csv", rows), write(tmp_path, "l.yaml", leads))
    assert export.leads["Revenue"].tolist() == [287288.0, 3269017.0, 12.0]
    assert any(n.startswith("Revenue: read as numbers with ','") for n in export.report.notes)


@pytest.mark.parametrize(
    "extra, said",
    [
        ("csv: {sep: ';'}", "csv.sep: unknown key 'sep'; allowed here: separator, encoding"),
        ("csv: {encoding: klingon}", "unknown encoding 'klingon'"),
        ("csv: {separator: ';;'}", "a separator is one character"),
        ('csv: {decimal: ",", thousands: ","}', "thousands and decimal are both ','"),
        ("seperator: ';'", "unknown key 'seperator'; allowed here: kind, dataset"),
        ("clock_skew_tolerance: soon", "'soon' is not a duration"),
        (
            "columns: {id: {hash_off: [Email]}, stage: Stage}",
            "columns: Value error, id: give a column name, {first_of: [column, ...]} (the first "
            "of them not blank), {hash_of: [column, ...]} (id) or "
            "{exists_in: {file, column}} (converted); got {'hash_off': ['Email']}",
        ),
        ("columns: {id: {hash_of: Email}, stage: Stage}", "{'hash_of': 'Email'}"),
        ("clock_skew_tolerance: -1 day", "a duration of zero or more"),
    ],
)
def test_a_wrong_mapping_option_is_named_with_what_is_allowed(tmp_path, extra, said):
    with pytest.raises(InvalidInput) as err:
        load_mapping(mapping(tmp_path, extra))
    assert said in str(err.value)


# --- an id generated from columns ---------------------------------------------------------------

LEADS_WITHOUT_ID = """
kind: leads
dataset: people
columns:
  id: {hash_of: [Email, Signed up]}
  converted: Converted
"""


def test_a_file_without_ids_gets_the_same_generated_ids_on_every_import(tmp_path):
    rows = "Email,Signed up,Converted,Source\na@x.io,2024-01-02,1,ads\nb@x.io,2024-01-02,0,web\n"
    file = write(tmp_path, "leads.csv", rows)
    m = write(tmp_path, "leads.yaml", LEADS_WITHOUT_ID)
    first = read_export(file, m).leads
    assert first["id"].str.fullmatch(r"[0-9a-f]{16}").all() and first["id"].is_unique
    # the same rows in another order, with another column: the same id for the same lead
    other = write(
        tmp_path, "again.csv", "Source,Converted,Signed up,Email\nweb,0,2024-01-02,b@x.io\n"
    )
    again = read_export(other, m).leads
    assert again.loc[0, "id"] == first.set_index("Source").loc["web", "id"]
    assert "Email" in first.columns  # the columns hashed stay attributes of the lead


def test_rows_that_generate_the_same_id_or_none_are_reported(tmp_path):
    rows = "Email,Signed up,Converted\na@x.io,2024-01-02,1\na@x.io,2024-01-02,1\n,,0\n"
    file = write(tmp_path, "leads.csv", rows)
    with pytest.raises(ImportRejected) as err:
        read_export(file, write(tmp_path, "leads.yaml", LEADS_WITHOUT_ID))
    report = err.value.report
    assert dict(report.counts) == {"duplicate id": 1, "missing id": 1}
    assert {p.column for p in report.examples} == {"hash_of(Email, Signed up)"}


def test_a_generated_id_needs_its_columns_and_only_the_id_can_be_generated(tmp_path):
    file = write(tmp_path, "leads.csv", "Email,Converted\na@x.io,1\n")
    with pytest.raises(InvalidInput, match=r"missing required column\(s\) \['Signed up'\]"):
        read_export(file, write(tmp_path, "leads.yaml", LEADS_WITHOUT_ID))
    bad = LEADS_WITHOUT_ID.replace("converted: Converted", "converted: {hash_of: [Email]}")
    with pytest.raises(InvalidInput, match="only id can be a hash_of"):
        load_mapping(write(tmp_path, "bad.yaml", bad))


# --- a label derived from another file ------------------------------------------------------------

LEADS_CONVERTED_BY_DEALS = """
kind: leads
dataset: signups
columns:
  id: Lead ID
  converted:
    exists_in: {file: deals.csv, column: Source lead, where: {Stage: [Closed Won]}}
"""
SIGNUPS = "Lead ID,Source,Employees\nL1,ads,10\nL2,web,200\nL3,ads,35\nL4,event,5\n"
DEALS_OF_LEADS = "Deal,Source lead,Stage\nD1,L2,Closed Won\nD2,L3,Closed Lost\nD3,L4,Closed Won\n"


def test_a_lead_is_converted_when_its_id_is_among_the_won_deals_of_another_file(tmp_path):
    write(tmp_path, "deals.csv", DEALS_OF_LEADS)
    file = write(tmp_path, "signups.csv", SIGNUPS)
    export = read_export(file, write(tmp_path, "leads.yaml", LEADS_CONVERTED_BY_DEALS))
    labels = export.leads.set_index("id")["converted"].astype(int).to_dict()
    assert labels == {"L1": 0, "L2": 1, "L3": 0, "L4": 1}  # L3's deal was lost
    assert export.report is not None
    assert any("among 2 'Source lead' value(s) of deals.csv" in n for n in export.report.notes)


def test_a_derived_label_names_what_is_missing_or_misplaced(tmp_path):
    write(tmp_path, "deals.csv", "Deal,Lead\nD1,L2\n")
    file = write(tmp_path, "signups.csv", SIGNUPS)
    with pytest.raises(InvalidInput, match=r"deals.csv: no column 'Source lead' \(converted"):
        read_export(file, write(tmp_path, "leads.yaml", LEADS_CONVERTED_BY_DEALS))
    bad = LEADS_CONVERTED_BY_DEALS.replace("  converted:\n", "  created_at:\n")
    with pytest.raises(InvalidInput, match="only converted can be exists_in"):
        load_mapping(write(tmp_path, "bad.yaml", bad))


# --- clock skew -----------------------------------------------------------------------------------

SKEWED = """
Deal ID,Stage,Amount,Created,Closed
D1,Closed Won,100,2024-02-01T15:00:00,2024-02-01T09:30:00
D2,Closed Lost,50,2024-02-03T23:00:00,2024-02-03T01:00:00
D3,Closed Won,70,2024-02-01,2024-02-10
"""


def test_a_close_hours_before_creation_is_set_to_creation_and_counted(tmp_path):
    export = read_export(write(tmp_path, "deals.csv", SKEWED), mapping(tmp_path))
    deals = export.opportunities.set_index("id")
    assert deals.loc["D1", "closed_at"] == pd.Timestamp("2024-02-01 15:00")
    assert deals.loc["D2", "closed_at"] == pd.Timestamp("2024-02-03 23:00")
    assert deals.loc["D3", "closed_at"] == pd.Timestamp("2024-02-10")  # untouched
    assert export.report is not None
    [note] = export.report.notes
    assert note.startswith("2 deal(s) closed up to 1 day before they were created")


def test_beyond_the_tolerance_a_close_before_creation_is_still_a_bad_row(tmp_path):
    file = write(tmp_path, "deals.csv", SKEWED)
    with pytest.raises(ImportRejected) as err:
        read_export(file, mapping(tmp_path, 'clock_skew_tolerance: "6 hours"'))
    [problem] = err.value.report.examples
    assert (problem.kind, problem.row, problem.column) == ("close before create", 3, "Closed")
    assert err.value.report.notes == [
        "1 deal(s) closed up to 6 hours before they were created (clock skew): close date set "
        "to the creation date (mapping: clock_skew_tolerance)"
    ]


def test_a_zero_tolerance_rejects_any_close_before_creation(tmp_path):
    file = write(tmp_path, "deals.csv", SKEWED)
    with pytest.raises(ImportRejected) as err:
        read_export(file, mapping(tmp_path, "clock_skew_tolerance: '0'"))
    assert err.value.report.counts["close before create"] == 2


def test_the_fixed_close_date_is_what_the_store_keeps(sqlite_engine, tmp_path):
    from forecast.data import store

    report = import_export(sqlite_engine, write(tmp_path, "deals.csv", SKEWED), mapping(tmp_path))
    assert report.written and len(report.notes) == 1
    deals = store.load_opportunities(sqlite_engine, "acme").set_index("id")
    assert (deals["closed_at"] >= deals["created_at"]).all()


# --- forecast categories ----------------------------------------------------------------------

CATEGORIES = DEALS.replace(
    "  closed_at: Closed\n", "  closed_at: Closed\n  forecast_category: Cat\n"
)


def test_hubspot_forecast_categories_map_onto_the_canonical_ones(tmp_path):
    rows = [
        ("D1", "New", "", "Not forecasted"),
        ("D2", "New", "", "pipeline"),
        ("D3", "Proposal", "", "Best case"),
        ("D4", "Proposal", "", "COMMIT"),
        ("D5", "Closed Won", "2024-02-20", "Closed won"),
        ("D6", "Closed Lost", "2024-02-20", "Closed lost"),
        ("D7", "New", "", "BEST_CASE"),
        ("D8", "New", "", ""),
    ]
    text = "Deal ID,Stage,Amount,Created,Closed,Cat\n" + "\n".join(
        f"{i},{s},10,2024-02-01,{c},{cat}" for i, s, c, cat in rows
    )
    export = read_export(write(tmp_path, "deals.csv", text), mapping(tmp_path, base=CATEGORIES))
    got = export.opportunities.set_index("id")["forecast_category"]
    assert pd.isna(got["D8"])  # blank stays blank
    assert got.drop("D8").to_dict() == {
        "D1": "Omitted",
        "D2": "Pipeline",
        "D3": "Best Case",
        "D4": "Commit",
        "D5": "Commit",
        "D6": "Omitted",
        "D7": "Best Case",
    }
    assert export.report is not None
    assert export.report.fixed_values["Cat: Not forecasted → Omitted"] == 1
    assert export.report.fixed_values["Cat: Closed won → Commit"] == 1


def test_an_unknown_forecast_category_names_the_value_and_the_accepted_ones(tmp_path):
    text = "Deal ID,Stage,Amount,Created,Closed,Cat\nD1,New,10,2024-02-01,,Maybe\n"
    with pytest.raises(ImportRejected) as err:
        read_export(write(tmp_path, "deals.csv", text), mapping(tmp_path, base=CATEGORIES))
    [problem] = err.value.report.examples
    assert (problem.column, problem.value) == ("Cat", "Maybe")
    assert problem.kind.startswith("forecast category not one of Pipeline, Best Case, Commit")
    assert "Not forecasted" in problem.kind


LEADS_BY_STATUS = """
kind: leads
dataset: vf
columns: {id: Lead, converted: Status}
value_fixes: {Status: {Customer: "1", Lost: "0"}}
missing_values: [Open]
"""


def test_a_set_of_status_values_is_the_label_and_an_unknown_one_is_named(tmp_path):
    file = write(tmp_path, "leads.csv", "Lead,Status,Source\nA,Customer,web\nB,Lost,x\nC,Open,web")
    export = read_export(file, write(tmp_path, "leads.yaml", LEADS_BY_STATUS))
    labels = export.leads.set_index("id")["converted"]
    assert labels["A"] == 1 and labels["B"] == 0 and pd.isna(labels["C"])  # Open: not known yet
    assert "1 lead(s) have no Status value" in " ".join(export.report.notes)
    bad = write(tmp_path, "bad.csv", "Lead,Status,Source\nA,Customer,web\nB,Maybe,x")
    with pytest.raises(ImportRejected) as caught:
        read_export(bad, write(tmp_path, "leads.yaml", LEADS_BY_STATUS))
    [problem] = caught.value.report.examples
    assert (problem.column, problem.value, problem.kind) == ("Status", "Maybe", "label is not 0/1")


def test_a_mapping_without_a_dataset_name_stores_under_its_file_name(tmp_path):
    file = write(tmp_path, "leads.csv", "Lead,Status\nA,Customer\nB,Lost")
    plain = LEADS_BY_STATUS.replace("dataset: vf\n", "")
    export = read_export(file, write(tmp_path, "signups.yaml", plain))
    assert export.dataset == "signups"


# --- stage names in any case, probabilities with a percent sign -------------------------------


def test_stage_names_match_the_mapping_ignoring_case_and_surrounding_spaces(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Amount,Created,Closed
D1,closed won ,100,2024-01-02,2024-02-01
D2,CLOSED LOST,50,2024-01-07,2024-03-01
D3, proposal,300,2024-01-07,
""",
    )
    deals = read_export(file, mapping(tmp_path)).opportunities.set_index("id")
    assert deals["stage"].to_dict() == {"D1": "Won", "D2": "Lost", "D3": "Proposal"}


@pytest.mark.parametrize("scale", ["", "rep_probability_scale: 100\n"])
def test_a_probability_with_a_percent_sign_is_a_percent_whatever_the_scale(tmp_path, scale):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Amount,Created,Closed,Probability
D1,New,100,2024-01-02,,25%
D2,New,100,2024-01-02,,"12,5 %"
D3,Proposal,100,2024-01-02,,
""",
    )
    extra = "  rep_probability: Probability\n"
    m = mapping(
        tmp_path,
        scale + 'csv: {decimal: ","}\n',
        base=DEALS.replace("columns:\n", "columns:\n" + extra),
    )
    got = read_export(file, m).opportunities.set_index("id")["rep_probability"]
    assert got["D1"] == pytest.approx(0.25) and got["D2"] == pytest.approx(0.125)
    assert pd.isna(got["D3"])


def test_label_words_the_import_cannot_read_get_the_mapping_lines_that_would(tmp_path):
    file = write(tmp_path, "leads.csv", "Lead,Status\nA,Customer\nB,Lost\nC,Open\nD,Maybe")
    plain = LEADS_BY_STATUS.split("value_fixes")[0]
    with pytest.raises(ImportRejected) as caught:
        read_export(file, write(tmp_path, "leads.yaml", plain))
    [hint] = [n for n in caught.value.report.notes if n.startswith("Status:")]
    assert 'Status: "Customer", "Lost", "Maybe", "Open" not read as 0/1' in hint
    # "Open" is not known yet: blank in the label's column alone, not file-wide missing_values.
    fixes = '{"Status": {"Customer": "1", "Lost": "0", "Maybe": "1 or 0", "Open": ""}}'
    assert f"value_fixes: {fixes}" in hint and "missing_values" not in hint
    fixed = plain + 'value_fixes: {"Status": {"Customer": "1", "Lost": "0", "Maybe": "0", '
    fixed += '"Open": ""}}\n'
    labels = read_export(file, write(tmp_path, "leads.yaml", fixed)).leads["converted"]
    assert labels.tolist()[:2] == [1, 0] and pd.isna(labels.iloc[2])


def test_unknown_stage_names_are_said_once_with_their_rows_and_the_lines_that_read_them(
    tmp_path, sqlite_engine
):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Amount,Created,Closed
D1,Closed Won,100,2024-01-02,2024-02-01
D2,Demo Scheduled,200,2024-01-05,
D3,Demo Scheduled,300,2024-01-07,
D4,Closed - Duplicate,50,2024-01-07,2024-03-01
""",
    )
    with pytest.raises(ImportRejected) as caught:
        import_export(sqlite_engine, file, mapping(tmp_path), chunk_rows=2)  # once, 2 chunks
    [said] = [n for n in caught.value.report.notes if n.startswith("stage names")]
    assert '"Demo Scheduled" (2), "Closed - Duplicate" (1)' in said
    assert "stages: open" in said and "stage_names" in said and "Proposal" in said


def test_a_deal_mapping_without_an_id_column_is_told_how_to_make_one(tmp_path):
    file = write(tmp_path, "deals.csv", "Name,Stage\nAcme,New\nBeta,Won")
    plain = "kind: opportunities\ndataset: noid\ncolumns: {stage: Stage}\n"
    with pytest.raises(InvalidInput, match=r"\['id'\].*hash_of"):
        read_export(file, write(tmp_path, "deals.yaml", plain))


def test_value_fixes_and_missing_values_are_read_as_the_words_written(tmp_path):
    """`Yes: 1` and `No` written bare in YAML are the file's words, not booleans and numbers."""
    file = write(tmp_path, "leads.csv", "Lead,Bought,Size\nA,Yes,Off\nB,No,7\nC,Customer,5")
    leads = """
kind: leads
dataset: people
columns: {id: Lead, converted: Bought}
value_fixes: {Bought: {Yes: 1, No: 0, Customer: true}}
missing_values: [Off, 7, 0.5]
"""
    m = load_mapping(write(tmp_path, "leads.yaml", leads))
    assert m.value_fixes == {"Bought": {"Yes": "1", "No": "0", "Customer": "true"}}
    assert m.missing_values == ["Off", "7", "0.5"]
    got = read_export(file, m).leads.set_index("id")
    assert got["converted"].tolist() == [1, 0, 1]
    assert got["Size"].isna().tolist() == [True, True, False]  # "Off" and "7" mean missing


@pytest.mark.parametrize("yes, no", [("Y", "N"), ("t", "f"), ("TRUE", "FALSE"), ("1.0", "0.0")])
def test_a_label_written_as_a_flag_is_read_without_a_mapping_line(tmp_path, yes, no):
    file = write(tmp_path, "leads.csv", f"Lead,Source,Bought\nA,web,{yes}\nB,mail,{no}\nC,web,")
    plain = "kind: leads\ndataset: people\ncolumns: {id: Lead, converted: Bought}\n"
    labels = read_export(file, write(tmp_path, "leads.yaml", plain)).leads["converted"]
    assert labels.tolist()[:2] == [1, 0] and pd.isna(labels.iloc[2])


@pytest.mark.parametrize("blank", ['""', "null", ""])
def test_a_value_fixed_to_blank_is_missing(tmp_path, blank):
    """`{Open: ""}` (or left empty) makes a value missing: a lead with it is unlabelled."""
    file = write(tmp_path, "leads.csv", "Lead,Bought\nA,Yes\nB,Open\nC,No")
    leads = f"""
kind: leads
dataset: people
columns: {{id: Lead, converted: Bought}}
value_fixes: {{Bought: {{Open: {blank}}}}}
"""
    export = read_export(file, write(tmp_path, "leads.yaml", leads))
    labels = export.leads.set_index("id")["converted"]
    assert labels["A"] == 1 and labels["C"] == 0 and pd.isna(labels["B"])


def test_a_mapping_saved_in_a_windows_code_page_is_read(tmp_path):
    file = write(tmp_path, "leads.csv", "Référence,Acheté\nA,1\nB,0")
    text = "kind: leads\ndataset: gens\ncolumns: {id: Référence, converted: Acheté}\n"
    mapping = tmp_path / "leads.yaml"
    mapping.write_bytes(text.encode("cp1252"))
    assert read_export(file, mapping).leads["converted"].tolist() == [1, 0]


@pytest.mark.parametrize("packed", ["leads.csv.gz", "leads.csv.bz2", "leads.zip"])
def test_a_compressed_export_is_read_as_its_csv(tmp_path, packed):
    """A CRM's export downloaded compressed: separator and encoding checked on its text."""
    import bz2
    import gzip
    import zipfile

    text = "Lead;Bought;Source\nA;1;web\nB;0;salon d'été\n".encode("cp1252")
    path = tmp_path / packed
    if packed.endswith(".gz"):
        path.write_bytes(gzip.compress(text))
    elif packed.endswith(".bz2"):
        path.write_bytes(bz2.compress(text))
    else:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("leads.csv", text)
    leads = "kind: leads\ndataset: gens\ncolumns: {id: Lead, converted: Bought}\n"
    export = read_export(path, write(tmp_path, "leads.yaml", leads))
    assert export.leads["converted"].tolist() == [1, 0]
    notes = " ".join(export.report.notes)
    assert "separated by ';'" in notes and "read as cp1252" in notes


def test_excels_unicode_text_is_read_as_utf16(tmp_path):
    """Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated."""
    path = tmp_path / "leads.txt"
    path.write_bytes("Lead\tBought\tVille\nA\t1\tRégion\nB\t0\tLyon\n".encode("utf-16"))
    leads = "kind: leads\ndataset: gens\ncolumns: {id: Lead, converted: Bought}\n"
    export = read_export(path, write(tmp_path, "leads.yaml", leads))
    assert export.leads["Ville"].tolist() == ["Région", "Lyon"]
    notes = " ".join(export.report.notes)
    assert "UTF-16 text" in notes and "separated by tab" in notes
