"""A date format wrong for the file is the file's problem, not some rows': an export written
day first, read with a mapping's month-first `date_format`, is refused whole even under
`on_error="skip"`, naming the column, the format given and the one its dates fit; skipping the
rows the format cannot read would store the others with day and month swapped. A few dates no
format reads stay bad rows that skip leaves out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from forecast.data import store
from forecast.data.importing import OnError, import_export, read_export
from forecast.errors import ImportRejected
from tests.forecast import test_import_options as import_options
from tests.forecast.test_import_options import write

#: Day first, as a European Zoho export writes them: D1, D3 and D5 could be read either way.
DAY_FIRST = """
Deal ID,Stage,Amount,Created,Closed
D1,Closed Won,100,05/03/2025 14:22,01/04/2025
D2,Closed Won,200,28/02/2025 09:00,28/11/2025
D3,New,300,02/03/2025 10:00,
D4,Closed Lost,400,17/01/2025 11:30,13/02/2025
D5,New,500,11/02/2025 08:15,
D6,Closed Won,600,19/03/2025 16:40,21/05/2025
"""
US_FORMATS = 'date_format: ["%m/%d/%Y %H:%M", "%m/%d/%Y"]\n'


def refusal(tmp_path: Path, rows: str, extra: str, on_error: OnError = "reject") -> ImportRejected:
    file = write(tmp_path, "deals.csv", rows)
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, import_options.mapping(tmp_path, extra), on_error=on_error)
    return rejected.value


def test_skipping_bad_rows_of_a_day_first_file_read_month_first_is_refused_whole(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    file = write(tmp_path, "deals.csv", DAY_FIRST)
    mapping = import_options.mapping(tmp_path, US_FORMATS)
    with pytest.raises(ImportRejected) as rejected:
        import_export(sqlite_engine, file, mapping, on_error="skip")
    said = str(rejected.value)
    assert said.startswith("Created: ")
    assert '["%m/%d/%Y %H:%M", "%m/%d/%Y"]' in said  # the format given
    assert '"%d/%m/%Y %H:%M" (day first)' in said  # the one the dates fit
    assert "'28/02/2025 09:00'" in said and "'17/01/2025 11:30'" in said  # dates it cannot read
    assert "'05/03/2025 14:22' read as 2025-05-03 14:22" in said  # ... and one it misreads
    assert (
        'set date_format: ["%d/%m/%Y %H:%M", "%d/%m/%Y"]' in said and "nothing was written" in said
    )
    with sqlite_engine.connect() as conn:
        assert store.list_datasets(conn) == []


def test_the_default_rejection_says_the_same(tmp_path: Path) -> None:
    rejected = refusal(tmp_path, DAY_FIRST, US_FORMATS)
    assert '"%d/%m/%Y %H:%M" (day first)' in str(rejected)
    assert rejected.report.counts["unparseable date"] > 0  # the rows are still listed


def test_the_swapped_formats_read_the_file_that_was_refused(tmp_path: Path) -> None:
    hinted = str(refusal(tmp_path, DAY_FIRST, US_FORMATS, on_error="skip"))
    formats = hinted.split("set date_format: ")[1].split(" (")[0]
    file = write(tmp_path, "deals.csv", DAY_FIRST)
    export = read_export(file, import_options.mapping(tmp_path, f"date_format: {formats}\n"))
    deals = export.opportunities.set_index("id")
    assert str(deals.loc["D1", "created_at"]) == "2025-03-05 14:22:00"
    assert str(deals.loc["D2", "closed_at"]) == "2025-11-28 00:00:00"


def test_a_close_date_column_alone_in_the_wrong_order_is_refused(tmp_path: Path) -> None:
    """A CRM's one close date (`close_date`: the close of a closed deal, the expected close of
    an open one) is judged as the other dates are; the creation dates here read right."""
    lines = DAY_FIRST.strip().splitlines()
    rows = [lines[0], *(_with_iso_creation(line) for line in lines[1:])]
    base = import_options.DEALS.replace("closed_at: Closed", "close_date: Closed")
    mapping = import_options.mapping(
        tmp_path, 'date_format: ["%Y-%m-%d %H:%M", "%m/%d/%Y"]\n', base=base
    )
    file = write(tmp_path, "deals.csv", "\n".join(rows))
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, mapping, on_error="skip")
    said = str(rejected.value)
    assert said.startswith("Closed: ") and '"%d/%m/%Y" (day first)' in said, said
    assert 'set date_format: ["%Y-%m-%d %H:%M", "%d/%m/%Y"]' in said


def test_day_first_dates_where_the_mapping_gives_no_format_are_refused(tmp_path: Path) -> None:
    """No `date_format:` reads ISO 8601: a column of day-first dates is read by none of it."""
    rows = "Deal ID,Stage,Amount,Created,Closed\nD1,New,100,2025-01-02,\n" + "\n".join(
        f"D{i},Closed Won,100,2025-01-0{i},{day}/03/2025"
        for i, day in enumerate(["05", "28", "13"], start=2)
    )
    said = str(refusal(tmp_path, rows, "", on_error="skip"))
    assert said.startswith("Closed: ISO 8601 (the mapping gives no date_format)")
    assert 'set date_format: "%d/%m/%Y"' in said


def test_a_lead_file_written_day_first_is_refused_under_skip(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "leads.csv",
        "id,created_at,converted\nL1,05/03/2025,1\nL2,28/02/2025,0\nL3,17/01/2025,0\n"
        "L4,02/02/2025,1\nL5,25/01/2025,0\n",
    )
    mapping = write(
        tmp_path,
        "leads.yaml",
        "kind: leads\ncolumns: {id: id, created_at: created_at, converted: converted}\n"
        'date_format: "%m/%d/%Y"\n',
    )
    with pytest.raises(ImportRejected, match=r'created_at: .*"%d/%m/%Y" \(day first\)'):
        read_export(path, mapping, on_error="skip")


def test_one_garbage_date_under_skip_leaves_out_its_row_and_imports_the_rest(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    rows = DAY_FIRST.replace("28/02/2025 09:00", "TBD")
    file = write(tmp_path, "deals.csv", rows)
    formats = 'date_format: ["%d/%m/%Y %H:%M", "%d/%m/%Y"]\n'
    report = import_export(
        sqlite_engine, file, import_options.mapping(tmp_path, formats), on_error="skip"
    )
    assert report.written and report.bad_rows == 1 and report.rows_written == 5
    deals = store.load_opportunities(sqlite_engine, "acme").set_index("id")
    assert sorted(deals.index) == ["D1", "D3", "D4", "D5", "D6"]
    assert pd.Timestamp(deals.loc["D1", "created_at"]) == pd.Timestamp("2025-03-05 14:22")


def test_a_typo_in_the_other_order_in_a_month_first_file_stays_a_bad_row(tmp_path: Path) -> None:
    """Dates the mapping reads that the other order cannot (the 28th of a month written month
    first) show the format is right: the one day-first date is that row's problem."""
    rows = (
        "Deal ID,Stage,Amount,Created,Closed\nD1,New,100,03/05/2025 14:22,\n"
        "D2,New,100,02/28/2025 09:00,\nD3,New,100,17/01/2025 11:30,\n"
    )
    export = read_export(
        write(tmp_path, "deals.csv", rows),
        import_options.mapping(tmp_path, US_FORMATS),
        on_error="skip",
    )
    assert sorted(export.opportunities["id"]) == ["D1", "D2"]
    assert export.report is not None and export.report.bad_rows == 1


def test_iso_dates_beside_a_few_day_first_ones_stay_bad_rows(tmp_path: Path) -> None:
    """Dates in a second form the mapping does not read, where the ones it reads are read
    alike by both: nothing is misread, the rows are bad and said with the formats to set."""
    rows = (
        "Deal ID,Stage,Amount,Created,Closed\nD1,New,100,2025-03-05,\n"
        "D2,New,100,2025-02-02,\nD3,New,100,28/01/2025,\n"
    )
    export = read_export(
        write(tmp_path, "deals.csv", rows), import_options.mapping(tmp_path), on_error="skip"
    )
    assert sorted(export.opportunities["id"]) == ["D1", "D2"]


def _with_iso_creation(line: str) -> str:
    """A row of `DAY_FIRST` with its creation written ISO 8601 ('2025-03-05 14:22')."""
    cells = line.split(",")
    date, time = cells[3].split(" ")
    day, month, year = date.split("/")
    cells[3] = f"{year}-{month}-{day} {time}"
    return ",".join(cells)


def test_the_fix_for_one_column_keeps_the_formats_that_read_the_others(tmp_path: Path) -> None:
    """Created written year first beside Closed written day first, the mapping naming only the
    day-first format: the fix named adds the year-first one to it, which reads no date two ways,
    rather than replacing it (which would leave Closed unread)."""
    rows = """
Deal ID,Stage,Amount,Created,Closed
D1,Closed Won,100,2025/03/05 14:22,28/04/2025
D2,Closed Won,200,2025/02/28 09:00,28/11/2025
D3,Closed Lost,400,2025/01/17 11:30,13/02/2025
D4,Closed Won,600,2025/03/19 16:40,21/05/2025
"""  # year first with slashes: no ISO 8601, which is read whatever the mapping's format
    said = str(refusal(tmp_path, rows, 'date_format: "%d/%m/%Y"\n', on_error="skip"))
    assert said.startswith("Created: ")
    fix = 'set date_format: ["%d/%m/%Y", "%Y/%m/%d %H:%M"]'
    assert fix in said
    fixed = read_export(
        write(tmp_path, "deals.csv", rows),
        import_options.mapping(tmp_path, 'date_format: ["%d/%m/%Y", "%Y/%m/%d %H:%M"]\n'),
    )
    closed = fixed.opportunities.set_index("id")["closed_at"]
    assert closed["D2"] == pd.Timestamp("2025-11-28")
