"""An export's deal expected to close before it was created: a push refuses that date (422),
an import keeps the deal without it and says how many and on which lines, never failing the
file for one stale date; a date within the clock-skew tolerance before creation is kept."""

from __future__ import annotations

import pandas as pd

from forecast.data.importing import _Job, read_export
from tests.forecast.test_import_options import DEALS, mapping, write

EXPECTED = DEALS.replace("  closed_at: Closed\n", "  closed_at: Closed\n  expected_close_at: Due\n")
HEADER = "Deal ID,Stage,Amount,Created,Closed,Due\n"
ROWS = (
    "D1,New,100,2024-03-01,,2024-05-31\n"  # after creation: kept
    "D2,Proposal,200,2024-03-01,,2023-12-31\n"  # two months before creation: not kept
    "D3,New,300,2024-03-01 12:00,,2024-03-01\n"  # half a day before: clock skew, kept
    "D4,Closed Won,400,2024-03-10,2024-04-02,2024-01-15\n"  # closed: not kept either
)


def test_an_expected_close_before_creation_is_not_kept_and_said_with_its_lines(tmp_path):
    file = write(tmp_path, "deals.csv", HEADER + ROWS)
    export = read_export(file, mapping(tmp_path, base=EXPECTED))
    deals = export.opportunities.set_index("id")
    assert sorted(deals.index) == ["D1", "D2", "D3", "D4"]  # every deal imported
    due = deals["expected_close_at"]
    assert due["D1"] == pd.Timestamp("2024-05-31") and due["D3"] == pd.Timestamp("2024-03-01")
    assert pd.isna(due["D2"]) and pd.isna(due["D4"])
    assert deals.loc["D2", "amount"] == 200.0 and deals.loc["D4", "stage"] == "Won"
    assert export.report is not None and export.report.ok
    assert (
        "2 deal(s) expected to close before they were created ('Due' before 'Created', lines "
        "3, 5): that expected close not kept, the deal kept without one (a push refuses such "
        "a date; up to clock_skew_tolerance before creation is kept)" in export.report.notes
    )


def test_a_crms_one_close_date_of_an_open_deal_before_creation_is_not_kept(tmp_path):
    one = DEALS.replace("  closed_at: Closed\n", "  close_date: Close Date\n")
    file = write(
        tmp_path,
        "deals.csv",
        "Deal ID,Stage,Amount,Created,Close Date\n"
        "D1,New,100,2024-03-01,2024-01-02\n"
        "D2,Closed Won,200,2024-01-05,2024-02-20\n",
    )
    export = read_export(file, mapping(tmp_path, base=one))
    deals = export.opportunities.set_index("id")
    assert pd.isna(deals.loc["D1", "expected_close_at"])
    assert deals.loc["D2", "closed_at"] == pd.Timestamp("2024-02-20")  # a close, not judged here
    assert export.report is not None
    assert any(
        n.startswith(
            "1 deal(s) expected to close before they were created ('Close Date' before "
            "'Created', line 2)"
        )
        for n in export.report.notes
    )


def test_a_wider_clock_skew_tolerance_keeps_an_expected_close_within_it(tmp_path):
    file = write(tmp_path, "deals.csv", HEADER + "D2,Proposal,200,2024-03-01,,2024-02-27\n")
    export = read_export(file, mapping(tmp_path, "clock_skew_tolerance: 3 days\n", EXPECTED))
    assert export.opportunities["expected_close_at"].tolist() == [pd.Timestamp("2024-02-27")]
    assert export.report is not None
    assert not any("expected to close before" in n for n in export.report.notes)


def test_the_count_and_lines_add_up_over_the_chunks_of_a_file(tmp_path):
    file = write(tmp_path, "deals.csv", HEADER + ROWS)
    job = _Job(file, mapping(tmp_path, base=EXPECTED), "reject", chunk_rows=1)
    deals = pd.concat([p.opportunities for p in job.parts(stored=None)])
    job.finish()
    assert deals["expected_close_at"].isna().sum() == 2
    said = [n for n in job.report.notes if "expected to close before" in n]
    assert len(said) == 1 and said[0].startswith("2 deal(s)") and "lines 3, 5)" in said[0]
