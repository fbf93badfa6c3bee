"""Importing CRM exports: what a user relies on when they load their data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from forecast.data import store
from forecast.data.importing import import_export, read_export
from forecast.errors import ImportRejected, InvalidInput

MAPPING = """
kind: opportunities
dataset: acme
columns:
  id: Deal ID
  stage: Stage
  owner: Owner
  amount: Amount
  created_at: Created
  closed_at: Closed
stages:
  open: [New, Proposal]
stage_names: {"Closed Won": Won, "Closed Lost": Lost}
date_format: "%d/%m/%Y"
missing_values: ["n/a"]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text.strip() + "\n")
    return path


@pytest.fixture
def acme(tmp_path: Path) -> tuple[Path, Path]:
    mapping = write(tmp_path, "acme.yaml", MAPPING)
    export = write(
        tmp_path,
        "deals.csv",
        """
Deal ID,Stage,Owner,Amount,Created,Closed
D1,New,Ann,100,01/02/2024,
D2,Proposal,Bob,250.5,03/02/2024,
D3,Closed Won,Ann,900,05/01/2024,20/02/2024
D4,Closed Lost,Bob,n/a,06/01/2024,10/02/2024
""",
    )
    return export, mapping


def count(engine, table) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --- the shared CRM export --------------------------------------------------------------------


@pytest.mark.slow
def test_shared_opportunities_import_with_quirks_handled_visibly(engine, shared_opportunities):
    report = import_export(engine, shared_opportunities)
    assert report.rows_written == 8800 and report.ok and report.written
    deals = store.load_opportunities(engine, "crm_sales_opportunities")
    assert deals["stage"].value_counts().to_dict() == {
        "Won": 4238,
        "Lost": 2473,
        "Engaging": 1589,
        "Prospecting": 500,
    }
    # GTXPro in the pipeline matches GTX Pro in products.csv, and says so.
    assert "GTXPro" not in set(deals["product"])
    assert deals.loc[deals["product"] == "GTX Pro", "list_price"].eq(4821).all()
    assert report.fixed_values["product: GTXPro → GTX Pro"] == 1480
    assert "technolgy" not in set(deals["sector"].dropna())
    # Fixed in accounts.csv: counted in its rows (accounts), and said so, not as deals.
    assert report.fixed_values["sector: technolgy in accounts.csv"] == 12
    # Lost deals have no amount: the list price stands in, flagged as an estimate.
    lost = deals[deals["stage"] == "Lost"]
    assert lost["amount_estimated"].all()
    assert (lost["amount"] == lost["list_price"]).all()
    won = deals[deals["stage"] == "Won"]
    assert not won["amount_estimated"].any()
    # The 500 prospects carry no date: dated at the export (the data's last day), flagged.
    prospects = deals[deals["stage"] == "Prospecting"]
    assert prospects["created_estimated"].all()
    assert (prospects["created_at"] == pd.Timestamp("2017-12-31")).all()
    assert deals["account"].isna().sum() == 1425


@pytest.mark.slow
def test_reimporting_the_same_export_changes_nothing(engine, shared_opportunities):
    import_export(engine, shared_opportunities)
    before = store.load_opportunities(engine, "crm_sales_opportunities")
    history_before = count(engine, store.stage_history)
    again = import_export(engine, shared_opportunities)
    assert again.rows_written == 0 and again.history_rows_written == 0
    assert again.changed is False  # the dataset keeps its version: nothing to track again
    assert count(engine, store.stage_history) == history_before
    after = store.load_opportunities(engine, "crm_sales_opportunities")
    pd.testing.assert_frame_equal(
        before.sort_values("id").reset_index(drop=True),
        after.sort_values("id").reset_index(drop=True),
    )


@pytest.mark.slow
def test_a_newer_export_appends_stage_changes_to_the_history(
    engine, shared_opportunities, tmp_path
):
    import_export(engine, shared_opportunities)
    newer = tmp_path / "newer"
    shutil.copytree(shared_opportunities, newer)
    pipeline = pd.read_csv(newer / "sales_pipeline.csv", dtype="str")
    engaging = pipeline.index[pipeline["deal_stage"] == "Engaging"][0]
    deal = pipeline.loc[engaging, "opportunity_id"]
    pipeline.loc[engaging, ["deal_stage", "close_date", "close_value"]] = [
        "Won",
        "2018-01-15",
        "1234",
    ]
    pipeline.to_csv(newer / "sales_pipeline.csv", index=False)

    report = import_export(engine, newer)
    assert report.stage_changes == 1  # only the moved deal changed stage
    # Every deal was seen again at the newer export's date: each row records that sighting.
    assert report.rows_written == len(pipeline)
    history = store.load_history(engine, "crm_sales_opportunities")
    entries = history[history["opportunity_id"] == deal]
    assert list(entries["stage"]) == ["Engaging", "Won"]
    assert entries["entered_at"].iloc[-1] == pd.Timestamp("2018-01-15")


# --- a user's own export through a mapping file -----------------------------------------------


def test_own_export_through_a_mapping_file(engine, acme):
    export, mapping = acme
    report = import_export(engine, export, mapping)
    assert report.ok and report.rows_written == 4
    deals = store.load_opportunities(engine, "acme").set_index("id")
    assert deals.loc["D3", "stage"] == "Won" and deals.loc["D3", "status"] == "won"
    assert deals.loc["D4", "stage"] == "Lost" and pd.isna(deals.loc["D4", "amount"])
    assert deals.loc["D3", "closed_at"] == pd.Timestamp("2024-02-20")
    with engine.connect() as conn:
        assert store.dataset_stages(conn, "acme").open_stages == ("New", "Proposal")


def test_stage_move_in_a_plain_export_is_dated_at_the_export(engine, acme, tmp_path):
    export, mapping = acme
    import_export(engine, export, mapping, export_date="2024-02-25")
    moved = write(tmp_path, "later.csv", export.read_text().replace("D1,New,", "D1,Proposal,"))
    report = import_export(engine, moved, mapping, export_date="2024-03-10")
    assert report.stage_changes == 1
    history = store.load_history(engine, "acme")
    d1 = history[history["opportunity_id"] == "D1"]
    assert list(d1["stage"]) == ["New", "Proposal"]
    assert list(d1["entered_at"]) == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-10")]


def test_an_older_export_does_not_roll_a_deal_back(engine, acme, tmp_path):
    export, mapping = acme
    moved = write(tmp_path, "later.csv", export.read_text().replace("D1,New,", "D1,Proposal,"))
    import_export(engine, moved, mapping, export_date="2024-03-10")
    report = import_export(engine, export, mapping, export_date="2024-02-25")
    deals = store.load_opportunities(engine, "acme").set_index("id")
    assert deals.loc["D1", "stage"] == "Proposal"
    assert report.stage_changes == 0  # its older stage is not taken, so it moves no deal


def test_parquet_exports_import_like_csv(sqlite_engine, acme, tmp_path):
    export, mapping = acme
    parquet = tmp_path / "deals.parquet"
    pd.read_csv(export, dtype="str").to_parquet(parquet)
    report = import_export(sqlite_engine, parquet, mapping)
    assert report.ok and report.rows_written == 4


# --- bad input --------------------------------------------------------------------------------

BAD = """
Deal ID,Stage,Owner,Amount,Created,Closed
D1,New,Ann,100,01/02/2024,
D2,Negotiation,Bob,250,03/02/2024,
D3,Closed Won,Ann,900,05/01/2024,31/02/2024
D4,Closed Lost,Bob,-5,06/01/2024,10/02/2024
D5,Closed Won,Cy,10,20/02/2024,01/02/2024
D1,New,Ann,120,01/02/2024,
D6,Closed Won,Cy,ten,20/01/2024,
"""


def test_bad_rows_are_reported_with_file_row_column_and_a_count_per_problem(
    sqlite_engine, acme, tmp_path
):
    _, mapping = acme
    bad = write(tmp_path, "bad.csv", BAD)
    with pytest.raises(ImportRejected) as caught:
        import_export(sqlite_engine, bad, mapping)
    report = caught.value.report
    assert dict(report.counts) == {
        "unknown stage": 1,
        "unparseable date": 1,
        "negative amount": 1,
        "close before create": 1,
        "duplicate id": 1,
        "not a number": 1,
        "closed deal without close date": 1,
    }
    where = {(p.kind, p.row, p.column) for p in report.examples}
    assert ("unknown stage", 3, "Stage") in where
    assert ("unparseable date", 4, "Closed") in where
    assert ("negative amount", 5, "Amount") in where
    assert ("close before create", 6, "Closed") in where
    assert ("duplicate id", 7, "Deal ID") in where  # another amount: no copy of line 2
    assert ("not a number", 8, "Amount") in where
    assert all(p.file.endswith("bad.csv") for p in report.examples)
    assert "Negotiation" in str(next(p for p in report.examples if p.kind == "unknown stage"))


def test_a_rejected_import_writes_nothing_and_keeps_what_was_stored(engine, acme, tmp_path):
    export, mapping = acme
    import_export(engine, export, mapping)
    before = store.load_opportunities(engine, "acme")
    history = count(engine, store.stage_history)
    bad = write(tmp_path, "bad.csv", BAD.replace("D1,New,Ann,100", "D1,Proposal,Ann,999", 1))
    with pytest.raises(ImportRejected):
        import_export(engine, bad, mapping, export_date="2030-01-01")
    pd.testing.assert_frame_equal(before, store.load_opportunities(engine, "acme"))
    assert count(engine, store.stage_history) == history


def test_skip_mode_imports_the_good_rows_and_reports_the_bad(engine, acme, tmp_path):
    _, mapping = acme
    bad = write(tmp_path, "bad.csv", BAD)
    report = import_export(engine, bad, mapping, on_error="skip")
    assert report.written and report.bad_rows == 7 - 1 and report.rows_written == 1
    assert set(store.load_opportunities(engine, "acme")["id"]) == {"D1"}


def test_missing_required_columns_are_named(sqlite_engine, acme, tmp_path):
    _, mapping = acme
    export = write(tmp_path, "deals.csv", "Deal ID,Owner,Amount,Created,Closed\nD1,Ann,1,,")
    with pytest.raises(InvalidInput, match=r"missing required column\(s\) \['Stage'\]"):
        import_export(sqlite_engine, export, mapping)
    assert count(sqlite_engine, store.opportunities) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("Deal ID,Stage,Owner,Amount,Created,Closed", "header but no rows"),
    ],
)
def test_empty_files_get_a_clear_message(sqlite_engine, acme, tmp_path, text, message):
    _, mapping = acme
    export = tmp_path / "deals.csv"
    export.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        import_export(sqlite_engine, export, mapping)


def test_a_wrong_mapping_names_the_field_that_is_wrong(sqlite_engine, acme, tmp_path):
    export, _ = acme
    mapping = write(tmp_path, "m.yaml", "kind: opportunities\ndataset: x\ncolumns: {idd: a}")
    with pytest.raises(InvalidInput, match=r"columns: .*unknown canonical field\(s\) \['idd'\]"):
        import_export(sqlite_engine, export, mapping)


def test_an_unknown_format_asks_for_a_mapping(sqlite_engine, tmp_path):
    export = write(tmp_path, "whatever.csv", "a,b\n1,2")
    with pytest.raises(InvalidInput, match="pass --mapping"):
        import_export(sqlite_engine, export)


# --- leads ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_shared_leads_import_with_select_as_missing_and_leaks_declared(engine, shared_leads):
    report = import_export(engine, shared_leads)
    assert report.ok and report.rows_written == 9240
    leads = store.load_leads(engine, "x_education_leads")
    assert int(leads["converted"].sum()) == 3561
    assert "Select" not in set(leads["Specialization"].dropna())
    assert leads["TotalVisits"].dtype == "float64"
    with engine.connect() as conn:
        declared = store.get_dataset(conn, "x_education_leads")["leak_columns"]
    assert declared == ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity"]
    assert import_export(engine, shared_leads).rows_written == 0


@pytest.mark.slow
def test_read_export_gives_the_same_frames_without_a_store(shared_leads, shared_opportunities):
    leads = read_export(shared_leads)
    assert leads.kind == "leads" and len(leads.leads) == 9240
    assert "Lead Number" not in leads.leads.columns
    deals = read_export(shared_opportunities)
    assert deals.options == {
        "amount_known_before_close": False,
        "value_fixes": {"sector": {"technolgy": "technology"}},  # pushes are fixed alike
        "currency": "USD",  # and in the import's currency
    }
    assert len(deals.opportunities) == 8800
    assert deals.history.groupby("opportunity_id").size().max() == 2


def test_rows_without_dates_take_the_exports_newest_date_not_the_clock(tmp_path):
    """A deal lacking `updated_at` or `created_at` is dated at the export (its newest date of
    something that happened), never today: a years-old export dated today would make every
    period up to today look complete with nothing won. An expected close date is a plan, not
    the export's date."""
    folder = tmp_path / "crm"
    folder.mkdir()
    write(
        folder,
        "opportunities.csv",
        """
id,stage,amount,created_at,closed_at,updated_at,expected_close_at
D1,Won,100,2024-01-05,2024-02-10,2024-02-10,
D2,Lost,50,2024-01-20,2024-03-31,,
D3,Prospecting,80,2024-02-01,,2024-03-15,2026-06-30
D4,Prospecting,70,,,,2026-09-30
""",
    )
    write(folder, "stage_history.csv", "opportunity_id,stage,entered_at\nD1,Prospecting,2024-01-05")
    deals = read_export(folder).opportunities.set_index("id")
    assert deals.loc["D2", "updated_at"] == pd.Timestamp("2024-03-31")
    assert deals.loc["D4", "created_at"] == pd.Timestamp("2024-03-31")
    assert deals.loc["D4", "updated_at"] == pd.Timestamp("2024-03-31")
    assert deals.loc["D4", "created_estimated"] and not deals.loc["D3", "created_estimated"]
    assert deals.loc["D3", "updated_at"] == pd.Timestamp("2024-03-15")  # given: kept


def test_dates_after_the_export_or_in_the_future_are_bad_rows_not_the_datas_now(acme, tmp_path):
    """One typo'd year or a planned close typed into a close date would become the data's "now"
    and move every forecast with it: such rows are reported (file, row, column, value)."""
    _, mapping = acme
    text = """
Deal ID,Stage,Owner,Amount,Created,Closed
D1,New,Ann,100,01/02/2024,
D2,Proposal,Bob,250,02/11/2204,
D3,Closed Won,Ann,900,05/01/2024,30/06/2025
D4,Closed Lost,Bob,50,06/01/2024,10/02/2024
"""
    export = write(tmp_path, "late.csv", text)
    typo = read_export(export, mapping, on_error="skip")
    assert [(p.kind, p.row, p.column) for p in typo.report.examples] == [
        ("date in the future", 3, "Created")
    ]
    assert set(typo.opportunities["id"]) == {"D1", "D3", "D4"}
    given = read_export(export, mapping, on_error="skip", export_date="2024-11-29")
    assert {(p.kind, p.row) for p in given.report.examples} == {
        ("date after the export date (2024-11-29)", 3),
        ("date after the export date (2024-11-29)", 4),
    }
    assert set(given.opportunities["id"]) == {"D1", "D4"}


def test_a_closed_deal_without_a_creation_date_is_dated_by_its_close_and_has_no_cycle(tmp_path):
    """A closed deal lacking its creation date existed by its close: it is dated there (flagged
    as estimated), never created after it closed, and counts in no time-to-close figure."""
    from forecast.history import DealHistory
    from forecast.kpis import compute_kpis

    folder = tmp_path / "crm"
    folder.mkdir()
    write(
        folder,
        "opportunities.csv",
        """
id,stage,amount,created_at,closed_at,updated_at
D1,Won,100,2024-01-05,2024-02-04,2024-02-04
D2,Won,50,,2024-03-01,2024-03-01
D3,Prospecting,80,2024-03-20,,2024-03-20
""",
    )
    write(folder, "stage_history.csv", "opportunity_id,stage,entered_at\nD1,Prospecting,2024-01-05")
    export = read_export(folder)
    deals = export.opportunities.set_index("id")
    assert deals.loc["D2", "created_at"] == pd.Timestamp("2024-03-01")
    assert deals.loc["D2", "created_estimated"]
    history = DealHistory.from_frames(export.opportunities, export.history, export.stages)
    won = compute_kpis(history).overall["time_to_close"]["won"]
    assert won["deals"] == 1 and won["median_days"] == 30


def test_leads_under_a_deal_datasets_name_are_refused_and_its_deals_stay(engine, acme, tmp_path):
    """A dataset holds deals or leads: leads imported under a deal dataset's name would make its
    deals unreachable, so the import is refused, naming the dataset and what it holds."""
    export, mapping = acme
    import_export(engine, export, mapping)
    leads_mapping = write(
        tmp_path,
        "leads.yaml",
        "kind: leads\ndataset: people\ncolumns:\n  id: Lead\n  converted: Won",
    )
    leads = write(tmp_path, "leads.csv", "Lead,Won,City\nL1,1,Lyon\nL2,0,Metz")
    with pytest.raises(InvalidInput, match=r"dataset 'acme' holds opportunities, not leads"):
        import_export(engine, leads, leads_mapping, dataset="acme")
    assert len(store.load_opportunities(engine, "acme")) == 4
    with engine.connect() as conn:
        assert store.get_dataset(conn, "acme")["kind"] == "opportunities"


def test_rows_left_out_for_a_bad_date_are_not_counted_as_estimated_creations(acme, tmp_path):
    _, mapping = acme
    text = "Deal ID,Stage,Owner,Amount,Created,Closed\nD1,New,Ann,100,2024/02/01,\nD2,New,Bob,5,,"
    report = read_export(write(tmp_path, "d.csv", text), mapping, on_error="skip").report
    assert report.counts["unparseable date"] == 1
    assert report.estimated_created == 1  # D2's blank date, not D1's unreadable one


def test_a_joined_file_that_lists_a_key_twice_or_lacks_one_is_said(tmp_path):
    """A joined file (owners → team) with an owner given two teams, or without an owner the
    deals name, still imports, and the report says which rows it could not match as given."""
    folder = tmp_path / "acme"
    folder.mkdir()
    mapping = write(
        folder,
        "acme.yaml",
        """
kind: opportunities
dataset: acme
main: deals.csv
joins:
  - {file: owners.csv, key: Owner}
columns: {id: Deal ID, stage: Stage, owner: Owner, team: Team, created_at: Created}
stages: {open: [New], won: Won, lost: Lost}
""",
    )
    write(folder, "owners.csv", "Owner,Team\nann,East\nann,Central\nbob,West\nbob,West")
    deals = write(
        folder,
        "deals.csv",
        "Deal ID,Stage,Owner,Created\nD1,New,ann,2024-01-02\nD2,New,bob,2024-01-03\n"
        "D3,New,cy,2024-01-04",
    )
    export = read_export(deals, mapping)
    teams = export.opportunities.set_index("id")["team"]
    assert teams["D1"] == "East" and teams["D2"] == "West" and pd.isna(teams["D3"])
    notes = " ".join(export.report.notes)
    assert "1 Owner value(s) listed more than once with different values ('ann')" in notes
    assert "1 Owner value(s) not in the joined file ('cy')" in notes


def test_spaces_around_a_team_or_rep_name_are_not_part_of_it(sqlite_engine):
    """ " Team Novak " in one row and "Team Novak" in another are one team (a group no target
    could name otherwise, and a line of its own in every per-team figure); a name of spaces
    alone is blank."""
    from forecast.data.importing import import_frame
    from forecast.data.mapping import load_mapping

    row = {"stage": "Prospecting", "created_at": "2024-03-01", "updated_at": "2024-03-01"}
    frame = pd.DataFrame(
        [
            {**row, "id": "D1", "team": " Team Novak ", "owner": "Ana Moreau  "},
            {**row, "id": "D2", "team": "Team Novak", "owner": "Ana Moreau"},
            {**row, "id": "D3", "team": "   ", "owner": "Ben"},
        ]
    )
    import_frame(sqlite_engine, frame, load_mapping("canonical"), dataset="crm")
    deals = store.load_opportunities(sqlite_engine, "crm").set_index("id")
    assert deals.loc[["D1", "D2"], "team"].tolist() == ["Team Novak", "Team Novak"]
    assert deals.loc[["D1", "D2"], "owner"].tolist() == ["Ana Moreau", "Ana Moreau"]
    assert pd.isna(deals.loc["D3", "team"])
