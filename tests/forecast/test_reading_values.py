"""How an export's cells become values: what is missing (a blank cell and what the mapping lists,
never pandas' "NA"/"None"/"null"), amounts written with a currency or digit grouping, a column
that looks like European thousands read as decimals, and files that are not CSV text (an Excel
workbook, another encoding). Small hand-made files, read without a store."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from forecast.data.currencies import stated
from forecast.data.header_encoding import encoding_hint
from forecast.data.importing import read_export
from forecast.data.mapping import CsvOptions, load_mapping
from forecast.data.reading import (
    _with_currency,
    dotted_thousands_note,
    header,
    localized_numbers,
    reads_as_number,
    scalar_number,
)
from forecast.errors import ImportRejected, InvalidInput
from tests.forecast import test_import_options as import_options
from tests.forecast.test_import_options import write

#: The import-options deals mapping, with a region.
DEALS = import_options.DEALS.replace("  amount: Amount\n", "  amount: Amount\n  region: Region\n")


def mapping(folder: Path, extra: str = "") -> Path:
    """The deals mapping (with a region) plus `extra` lines."""
    return import_options.mapping(folder, extra, base=DEALS)


def deals_file(folder: Path, amounts: list[str], regions: list[str] | None = None) -> Path:
    """A comma-separated export, one open deal per amount (quoted: amounts hold commas)."""
    regions = regions or ["EMEA"] * len(amounts)
    rows = [
        f'D{i},New,"{amount}",{region},2024-02-01,'
        for i, (amount, region) in enumerate(zip(amounts, regions, strict=True))
    ]
    return write(
        folder, "deals.csv", "\n".join(["Deal ID,Stage,Amount,Region,Created,Closed", *rows])
    )


def amounts(file: Path, mapping_file: Path) -> list[float]:
    return read_export(file, mapping_file).opportunities["amount"].tolist()


# --- 1. missing is a blank cell or a value the mapping lists ---------------------------------

TOKENS = ["NA", "N/A", "n/a", "null", "NULL", "None", "nan", "#N/A"]


def test_north_america_and_other_na_like_words_are_values_not_missing(tmp_path):
    file = deals_file(tmp_path, ["100"] * (len(TOKENS) + 1), [*TOKENS, ""])
    deals = read_export(file, mapping(tmp_path)).opportunities
    assert deals["region"].tolist()[:-1] == TOKENS
    assert pd.isna(deals["region"].iloc[-1])  # the blank cell is the one missing region


def test_only_the_values_the_mapping_lists_as_missing_become_missing(tmp_path):
    file = deals_file(tmp_path, ["100", "100", "100"], ["NA", "n/a", "EMEA"])
    deals = read_export(file, mapping(tmp_path, 'missing_values: ["n/a"]')).opportunities
    assert deals["region"].tolist()[0] == "NA"
    assert pd.isna(deals["region"].iloc[1])
    assert deals["region"].tolist()[2] == "EMEA"


def test_a_joined_file_keeps_na_as_text_too(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Amount,Owner,Created,Closed
D1,New,100,ann,2024-02-01,
D2,New,100,bob,2024-02-01,
""",
    )
    write(tmp_path, "owners.csv", "Owner,Region\nann,NA\nbob,\n")
    m = mapping(tmp_path, "joins: [{file: owners.csv, key: Owner}]")
    regions = read_export(file, m).opportunities["region"]
    assert regions.iloc[0] == "NA" and pd.isna(regions.iloc[1])


def test_an_amount_written_na_is_not_a_number_unless_the_mapping_says_it_is_missing(tmp_path):
    file = deals_file(tmp_path, ["100", "NA"])
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, mapping(tmp_path))
    assert rejected.value.report.counts["not a number"] == 1
    listed = read_export(file, mapping(tmp_path, 'missing_values: ["NA"]')).opportunities
    assert listed["amount"].iloc[0] == 100 and pd.isna(listed["amount"].iloc[1])


# --- 2. amounts with a currency, and digit grouping that can mean one thing only -------------


def test_amounts_with_a_currency_symbol_or_code_before_or_after_them_are_read(tmp_path):
    file = deals_file(tmp_path, ["$2,749", "USD 3,500.13", "3,500.13 USD", "$ 5", "€12", "7 gbp"])
    m = mapping(tmp_path, 'csv: {thousands: ","}')
    assert amounts(file, m) == [2749.0, 3500.13, 3500.13, 5.0, 12.0, 7.0]


def test_rupee_amounts_in_indian_grouping_are_read_with_or_without_a_thousands_option(tmp_path):
    values = ["Rs.1,50,000", "Rs 2,500.50", "₹12,34,56,789", "INR 1,50,000", "1,50,000"]
    file = deals_file(tmp_path, values)
    expected = [150000.0, 2500.5, 123456789.0, 150000.0, 150000.0]
    assert amounts(file, mapping(tmp_path)) == expected
    assert amounts(file, mapping(tmp_path, 'csv: {thousands: ","}')) == expected
    # Two-digit groups are never a decimal part: with a decimal comma they are not read.
    assert localized_numbers(pd.Series(["1,50,000"]), CsvOptions(decimal=",")).tolist() == [
        "1,50,000"
    ]
    assert stated(pd.Series(["Rs.1,50,000", "₹100"])).tolist() == ["INR", "INR"]


def test_a_sign_before_or_after_the_currency_symbol_is_kept():
    values = pd.Series(["-$5", "$-5", "+$5", "-$-5"])
    assert localized_numbers(values, CsvOptions()).tolist() == ["-5", "-5", "+5", "-$-5"]


def test_european_amounts_with_a_trailing_euro_sign_are_read(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID;Stage;Amount;Region;Created;Closed
D1;New;2.748,67 €;EMEA;2024-02-01;
D2;New;835,14 €;EMEA;2024-02-01;
""",
        encoding="cp1252",
    )
    m = mapping(tmp_path, 'csv: {separator: ";", encoding: cp1252, decimal: ",", thousands: "."}')
    assert amounts(file, m) == [2748.67, 835.14]


def test_a_word_that_is_not_a_currency_is_not_dropped_to_make_a_number(tmp_path):
    file = deals_file(tmp_path, ["SKU 123", "100"])
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, mapping(tmp_path))
    assert rejected.value.report.counts["not a number"] == 1


def test_grouped_digits_that_can_mean_one_thing_only_are_read_without_a_thousands_option(
    tmp_path,
):
    file = deals_file(tmp_path, ["2,748.67", "1,234,567.89", "1,234,567", "835.14"])
    assert amounts(file, mapping(tmp_path)) == [2748.67, 1234567.89, 1234567.0, 835.14]


def test_grouped_digits_with_a_decimal_comma_are_read_without_a_thousands_option(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID;Stage;Amount;Region;Created;Closed\n"
        "D1;New;1.234.567,89;EMEA;2024-02-01;\nD2;New;2.748,5;EMEA;2024-02-01;\n",
    )
    assert amounts(file, mapping(tmp_path, 'csv: {decimal: ","}')) == [1234567.89, 2748.5]


def test_an_ambiguous_grouping_is_rejected_with_the_options_that_would_read_it(tmp_path):
    file = deals_file(tmp_path, ["$2,749", "835"])
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, mapping(tmp_path))
    report = rejected.value.report
    assert report.counts["not a number"] == 1
    [hint] = [n for n in report.notes if n.startswith("Amount:")]
    assert "$2,749" in hint and 'csv: thousands: ","' in hint and 'csv: decimal: ","' in hint


def test_amounts_in_the_other_notation_are_rejected_with_the_options_that_would_read_them(
    tmp_path,
):
    file = deals_file(tmp_path, ["2.748,67", "835"])
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, mapping(tmp_path))
    [hint] = [n for n in rejected.value.report.notes if n.startswith("Amount:")]
    assert 'decimal: ","' in hint and 'thousands: "."' in hint


def test_digits_grouped_by_spaces_are_read_whatever_the_decimal_mark(tmp_path):
    """French and other locales' spreadsheets group by a space, often a no-break one."""
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID;Stage;Amount;Region;Created;Closed\n"
        "D1;New;1 234 567,89;EMEA;2024-02-01;\n"
        "D2;New;2\u00a0748,5 €;EMEA;2024-02-01;\n"
        "D3;New;€ 12\u202f000;EMEA;2024-02-01;\n"
        "D4;New;835;EMEA;2024-02-01;\n",
    )
    assert amounts(file, mapping(tmp_path, 'csv: {decimal: ","}')) == [
        1234567.89,
        2748.5,
        12000.0,
        835.0,
    ]
    spaced = pd.Series(["1 234", "12\u00a0345.5", "-1 000"])
    assert localized_numbers(spaced, CsvOptions()).tolist() == ["1234", "12345.5", "-1000"]
    assert localized_numbers(spaced, CsvOptions(thousands=" ")).tolist() == [
        "1234",
        "12345.5",
        "-1000",
    ]


@pytest.mark.parametrize("value", ["12 34", "1 2345", "1  234", "1 234 5"])
def test_spaces_that_do_not_group_thousands_do_not_make_a_number(value):
    assert localized_numbers(pd.Series([value]), CsvOptions()).tolist() == [value]


def test_a_space_grouped_amount_with_the_other_decimal_mark_is_rejected_with_the_option(
    tmp_path,
):
    file = deals_file(tmp_path, ["1 234,56", "835"])
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, mapping(tmp_path))
    [hint] = [n for n in rejected.value.report.notes if n.startswith("Amount:")]
    assert "1 234,56" in hint and 'decimal: ","' in hint


# --- 3. a column that looks like European thousands read as decimals -------------------------


def test_a_column_whose_dotted_numbers_all_have_three_decimals_gets_a_thousands_note():
    values = pd.Series(["800", "1.500", "12.000", "2.500", None])
    note = dotted_thousands_note(values, "Importe", CsvOptions())
    assert note is not None and note.startswith("Importe:") and 'csv: thousands: "."' in note


@pytest.mark.parametrize(
    "values",
    [
        ["800", "1.500", "12.000", "2.25"],  # a real decimal: the dot is a decimal mark
        ["800", "1.500", "12.000"],  # too few dotted values to say
        ["800", "0.125", "0.250", "0.500"],  # thousands never start with 0
    ],
)
def test_no_thousands_note_where_the_dots_can_be_decimals(values):
    assert dotted_thousands_note(pd.Series(values), "Importe", CsvOptions()) is None


def test_no_thousands_note_once_the_mapping_says_the_dot_groups_thousands():
    values = pd.Series(["800", "1.500", "12.000", "2.500"])
    assert dotted_thousands_note(values, "x", CsvOptions(decimal=",", thousands=".")) is None


def test_the_import_report_notes_amounts_that_look_like_european_thousands(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID;Stage;Amount;Region;Created;Closed\n"
        + "".join(f"D{i};New;{a};EMEA;2024-02-01;\n" for i, a in enumerate(["800", "1.500"] * 3)),
    )
    report = read_export(file, mapping(tmp_path)).report
    assert report is not None
    assert any(n.startswith("Amount:") and "thousands" in n for n in report.notes)


# --- 4. an Excel workbook ----------------------------------------------------------------------


def workbook(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return path


@pytest.mark.parametrize("name", ["deals.xlsx", "deals.csv"])  # by its suffix or its bytes
def test_an_excel_workbook_is_an_error_saying_to_save_it_as_csv(tmp_path, name):
    file = workbook(tmp_path / name)
    with pytest.raises(InvalidInput, match=r"is an Excel workbook: save it as CSV \(or Parquet\)"):
        read_export(file, mapping(tmp_path))
    with pytest.raises(InvalidInput, match="Excel workbook"):
        read_export(file)  # no mapping: the preset is looked for in its header


# --- 5. a header in another encoding -------------------------------------------------------


def test_a_header_in_another_encoding_is_said_to_be_not_utf8_with_the_encoding_to_set(tmp_path):
    file = write(tmp_path, "deals.csv", "Nº Oportunidad;Región\nOP-1;Málaga\n", encoding="cp1252")
    hint = encoding_hint(header(file), CsvOptions())
    assert "not UTF-8" in hint and "csv: encoding: cp1252" in hint
    assert encoding_hint(["Nº Oportunidad", "Región"], CsvOptions()) == ""


def test_a_missing_column_error_on_a_header_in_another_encoding_names_the_encoding_to_set(
    tmp_path,
):
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID;Stage;Amount;Región;Created;Closed\nD1;New;5;Málaga;2024-02-01;\n",
        encoding="cp1252",
    )
    with pytest.raises(InvalidInput, match="csv: encoding: cp1252"):
        read_export(file, mapping(tmp_path, "csv: {encoding: utf-8}"))
    # Where the mapping names no encoding, a file that is not UTF-8 is read as cp1252.
    named = import_options.mapping(tmp_path, base=DEALS.replace("region: Region", "region: Región"))
    deals = read_export(file, named).opportunities
    assert deals["region"].tolist() == ["Málaga"]


# --- lines that hold no record: blank rows, a report's footer ----------------------------------

REPORT = (
    '"Deal ID","Stage","Amount","Region","Created","Closed"\n'
    '"D1","New","100","EMEA","2024-02-01",""\n'
    '"","","","","",""\n'
    '"D2","Closed Won","200","EMEA","2024-01-05","2024-02-01"\n'
    '""\n'
    '"Confidential Information - Do Not Distribute"\n'
    '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\n'
)


def test_blank_rows_and_a_report_footer_are_skipped_and_said(tmp_path):
    (tmp_path / "deals.csv").write_text(REPORT)
    export = read_export(tmp_path / "deals.csv", mapping(tmp_path))
    assert export.opportunities["id"].tolist() == ["D1", "D2"]
    notes = " ".join(export.report.notes)
    assert "deals.csv: 2 row(s) with no value skipped" in notes
    assert "a report footer of 2 line(s) at its end skipped" in notes
    assert "Confidential Information - Do Not Distribute" in notes


def test_a_reports_summary_lines_at_its_end_are_skipped_and_said(tmp_path):
    """Zoho's report ends "Grand Summary,,<sum>", a spreadsheet's "Total,,<sum>" and
    "Count,<n>": summary lines, not deals with an unknown stage."""
    body = REPORT.split('""\n"Confidential')[0]
    text = body + '"Grand Summary","","300","","",""\n' + '"Count","2","","","",""\n'
    (tmp_path / "deals.csv").write_text(text)
    export = read_export(tmp_path / "deals.csv", mapping(tmp_path))
    assert export.opportunities["id"].tolist() == ["D1", "D2"]
    notes = " ".join(export.report.notes)
    assert "a report footer of 2 line(s) at its end skipped ('Grand Summary', 'Count')" in notes


def test_a_record_whose_first_value_is_a_summary_word_inside_the_file_is_kept(tmp_path):
    text = REPORT.replace('"D1","New"', '"Total","New"')
    (tmp_path / "deals.csv").write_text(text)
    export = read_export(tmp_path / "deals.csv", mapping(tmp_path))
    assert export.opportunities["id"].tolist() == ["Total", "D2"]


def test_a_row_with_its_first_value_only_inside_the_file_is_still_a_bad_row(tmp_path):
    text = REPORT.replace('"D1","New","100","EMEA","2024-02-01",""', '"D1","","","","",""')
    (tmp_path / "deals.csv").write_text(text)
    with pytest.raises(ImportRejected) as rejected:
        read_export(tmp_path / "deals.csv", mapping(tmp_path))
    assert rejected.value.report.counts["missing stage"] == 1


def test_a_lead_column_of_percents_is_read_as_numbers_and_said(tmp_path):
    file = write(
        tmp_path,
        "leads.csv",
        "id,converted,Open Rate,Visits\nA,1,47.5%,3\nB,0,12 %,4\nC,0,,5\nD,1,80%,6\n",
    )
    m = write(tmp_path, "m.yaml", "kind: leads\ncolumns: {id: id, converted: converted}\n")
    export = read_export(file, load_mapping(m))
    rates = export.leads.set_index("id")["Open Rate"]
    assert rates.loc[["A", "B", "D"]].astype(float).tolist() == [47.5, 12.0, 80.0]
    assert pd.isna(rates.loc["C"])
    said = "Open Rate: read as numbers, their percent signs dropped"
    assert any(said in n for n in export.report.notes)


@pytest.mark.parametrize("notation", [(".", None), (".", ","), (",", "."), (",", None), (",", " ")])
def test_one_value_is_read_as_the_column_reader_reads_it(notation):
    """The API reads a field with `scalar_number`; the import reads a column's numbers with a
    currency by `_with_currency` (`localized_numbers`): the same numbers, none where it has none."""
    decimal, thousands = notation
    csv = CsvOptions(decimal=decimal, thousands=thousands)
    values = [
        "", "N/A", "-", "22,5", "1.200", "$1,200,000", "Rs.1,50,000", "rs.500", "47", "2,500",
        "1,234.5", "USD 3,500.13", "3,500.13 USD", "-$5", "$-5", "-$-5", "EUR 1.500", "12 34",
        "1 234 567,89", "ABC 12", "SKU123", "7 gbp", "€12", "1.234.567,89", "0,5",
    ]  # fmt: skip
    column = _with_currency(pd.Series(values, dtype="str"), csv)
    for i, value in enumerate(values):
        expected = float(column[i]) if i in column.index else None
        assert scalar_number(value, decimal, thousands) == expected, value
        assert reads_as_number(value, csv) == (expected is not None), value
