"""Two states of one deal at one update time: the store keeps the same values in the deal's
state and in its field history, whichever came first, for imports as for pushes."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import update

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.data.stages import DEFAULT_STAGES
from forecast.data.tie_rule import KEY_LENGTH, state_keys

ROW = {
    "id": "D1",
    "stage": "Closing",
    "created_at": "2024-12-20",
    "updated_at": "2024-12-29 12:00",
    "owner": "Ana",
    "amount": 100.0,
}


@pytest.fixture
def engine(tmp_path):
    return store.make_engine(f"sqlite:///{tmp_path / 'forecast.db'}")


def load(engine, **change) -> object:
    frame = pd.DataFrame([{**ROW, **change}])
    return import_frame(engine, frame, load_mapping("canonical"), dataset="crm")


@pytest.mark.parametrize("amounts", [(100.0, 200.0), (200.0, 100.0)])
def test_an_exports_tie_keeps_the_same_values_in_state_and_field_history(tmp_path, amounts):
    kept = []
    for n, order in enumerate([amounts, amounts[::-1]]):
        engine = store.make_engine(f"sqlite:///{tmp_path / f'{n}.db'}")
        store.migrate(engine)
        for amount in order:
            load(engine, amount=amount)
        state = store.load_opportunities(engine, "crm").set_index("id").loc["D1"]
        fields = store.load_field_history(engine, "crm")
        assert fields["amount"].tolist() == [state["amount"]]
        kept.append(state["amount"])
    assert kept[0] == kept[1]


def test_a_state_stored_under_an_older_key_is_read_again_without_a_tie_note(engine):
    """A deal stored before the rule changed holds a key of another form: the same export read
    again is no tie (no note that stored values were kept), and the key takes the new form."""
    store.migrate(engine)
    load(engine)
    with engine.begin() as conn:
        conn.execute(update(store.opportunities).values(state_key="03:" + "f" * 40))
    report = load(engine)
    assert not [n for n in report.notes if "stored ones were kept" in n]
    with engine.connect() as conn:
        key = conn.execute(store.opportunities.select()).mappings().one()["state_key"]
    assert len(key) == KEY_LENGTH


def test_every_state_key_has_one_length():
    frame = pd.DataFrame([{**ROW, "attributes": None}, {**ROW, "stage": "Won", "amount": None}])
    assert set(state_keys(frame, DEFAULT_STAGES).str.len()) == {KEY_LENGTH}
