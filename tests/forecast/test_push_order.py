"""Pushes in any order, repeated or not, leave the same store: the same stage history, field
history and current deals, on SQLite and PostgreSQL (a property test on random event sequences).

The CRM says what a deal was at a time; it does not promise to say it in order. Everything the
service learns from (snapshots, training rows, backtests) is rebuilt from these histories.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.sync import sync_opportunities

NOW = datetime(2024, 12, 1)
STAGES = ("Prospecting", "Qualification", "Presentation", "Demonstration", "Closing", "Won", "Lost")
DEALS = ("D1", "D2", "D3")
START = datetime(2024, 3, 1)
#: A deal known before the pushes, so the dataset exists with the default stages.
SEED = {"id": "D0", "stage": "Prospecting", "created_at": "2024-01-01", "updated_at": "2024-01-01"}


@st.composite
def events(draw: st.DrawFn) -> list[dict]:
    """A CRM's pushes: per deal, states at days that may repeat (two states of one instant)."""
    out = []
    for deal in draw(st.lists(st.sampled_from(DEALS), min_size=1, max_size=3, unique=True)):
        for _ in range(draw(st.integers(1, 4))):
            out.append(
                {
                    "id": deal,
                    "stage": draw(st.sampled_from(STAGES)),
                    "created_at": START.isoformat(),
                    "updated_at": (START + timedelta(days=draw(st.integers(1, 6)))).isoformat(),
                    "amount": draw(st.sampled_from([None, 100.0, 250.0])),
                    "owner": draw(st.sampled_from(["Ann", "Bob"])),
                }
            )
    return out


def replay(engine: Engine, pushes: list[dict]) -> dict[str, pd.DataFrame]:
    """A fresh dataset, these pushes one by one, and what the store then holds."""
    with engine.begin() as conn:
        for table in (store.field_history, store.stage_history, store.opportunities):
            conn.execute(table.delete())
    import_frame(engine, pd.DataFrame([SEED]), load_mapping("canonical"), dataset="crm")
    for push in pushes:
        sync_opportunities(engine, [push], dataset="crm", now=NOW)
    deals = store.load_opportunities(engine, "crm")
    return {
        "stage history": store.load_history(engine, "crm"),
        "field history": store.load_field_history(engine, "crm"),
        "deals": deals.drop(columns=["dataset"]),
    }


def same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    keys = list(left.columns[:2])
    pd.testing.assert_frame_equal(
        left.sort_values(keys).reset_index(drop=True),
        right.sort_values(keys).reset_index(drop=True),
    )


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), pushes=events())
def test_any_arrival_order_and_repeats_give_the_same_store(
    engine: Engine, data: st.DataObject, pushes: list[dict]
) -> None:
    in_time_order = sorted(pushes, key=lambda p: p["updated_at"])
    shuffled = data.draw(st.permutations(pushes))
    repeats = data.draw(st.lists(st.sampled_from(pushes), max_size=3))
    expected = replay(engine, in_time_order)
    got = replay(engine, [*shuffled, *repeats])
    for what in expected:
        try:
            same(expected[what], got[what])
        except AssertionError as exc:
            raise AssertionError(f"{what} differs: {exc}") from None
    last = got["stage history"].groupby("opportunity_id")["stage"].last()
    current = got["deals"].set_index("id")["stage"]
    assert last.to_dict() == current.reindex(last.index).to_dict()  # history agrees with deal


def test_a_late_push_in_the_middle_of_a_stay_splits_it(engine: Engine) -> None:
    """The probe's case: a stay seen twice, then a move between the two sightings arrives."""
    d = {"id": "D1", "created_at": "2024-03-01", "owner": "Ann"}
    got = replay(
        engine,
        [
            {**d, "stage": "Qualification", "updated_at": "2024-03-02"},
            {**d, "stage": "Qualification", "updated_at": "2024-03-09"},
            {**d, "stage": "Presentation", "updated_at": "2024-03-05"},  # arrives late
        ],
    )
    log = got["stage history"]
    d1 = log[log["opportunity_id"] == "D1"]
    assert list(zip(d1["stage"], d1["entered_at"].dt.day, strict=True)) == [
        ("Qualification", 1),  # first seen: since creation
        ("Presentation", 5),
        ("Qualification", 9),
    ]
    deals = got["deals"].set_index("id")
    assert deals.loc["D1", "stage"] == "Qualification"  # the newest push, agreeing with history


def test_two_states_of_one_instant_settle_the_same_way_in_either_order(engine: Engine) -> None:
    d = {"id": "D1", "created_at": "2024-03-01", "updated_at": "2024-03-04", "owner": "Ann"}
    a = {**d, "stage": "Presentation", "amount": 100.0}
    b = {**d, "stage": "Closing", "amount": 250.0}
    first, second = replay(engine, [a, b]), replay(engine, [b, a])
    for what in first:
        same(first[what], second[what])
    assert first["deals"].set_index("id").loc["D1", "stage"] == "Closing"  # the later stage
