"""Exports shaped as Vtiger writes them.

Its one close date is the expected close while a deal is open (as Salesforce's), and a lost
deal often keeps its planned date when it closes: weeks after its last update, even after the
export. Such a deal closed by its last update at the latest; read so and said, the export
imports whole, and its "now" stays the export's, not a planned date in next year. In Italian
its amounts have a decimal comma while its probabilities keep a point."""

from __future__ import annotations

import pandas as pd

from forecast.data.importing import read_export
from forecast.history import DealHistory
from tests.forecast.test_import_options import write

MAPPING = """
kind: opportunities
dataset: potentials
columns: {id: Number, stage: Sales Stage, amount: Amount, created_at: Created Time,
          close_date: Expected Close Date, updated_at: Modified Time}
stages:
  open: [Prospecting, Negotiation]
  won: Closed Won
  lost: Closed Lost
date_format: ["%d-%m-%Y %H:%M:%S", "%d-%m-%Y"]
"""
HEADER = "Number,Sales Stage,Amount,Created Time,Expected Close Date,Modified Time\n"
ROWS = [
    # lost, its planned close never moved: after its last update and after the export
    "P1,Closed Lost,500,02-01-2024 10:00:00,11-02-2099,20-02-2024 12:53:52",
    # won, closed the day it was last updated: as written
    "P2,Closed Won,900,03-01-2024 09:00:00,15-03-2024,15-03-2024 16:00:00",
    # lost, its close within a day after its update (time zones): as written
    "P3,Closed Lost,300,04-01-2024 09:00:00,21-03-2024,20-03-2024 22:00:00",
    # open: its date is a plan, whatever the update
    "P4,Negotiation,700,05-01-2024 09:00:00,30-06-2099,01-04-2024 08:00:00",
]


def read(tmp_path, export_date=None):
    path = write(tmp_path, "Potentials.csv", HEADER + "\n".join(ROWS) + "\n")
    return read_export(path, write(tmp_path, "m.yaml", MAPPING), export_date=export_date)


def test_a_closed_deals_close_after_its_last_update_is_read_as_closed_then(tmp_path):
    export = read(tmp_path)
    deals = export.opportunities.set_index("id")
    assert deals.loc["P1", "closed_at"] == pd.Timestamp("2024-02-20 12:53:52")
    assert deals.loc["P2", "closed_at"] == pd.Timestamp("2024-03-15")
    assert deals.loc["P3", "closed_at"] == pd.Timestamp("2024-03-21")
    assert pd.isna(deals.loc["P4", "closed_at"])
    assert deals.loc["P4", "expected_close_at"] == pd.Timestamp("2099-06-30")
    said = [n for n in export.report.notes if "after their last update" in n]
    assert said == [
        "1 closed deal(s) had a close date ('Expected Close Date') after their last update "
        "('Modified Time'): an expected close not moved when they closed, read as closed at "
        "their last update"
    ]
    # The data's "now" is its newest update, not a planned date decades ahead.
    history = DealHistory.from_frames(export.opportunities, export.history, export.stages)
    assert history.now() <= pd.Timestamp("2024-04-02")


def test_with_the_export_date_given_the_file_imports_whole(tmp_path):
    export = read(tmp_path, export_date="2024-04-01")
    assert export.report.ok and len(export.opportunities) == len(ROWS)


def test_a_close_column_of_its_own_is_not_moved(tmp_path):
    mapping = MAPPING.replace("close_date: Expected Close Date", "closed_at: Expected Close Date")
    path = write(tmp_path, "Potentials.csv", HEADER + "\n".join(ROWS[1:3]) + "\n")
    export = read_export(path, write(tmp_path, "m.yaml", mapping))
    assert not [n for n in export.report.notes if "after their last update" in n]


def test_an_open_deals_date_under_the_close_is_not_said_to_be_a_skewed_close(tmp_path):
    """HighLevel has no close date: mapped as `closed_at`, its "Updated on" is given on open
    deals too, where a few hours before creation are no close to report."""
    mapping = MAPPING.replace("close_date: Expected Close Date", "closed_at: Updated on")
    header = "Number,Sales Stage,Amount,Created Time,Updated on,Modified Time\n"
    rows = [
        "H1,Negotiation,700,05-01-2024 09:00:00,05-01-2024 07:00:00,05-01-2024 07:00:00",
        "H2,Closed Lost,100,06-01-2024 09:00:00,06-01-2024 08:00:00,06-01-2024 08:00:00",
    ]
    path = write(tmp_path, "opportunities.csv", header + "\n".join(rows) + "\n")
    notes = read_export(path, write(tmp_path, "m.yaml", mapping)).report.notes
    assert [n for n in notes if "clock skew" in n] == [
        "1 deal(s) closed up to 1 day before they were created (clock skew): close date set to "
        "the creation date (mapping: clock_skew_tolerance)"
    ]


def test_probabilities_written_with_a_point_beside_decimal_comma_amounts_are_read(tmp_path):
    """Vtiger in Italian writes amounts "4.850,00" but its probabilities "65.000": read in
    the file's notation those would be 65,000%; read with their point, and said."""
    mapping = (
        MAPPING.replace(
            "updated_at: Modified Time}",
            "updated_at: Modified Time,\n          rep_probability: Probability}",
        )
        + 'csv: {decimal: ",", thousands: "."}\nrep_probability_scale: 100\n'
    )
    header = HEADER.replace("\n", ",Probability\n")
    rows = [
        'P1,Closed Won,"4.850,00",02-01-2024 10:00:00,15-03-2024,15-03-2024 16:00:00,100.000',
        'P2,Negotiation,"1.200,50",03-01-2024 10:00:00,30-06-2024,01-04-2024 08:00:00,65.000',
        'P3,Prospecting,"900,00",04-01-2024 10:00:00,30-07-2024,01-04-2024 08:00:00,"12,5"',
    ]
    path = write(tmp_path, "Potentials.csv", header + "\n".join(rows) + "\n")
    export = read_export(path, write(tmp_path, "m.yaml", mapping))
    deals = export.opportunities.set_index("id")
    assert deals["rep_probability"].tolist() == [1.0, 0.65, 0.125]
    assert deals.loc["P2", "amount"] == 1200.5
    assert any("written with a point" in n and "'100.000'" in n for n in export.report.notes)
