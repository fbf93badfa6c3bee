"""CRM sync: what a CRM pushing deal states relies on, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.sync import sync_opportunities
from forecast.errors import Busy, InvalidInput, NotFound, UnknownStage

NOW = datetime(2024, 7, 1)


@pytest.fixture
def crm(engine: Engine) -> Engine:
    """A dataset `crm` with the default stages and two open deals."""
    frame = pd.DataFrame(
        [
            {
                "id": "D1",
                "stage": "Prospecting",
                "created_at": "2024-03-01",
                "updated_at": "2024-03-01",
                "amount": 1000.0,
                "owner": "Ann",
                "team": "East",
            },
            {
                "id": "D2",
                "stage": "Qualification",
                "created_at": "2024-03-02",
                "updated_at": "2024-03-05",
                "amount": 2000.0,
                "owner": "Bob",
                "team": "West",
            },
        ]
    )
    import_frame(engine, frame, load_mapping("canonical"), dataset="crm")
    return engine


def push(engine: Engine, *deals: dict, **kwargs):  # noqa: ANN201
    return sync_opportunities(engine, list(deals), now=NOW, **kwargs)


def history(engine: Engine, deal: str) -> list[tuple[str, str]]:
    frame = store.load_history(engine, "crm")
    rows = frame[frame["opportunity_id"] == deal]
    return [(r.stage, str(r.entered_at)) for r in rows.itertuples()]


def deal(engine: Engine, deal_id: str) -> dict:
    """The stored row as the store holds it (timestamps as text, as the tests write them)."""
    opps = store.opportunities
    with engine.connect() as conn:
        row = (
            conn.execute(select(opps).where(opps.c.dataset == "crm", opps.c.id == deal_id))
            .mappings()
            .one()
        )
    return {k: str(v) if isinstance(v, datetime) else v for k, v in row.items()}


D1 = {
    "id": "D1",
    "stage": "Prospecting",
    "updated_at": "2024-03-01",
    "created_at": "2024-03-01",
    "amount": 1000.0,
    "owner": "Ann",
    "team": "East",
}


def test_a_stage_change_appends_to_the_history_dated_by_updated_at(crm):
    report = push(crm, {**D1, "stage": "Qualification", "updated_at": "2024-03-10T09:30:00Z"})
    result = report.deals[0]
    assert (result.outcome, result.previous_stage, result.stage) == (
        "changed",
        "Prospecting",
        "Qualification",
    )
    assert result.stage_moved and result.history_added == 1
    assert history(crm, "D1") == [
        ("Prospecting", "2024-03-01 00:00:00"),
        ("Qualification", "2024-03-10 09:30:00"),
    ]


def test_a_field_change_without_a_stage_move_adds_no_history(crm):
    result = push(crm, {**D1, "amount": 1500.0, "updated_at": "2024-03-04"}).deals[0]
    assert result.outcome == "changed" and not result.stage_moved and result.history_added == 0
    assert deal(crm, "D1")["amount"] == 1500.0
    assert history(crm, "D1") == [("Prospecting", "2024-03-01 00:00:00")]


def test_won_and_lost_outcomes_are_recorded_with_their_close_date(crm):
    report = push(
        crm,
        {**D1, "stage": "Won", "updated_at": "2024-04-02", "closed_at": "2024-04-01"},
        {"id": "D2", "stage": "lost", "updated_at": "2024-04-03", "created_at": "2024-03-02"},
    )
    assert [d.status for d in report.deals] == ["won", "lost"]
    won, lost = deal(crm, "D1"), deal(crm, "D2")
    assert (won["status"], str(won["closed_at"])) == ("won", "2024-04-01 00:00:00")
    # No close date given: the outcome is dated when the CRM recorded it.
    assert (lost["stage"], str(lost["closed_at"])) == ("Lost", "2024-04-03 00:00:00")
    assert history(crm, "D1")[-1] == ("Won", "2024-04-01 00:00:00")
    assert history(crm, "D2")[-1] == ("Lost", "2024-04-03 00:00:00")


def test_repeating_the_same_push_changes_nothing(crm):
    move = {**D1, "stage": "Presentation", "updated_at": "2024-03-12"}
    first = push(crm, move).deals[0]
    state, entries = deal(crm, "D1"), history(crm, "D1")
    again = push(crm, move).deals[0]
    assert first.outcome == "changed" and again.outcome == "unchanged"
    assert not again.stage_moved and again.history_added == 0
    assert deal(crm, "D1") == state and history(crm, "D1") == entries


def test_an_older_push_does_not_roll_the_deal_back(crm):
    push(crm, {**D1, "stage": "Closing", "amount": 5000.0, "updated_at": "2024-03-20"})
    late = push(
        crm, {**D1, "stage": "Qualification", "amount": 900.0, "updated_at": "2024-03-10"}
    ).deals[0]
    assert late.outcome == "stale" and late.stage == "Closing"
    now = deal(crm, "D1")
    assert (now["stage"], now["amount"], str(now["updated_at"])) == (
        "Closing",
        5000.0,
        "2024-03-20 00:00:00",
    )
    # The move it reports did happen, and is kept where it belongs in time.
    assert history(crm, "D1") == [
        ("Prospecting", "2024-03-01 00:00:00"),
        ("Qualification", "2024-03-10 00:00:00"),
        ("Closing", "2024-03-20 00:00:00"),
    ]


def test_a_late_push_of_a_stage_already_in_the_history_adds_nothing(crm):
    push(crm, {**D1, "stage": "Qualification", "updated_at": "2024-03-10"})
    push(crm, {**D1, "stage": "Presentation", "updated_at": "2024-03-15"})
    late = push(crm, {**D1, "stage": "Qualification", "updated_at": "2024-03-12"}).deals[0]
    assert late.outcome == "stale" and late.history_added == 0
    assert [s for s, _ in history(crm, "D1")] == ["Prospecting", "Qualification", "Presentation"]


def test_a_new_deal_is_inserted_and_enters_its_stage_when_created(crm):
    result = push(
        crm,
        {
            "id": "N1",
            "stage": "Demonstration",
            "created_at": "2024-05-01T08:00:00",
            "updated_at": "2024-05-03",
            "amount": 700,
        },
    ).deals[0]
    assert (result.outcome, result.previous_stage, result.stage_moved) == ("inserted", None, False)
    assert history(crm, "N1") == [("Demonstration", "2024-05-01 08:00:00")]


def test_a_stored_deal_keeps_its_creation_date_when_a_push_leaves_it_out(crm):
    push(
        crm,
        {key: v for key, v in D1.items() if key != "created_at"}
        | {"stage": "Closing", "updated_at": "2024-03-09"},
    )
    assert str(deal(crm, "D1")["created_at"]) == "2024-03-01 00:00:00"


def test_time_zones_are_converted_to_utc(crm):
    push(crm, {**D1, "stage": "Closing", "updated_at": "2024-03-09T10:00:00+02:00"})
    assert str(deal(crm, "D1")["updated_at"]) == "2024-03-09 08:00:00"


def test_a_batch_reports_each_deal(crm):
    report = push(
        crm,
        {**D1, "stage": "Qualification", "updated_at": "2024-03-11"},
        {
            "id": "D2",
            "stage": "Qualification",
            "updated_at": "2024-03-05",
            "created_at": "2024-03-02",
            "amount": 2000.0,
            "owner": "Bob",
            "team": "West",
        },
        {
            "id": "D3",
            "stage": "Prospecting",
            "updated_at": "2024-03-11",
            "created_at": "2024-03-11",
        },
    )
    assert [d.outcome for d in report.deals] == ["changed", "unchanged", "inserted"]
    assert report.counts == {"inserted": 1, "changed": 1, "unchanged": 1, "stale": 0, "tie": 0}
    assert report.history_added == 2


# --- bad input: named, and nothing written ----------------------------------------------------


def test_an_unknown_stage_is_rejected_naming_the_field_and_value(crm):
    with pytest.raises(UnknownStage, match=r"opportunities\[1\]\.stage: unknown stage 'Haggling'"):
        push(
            crm,
            {**D1, "stage": "Qualification", "updated_at": "2024-03-11"},
            {**D1, "id": "D2", "stage": "Haggling", "updated_at": "2024-03-11"},
        )
    assert deal(crm, "D1")["stage"] == "Prospecting"  # all or nothing


def test_problems_the_import_finds_name_the_deal_field_and_value(crm):
    with pytest.raises(InvalidInput) as err:
        push(
            crm,
            {
                **D1,
                "updated_at": "2024-03-11",
                "rep_probability": 1.7,
                "closed_at": "2024-01-01",
                "stage": "Won",
            },
        )
    message = str(err.value)
    assert "opportunities[0].rep_probability: probability outside 0–1" in message
    assert "rep_probability_scale: 100): '1.7'" in message  # perhaps a percent
    assert "opportunities[0].closed_at: close before create" in message
    assert "nothing was written" in message
    assert deal(crm, "D1")["stage"] == "Prospecting"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"updated_at": None}, "updated_at: required"),
        ({"updated_at": "last tuesday"}, "updated_at: 'last tuesday' is not a usable date-time"),
        ({"updated_at": "2031-01-01"}, "updated_at: 2031-01-01T00:00:00 is in the future"),
        ({"id": " "}, "id: every opportunity needs its CRM id"),
        ({"stage": ""}, "stage: every opportunity needs its current stage"),
        ({"colour": "red"}, "colour: not a field of an opportunity"),
        ({"id": "NEW", "created_at": None}, "created_at: required for a deal the store does not"),
        ({"amount": 1e308}, "amount: number beyond ±1e\\+15"),
        ({"amount": float("inf")}, "amount: number beyond ±1e\\+15"),
        ({"account_revenue": -1e16}, "account_revenue: number beyond ±1e\\+15"),
    ],
)
def test_bad_fields_are_named(crm, change, message):
    with pytest.raises(InvalidInput, match="opportunities\\[0\\]\\." + message.replace("(", r"\(")):
        push(crm, {**D1, **change})


def test_a_deal_sent_twice_in_one_batch_is_rejected(crm):
    with pytest.raises(InvalidInput, match=r"opportunities\[1\]\.id: 'D1' is sent twice"):
        push(crm, D1, {**D1, "stage": "Closing"})


def test_a_batch_over_the_limit_is_rejected_with_the_limit(crm):
    deals = [{**D1, "id": f"X{i}"} for i in range(3)]
    with pytest.raises(InvalidInput, match="batch of 3 opportunities: the limit is 2 per call"):
        push(crm, *deals, max_batch=2)


def test_several_datasets_need_a_name_and_an_unknown_one_is_not_found(crm):
    import_frame(
        crm,
        pd.DataFrame([{"id": "Z", "stage": "Prospecting"}]),
        load_mapping("canonical"),
        dataset="other",
    )
    with pytest.raises(NotFound, match="several opportunities datasets"):
        push(crm, D1)
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        push(crm, D1, dataset="nope")
    assert (
        push(crm, {**D1, "updated_at": "2024-03-02"}, dataset="crm").deals[0].outcome == "unchanged"
    )


def test_a_dataset_with_its_own_stages_takes_its_own_stage_names(engine):
    mapping = load_mapping("canonical").model_copy(
        update={"stages": {"open": ["Prospecting", "Engaging"], "won": "Won", "lost": "Lost"}}
    )
    import_frame(
        engine,
        pd.DataFrame([{"id": "A", "stage": "Prospecting", "created_at": "2017-01-01"}]),
        mapping,
        dataset="crm",
    )
    assert (
        push(engine, {"id": "A", "stage": "engaging", "updated_at": "2017-01-05"}).deals[0].stage
        == "Engaging"
    )
    with pytest.raises(UnknownStage, match="Prospecting, Engaging, Won, Lost"):
        push(engine, {"id": "A", "stage": "Closing", "updated_at": "2017-01-06"})


def test_a_pushed_deal_without_a_currency_is_in_the_currency_its_dataset_was_imported_in(engine):
    mapping = load_mapping("canonical").model_copy(update={"currency": "EUR"})
    first = {"id": "A", "stage": "Prospecting", "created_at": "2017-01-01", "amount": 100.0}
    import_frame(engine, pd.DataFrame([first]), mapping, dataset="crm")
    b = {"id": "B", "stage": "Prospecting", "created_at": "2017-01-05", "amount": 50}
    push(engine, {**b, "updated_at": "2017-01-05"})
    assert (deal(engine, "A")["currency"], deal(engine, "B")["currency"]) == ("EUR", "EUR")


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_pushes_for_one_deal_lose_nothing(crm):
    """Threads push every move of one deal (each twice), in random order and all at once:
    every stage entry ends in the history once, and the deal holds the newest state."""
    moves = [
        ("Qualification", "2024-03-02", 1100.0),
        ("Presentation", "2024-03-03", 1200.0),
        ("Demonstration", "2024-03-04", 1300.0),
        ("Closing", "2024-03-05", 1400.0),
        ("Won", "2024-03-06", 1500.0),
    ]
    pushes = [{**D1, "stage": s, "updated_at": t, "amount": a} for s, t, a in moves] * 2
    random.Random(7).shuffle(pushes)
    start = threading.Barrier(len(pushes))
    errors: list[BaseException] = []

    def send(one: dict) -> None:
        start.wait()
        try:
            push(crm, one)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(p,)) for p in pushes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert history(crm, "D1") == [("Prospecting", "2024-03-01 00:00:00")] + [
        (s, f"{t} 00:00:00") for s, t, _ in moves
    ]
    final = deal(crm, "D1")
    assert (final["stage"], final["status"], final["amount"], str(final["updated_at"])) == (
        "Won",
        "won",
        1500.0,
        "2024-03-06 00:00:00",
    )


def test_concurrent_pushes_of_different_fields_keep_the_newest(crm):
    pushes = [
        {**D1, "amount": 1000.0 + i, "owner": f"Rep {i}", "updated_at": f"2024-03-{i + 2:02d}"}
        for i in range(12)
    ]
    random.Random(3).shuffle(pushes)
    errors: list[BaseException] = []

    def send(one: dict) -> None:
        try:
            push(crm, one)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(p,)) for p in pushes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = deal(crm, "D1")
    assert (final["amount"], final["owner"], str(final["updated_at"])) == (
        1011.0,
        "Rep 11",
        "2024-03-13 00:00:00",
    )
    assert history(crm, "D1") == [("Prospecting", "2024-03-01 00:00:00")]


def test_identical_pushes_at_once_report_one_insert(crm):
    """A CRM retrying a push it thinks was lost: one insert; the others see the stored deal."""
    new = {**D1, "id": "D7", "stage": "Qualification", "updated_at": "2024-03-09"}
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def send() -> None:
        start.wait()
        outcomes.append(push(crm, new).deals[0].outcome)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["inserted"] + ["unchanged"] * 5
    assert history(crm, "D7") == [("Qualification", "2024-03-01 00:00:00")]


def test_a_push_during_a_long_write_on_sqlite_is_busy_not_an_error(tmp_path):
    """SQLite has one writer: a push that waited its lock time gets `Busy` (a 503 with
    Retry-After), and nothing of it is written."""
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}", busy_seconds=0.2)
    store.migrate(engine)
    import_frame(engine, pd.DataFrame([D1]), load_mapping("canonical"), dataset="crm")
    with store.transaction(engine) as conn:  # another writer holds the lock
        store.lock_dataset(conn, "crm")
        with pytest.raises(Busy, match="busy"):
            push(engine, {**D1, "stage": "Qualification", "updated_at": "2024-03-02"})
    assert deal(engine, "D1")["stage"] == "Prospecting"
    push(engine, {**D1, "stage": "Qualification", "updated_at": "2024-03-02"})
    assert deal(engine, "D1")["stage"] == "Qualification"


def test_a_writer_behind_a_queue_of_short_writes_waits_for_them_on_sqlite(tmp_path):
    """The busy time bounds the wait for one other writer, not for the queue: 40 writers that
    each hold the lock far less than it, and all together longer, all get their turn."""
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}", busy_seconds=1.0)
    store.migrate(engine)
    import_frame(engine, pd.DataFrame([D1]), load_mapping("canonical"), dataset="crm")
    start = threading.Barrier(40)
    errors: list[BaseException] = []

    def write() -> None:
        start.wait()
        try:
            with store.transaction(engine) as conn:
                store.lock_dataset(conn, "crm")
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(40)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert time.monotonic() - began > 1.0  # the last ones waited longer than the busy time


def test_a_pushed_deal_is_fixed_as_the_import_fixed_the_export(engine):
    """The import's `value_fixes`, kept with the dataset, fix a push's values once, as they
    fixed the export's ("Jo" is "Joanna", not "Joanna Smith" by a second pass)."""
    frame = pd.DataFrame(
        [
            {
                "id": "D1",
                "stage": "Prospecting",
                "created_at": "2024-03-01",
                "updated_at": "2024-03-01",
                "owner": "Jo",
                "sector": "technolgy",
            }
        ]
    )
    fixes = {
        "sector": {"technolgy": "technology"},
        "owner": {"Jo": "Joanna", "Joanna": "Joanna Smith"},
    }
    mapping = load_mapping("canonical").model_copy(update={"value_fixes": fixes})
    import_frame(engine, frame, mapping, dataset="crm")
    base = {"stage": "Prospecting", "updated_at": "2024-06-01", "created_at": "2024-06-01"}
    push(engine, {**base, "id": "N1", "owner": "Jo", "sector": "technolgy"})
    assert (
        (deal(engine, "N1")["owner"], deal(engine, "N1")["sector"])
        == (
            deal(engine, "D1")["owner"],
            deal(engine, "D1")["sector"],
        )
        == ("Joanna", "technology")
    )
    push(engine, {**base, "id": "N2", "updated_at": "2024-06-02", "sector": "technolgy"})
    assert deal(engine, "N2")["sector"] == "technology"  # the fixes outlive the first push


def test_a_push_keeps_where_the_datasets_stage_probabilities_came_from_and_its_scale(engine):
    """A push re-states the dataset's options from the import's: a preset's stage probabilities
    stay the CRM's preset (not relabelled the mapping's), percents stay percents."""
    mapping = load_mapping("canonical").model_copy(
        update={
            "stage_probabilities": {"Prospecting": 0.1, "Qualification": 0.2},
            "stage_probabilities_from": "preset",
            "rep_probability_scale": 100.0,
        }
    )
    first = {"id": "A", "stage": "Prospecting", "created_at": "2017-01-01"}
    import_frame(engine, pd.DataFrame([first]), mapping, dataset="crm")
    push(engine, {"id": "A", "stage": "Qualification", "updated_at": "2017-01-05"})
    with engine.connect() as conn:
        options = store.get_dataset(conn, "crm")["options"]
    assert options["stage_probabilities_from"] == "preset"
    assert options["rep_probability_scale"] == 100.0
    assert options["stage_probabilities"] == {"Prospecting": 0.1, "Qualification": 0.2}
