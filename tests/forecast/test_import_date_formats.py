"""Dates the mapping's format cannot read: the import says which `date_format:` would read them
(both orders where either could), and a mapping may give several formats, tried in order, for
an export whose date-time columns sit beside date-only ones."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.date_formats import column_in_formats, date_hint, in_formats
from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.errors import ImportRejected, InvalidInput
from tests.forecast import test_import_options as import_options
from tests.forecast.test_import_options import write

US_DATES = """
Deal ID,Stage,Amount,Created,Closed
D1,New,100,12/31/2024,
D2,Closed Won,200,01/15/2025 3:00 PM,03/02/2025 4:05 PM
D3,New,100,2/3/2025,
"""


def test_a_file_of_us_dates_is_rejected_with_the_date_format_that_reads_it(tmp_path):
    file = write(tmp_path, "deals.csv", US_DATES)
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, import_options.mapping(tmp_path))
    notes = rejected.value.report.notes
    [created] = [n for n in notes if n.startswith("Created:")]
    assert 'date_format: ["%m/%d/%Y", "%m/%d/%Y %I:%M %p"] (month first)' in created
    [closed] = [n for n in notes if n.startswith("Closed:")]
    assert "either order" in closed and "(day first)" in closed and "(month first)" in closed


def test_several_date_formats_are_tried_in_order(tmp_path):
    file = write(tmp_path, "deals.csv", US_DATES)
    m = import_options.mapping(tmp_path, 'date_format: ["%m/%d/%Y %I:%M %p", "%m/%d/%Y"]\n')
    deals = read_export(file, m).opportunities.set_index("id")
    assert str(deals.loc["D1", "created_at"]) == "2024-12-31 00:00:00"
    assert str(deals.loc["D2", "created_at"]) == "2025-01-15 15:00:00"
    assert str(deals.loc["D2", "closed_at"]) == "2025-03-02 16:05:00"
    assert str(deals.loc["D3", "created_at"]) == "2025-02-03 00:00:00"


@pytest.mark.parametrize(
    ("line", "said"),
    [("date_format: []", "at least one format"), ('date_format: "dd/mm/yyyy"', "strptime")],
)
def test_a_date_format_that_cannot_read_anything_is_refused_naming_it(tmp_path, line, said):
    with pytest.raises(InvalidInput, match=said):
        load_mapping(import_options.mapping(tmp_path, line + "\n"))


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (["31.12.2024", "01.02.2025"], '"%d.%m.%Y" (day first)'),
        (["2024/12/31"], '"%Y/%m/%d" (year first)'),
        (["12-31-2024 14:05"], '"%m-%d-%Y %H:%M" (month first)'),
        (["Jan 5, 2024", "Dec 31, 2024"], '"%b %d, %Y" (month named)'),
        (["05-Jan-2024"], '"%d-%b-%Y" (month named)'),
        (["5 January 2024", "12 March 2024 14:05"], '["%d %B %Y", "%d %B %Y %H:%M"]'),
    ],
)
def test_the_format_that_reads_every_value_is_named(values, said):
    hint = date_hint(values)
    assert hint is not None and said in hint and "either order" not in hint


def test_no_format_is_named_where_none_reads_the_values():
    assert date_hint(["yesterday", "12/31/2024"]) is None
    assert date_hint([]) is None


def test_times_written_with_utc_or_gmt_after_them_are_read(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Amount,Created,Closed
D1,New,100,2024-03-05 14:22:10 UTC,
D2,Closed Won,200,2024-03-01T08:00:00 GMT,2024-03-09 10:00:00UTC
D3,New,100,2024-03-07,
""",
    )
    deals = read_export(file, import_options.mapping(tmp_path)).opportunities.set_index("id")
    assert str(deals.loc["D1", "created_at"]) == "2024-03-05 14:22:10"
    assert str(deals.loc["D2", "created_at"]) == "2024-03-01 08:00:00"
    assert str(deals.loc["D2", "closed_at"]) == "2024-03-09 10:00:00"


def test_a_date_time_with_am_pm_after_an_iso_date_is_named():
    hint = date_hint(["2024-03-05 2:22 PM", "2024-03-06 11:02 AM"])
    assert hint is not None and '"%Y-%m-%d %I:%M %p" (year first)' in hint


def test_dates_with_month_names_read_with_the_format_named(tmp_path):
    rows = 'D1,New,100,"Dec 31, 2024",\nD2,Closed Won,200,"Jan 15, 2025","Mar 2, 2025"'
    file = write(tmp_path, "deals.csv", "Deal ID,Stage,Amount,Created,Closed\n" + rows)
    m = import_options.mapping(tmp_path, 'date_format: "%b %d, %Y"\n')
    deals = read_export(file, m).opportunities.set_index("id")
    assert str(deals.loc["D2", "closed_at"]) == "2025-03-02 00:00:00"


def test_a_column_mixing_us_dates_with_iso_and_named_months_drafts_one_list_that_reads_all(
    tmp_path,
):
    values = ["01/31/2023", "2023-02-01", "05 Feb 2023", "2023-02-06T10:00:00Z", "02/07/2023"]
    hint = date_hint(values)
    assert hint is not None and "(month first)" in hint and "either order" not in hint
    for fmt in ("%m/%d/%Y", "%Y-%m-%d", "%d %b %Y", "%Y-%m-%dT%H:%M:%SZ"):
        assert f'"{fmt}"' in hint
    rows = "\n".join(f"D{i},{v},Demo,100" for i, v in enumerate(values))
    file = write(tmp_path, "deals.csv", "id,created,stage,amount\n" + rows)
    formats = hint.split("date_format: ")[1].split(" (")[0]
    mapping = write(
        tmp_path,
        "m.yaml",
        "kind: opportunities\ncolumns: {id: id, created_at: created, stage: stage, "
        "amount: amount}\nstages: {open: [Demo], won: Won, lost: Lost}\n"
        f"date_format: {formats}\n",
    )
    export = read_export(file, load_mapping(mapping))
    assert export.report.ok and export.opportunities["created_at"].notna().all()


def test_iso_dates_alone_are_not_said_to_be_either_order():
    hint = date_hint(["2023-01-05", "2023-02-05"])
    assert hint is not None and "(year first)" in hint and "month first" not in hint


@pytest.mark.parametrize(
    "formats",
    [["%d.%m.%Y %H:%M"], ["%m/%d/%Y", "%d.%m.%Y"], ["%Y-%m-%d %H:%M:%S", "%b %d, %Y"]],
)
def test_one_date_is_read_as_the_import_reads_a_column_of_them(formats):
    """The API reads a lead's date with `in_formats`, the import a column with
    `column_in_formats`: the same dates, and none where the column has none."""
    values = [
        "05.03.2024 14:22", "05/03/2024", "05.03.2024", "2024-03-05 14:22:10 UTC",
        "2024-03-05 14:22:10 GMT", "Mar 05, 2024", "31.02.2024", "garbage", "", "2024-03-05",
    ]  # fmt: skip
    column = column_in_formats(pd.Series(values, dtype=object), formats)
    for value, read in zip(values, column, strict=True):
        one = in_formats(value, formats)
        assert (one is None and pd.isna(read)) or one == read, value


MIXED = """
Deal ID,Stage,Amount,Created,Closed
D1,New,100,2024-12-30 09:15,
D2,New,100,12/31/2024 3:00 PM,
D3,New,100,2025-01-02 10:30,
D4,New,100,01/15/2025 11:05 AM,
"""


def test_a_column_mixing_iso_and_us_dates_is_told_the_list_that_reads_both(tmp_path):
    """ISO dates read by default beside US ones that do not: the hint names formats that read
    every value, so setting it does not leave the ISO ones unread in turn."""
    file = write(tmp_path, "deals.csv", MIXED)
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, import_options.mapping(tmp_path))
    [created] = [n for n in rejected.value.report.notes if n.startswith("Created:")]
    assert "%m/%d/%Y %I:%M %p" in created and "%Y-%m-%d %H:%M" in created, created
    hinted = created.split("date_format: ")[1].split(" (")[0]
    deals = read_export(file, import_options.mapping(tmp_path, f"date_format: {hinted}\n"))
    assert deals.opportunities["created_at"].notna().all()
