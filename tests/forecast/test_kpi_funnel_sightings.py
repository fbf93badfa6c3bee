"""The funnel reads a known skip from the record of stage *entries* only. A deal seen in one
stage by a nightly push or a re-export, and later seen in a further one, may have passed
through the stages between unseen: it counts as reaching them, as a flat export's deals do, and
does not blank their conversion. A stage history (a history file, dated stage changes) that
records a deal entering one stage and then a further one still makes the stage between a
known skip, a sighting beside those entries or not."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from forecast.data import stage_log
from forecast.data.importing import import_export, import_frame
from forecast.data.mapping import load_mapping
from forecast.data.stages import StageSet
from forecast.data.sync import sync_opportunities
from forecast.history import load_deal_history
from forecast.kpis import compute_kpis
from tests.forecast.test_import_options import write

NOW = datetime(2024, 12, 1)
SEED = {"id": "D0", "stage": "Prospecting", "created_at": "2024-03-01", "updated_at": "2024-03-01"}


def funnel(engine: Engine, dataset: str) -> dict[str, tuple[int, float | None]]:
    history = load_deal_history(engine, dataset, check_leaks=False)
    rows = compute_kpis(history).overall["funnel"]
    return {r["stage"]: (r["reached"], r["conversion"]) for r in rows}


def deal(stage: str, day: int) -> dict:
    return {
        "id": "D1",
        "stage": stage,
        "created_at": "2024-03-01",
        "updated_at": f"2024-03-{day:02d}",
    }


def test_two_pushes_seeing_a_deal_in_a_stage_then_a_further_one_skip_nothing_known(
    sqlite_engine,
):
    import_frame(sqlite_engine, pd.DataFrame([SEED]), load_mapping("canonical"), dataset="crm")
    sync_opportunities(sqlite_engine, [deal("Prospecting", 2)], dataset="crm", now=NOW)
    sync_opportunities(sqlite_engine, [deal("Presentation", 5)], dataset="crm", now=NOW)
    got = funnel(sqlite_engine, "crm")
    # D1 may have passed through Qualification between the two pushes: it reached it and
    # moved on, as a deal seen once in Presentation would have (D0 is still in Prospecting).
    assert got["Prospecting"] == (2, 1.0)
    assert got["Qualification"] == (1, 1.0)
    assert got["Presentation"][0] == 1


def test_two_exports_seeing_a_deal_in_a_stage_then_a_further_one_skip_nothing_known(
    sqlite_engine,
):
    for seen in (deal("Prospecting", 2), deal("Presentation", 5)):
        rows = pd.DataFrame([SEED, seen])
        import_frame(sqlite_engine, rows, load_mapping("canonical"), dataset="crm")
    assert funnel(sqlite_engine, "crm")["Qualification"] == (1, 1.0)


def test_the_pushes_skip_nothing_known_as_of_a_date_either(sqlite_engine):
    import_frame(sqlite_engine, pd.DataFrame([SEED]), load_mapping("canonical"), dataset="crm")
    for day, stage in ((2, "Prospecting"), (5, "Presentation"), (9, "Demonstration")):
        sync_opportunities(sqlite_engine, [deal(stage, day)], dataset="crm", now=NOW)
    history = load_deal_history(sqlite_engine, "crm", check_leaks=False)
    report = compute_kpis(history, as_of="2024-03-07")
    assert report.from_snapshot
    got = {r["stage"]: (r["reached"], r["conversion"]) for r in report.overall["funnel"]}
    assert got["Qualification"] == (1, 1.0)


MAPPING = """
kind: opportunities
dataset: sfdc
main: deals.csv
history_file: history.csv
history_columns: {opportunity_id: Opportunity ID, stage: To Stage, entered_at: Edit Date}
columns: {id: Opportunity ID, stage: Stage, amount: Amount, created_at: Created Date,
          closed_at: Close Date}
stages:
  open: [Prospecting, Qualification, Proposal]
stage_names: {"Closed Won": Won, "Closed Lost": Lost}
"""
DEALS = """
Opportunity ID,Stage,Amount,Created Date,Close Date
006A,Proposal,1000,2024-01-02,
006B,Prospecting,500,2024-01-03,
"""
HISTORY = """
Opportunity ID,To Stage,Edit Date
006A,Prospecting,2024-01-02
006A,Proposal,2024-01-20
006B,Prospecting,2024-01-03
"""


def history_file(engine: Engine, folder, history: str = HISTORY) -> None:  # noqa: ANN001
    write(folder, "deals.csv", DEALS)
    write(folder, "history.csv", history)
    import_export(engine, folder, write(folder, "m.yaml", MAPPING), export_date="2024-03-01")


def test_a_history_file_recording_a_stage_then_a_further_one_is_a_known_skip(
    sqlite_engine, tmp_path
):
    history_file(sqlite_engine, tmp_path)
    # 006A entered Prospecting, then Proposal: it reached Qualification but never entered it,
    # and it is the only deal that reached it. The export's row (a sighting of Proposal at the
    # export date, beside the file's entries) does not hide that, nor does a later push.
    assert funnel(sqlite_engine, "sfdc")["Qualification"] == (1, None)
    push = {"id": "006A", "stage": "Proposal", "updated_at": "2024-03-05"}
    sync_opportunities(sqlite_engine, [push], dataset="sfdc", now=NOW)
    got = funnel(sqlite_engine, "sfdc")
    assert got["Qualification"] == (1, None)
    assert got["Prospecting"] == (2, 1.0)


def test_a_history_file_lagging_the_deals_file_leaves_the_path_open(sqlite_engine, tmp_path):
    history_file(sqlite_engine, tmp_path, HISTORY.replace("006A,Proposal,2024-01-20\n", ""))
    # The file records 006A entering Prospecting; its row says it is in Proposal now (a
    # sighting): between the two it may have entered Qualification, so that is no known skip.
    assert funnel(sqlite_engine, "sfdc")["Qualification"] == (1, 1.0)


STAGES = StageSet(open_stages=("A", "B", "C"))


def derived(*observations: tuple[str, str, bool]) -> list[tuple[str, bool]]:
    """The stage log of one deal from (stage, day, sighting) observations: (stage, seen_only)."""
    frame = pd.DataFrame(
        [
            {"opportunity_id": "D", "stage": s, "entered_at": pd.Timestamp(d), "seen_only": seen}
            for s, d, seen in observations
        ]
    )
    created = pd.Series([pd.Timestamp("2024-01-01")], index=["D"])
    out = stage_log.derive(frame, created, STAGES)
    return list(zip(out["stage"], out["seen_only"], strict=True))


def test_a_stay_is_seen_only_unless_entries_show_the_deal_moving_into_it():
    # Dated entries: every move recorded.
    assert derived(("A", "2024-01-02", False), ("C", "2024-01-05", False)) == [
        ("A", False),
        ("C", False),
    ]
    # Two sightings, or a sighting on either side of the move: the path between is unseen.
    assert derived(("A", "2024-01-02", True), ("C", "2024-01-05", True))[1] == ("C", True)
    assert derived(("A", "2024-01-02", True), ("C", "2024-01-05", False))[1] == ("C", True)
    assert derived(("A", "2024-01-02", False), ("C", "2024-01-05", True))[1] == ("C", True)
    # A sighting within a stay that holds an entry hides nothing: the entries still show it.
    assert derived(
        ("A", "2024-01-02", False), ("A", "2024-01-03", True), ("C", "2024-01-05", False)
    ) == [("A", False), ("C", False)]
    assert derived(
        ("A", "2024-01-02", True), ("A", "2024-01-03", False), ("C", "2024-01-05", False)
    ) == [("A", True), ("C", False)]


def test_the_stage_log_other_views_read_keeps_its_three_columns(sqlite_engine):
    import_frame(sqlite_engine, pd.DataFrame([SEED]), load_mapping("canonical"), dataset="crm")
    sync_opportunities(sqlite_engine, [deal("Prospecting", 2)], dataset="crm", now=NOW)
    sync_opportunities(sqlite_engine, [deal("Presentation", 5)], dataset="crm", now=NOW)
    history = load_deal_history(sqlite_engine, "crm", check_leaks=False)
    assert list(history.stage_log.columns) == ["opportunity_id", "stage", "entered_at"]
    d1 = history.stage_log[history.stage_log["opportunity_id"] == "D1"]
    assert list(d1["stage"]) == ["Prospecting", "Presentation"]
    assert list(d1["entered_at"]) == [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-05")]
