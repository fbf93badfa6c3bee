"""The stage win rates the forecast reads at every date: the same as fitting the stage baseline
on the full training rows, and the as-of state a history keeps for a date is what it computes."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast import features as feat
from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory
from forecast.modeling.baselines import StageWinRate, stage_win_rates
from tests.forecast.synthetic import deal_history


def _from_training_rows(history: DealHistory) -> StageWinRate | None:
    """The stage baseline fitted on every column of the training rows (the long way), each
    snapshot weighing one."""
    rows = feat.deal_training_rows(history, every_days=14)
    if rows.empty:
        return None
    return StageWinRate().fit(rows[["stage"]], rows["won"].to_numpy(float))


@pytest.fixture(scope="module")
def histories() -> list[DealHistory]:
    gen = generate_pipeline(1500, seed=7, start="2023-01-01", end="2024-06-30")
    generated = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    return [deal_history(800, seed=2), generated]


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("date", ["2022-01-20", "2022-06-01", "2023-05-01", "2024-02-12", None])
def test_the_rates_are_those_fitted_on_the_full_training_rows(
    histories: list[DealHistory], which: int, date: str | None
) -> None:
    history = histories[which]
    known = history if date is None else history.known_before(date)
    expected, got = _from_training_rows(known), stage_win_rates(known)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.rates_ == expected.rates_  # exactly: the forecast's figures must not move
    assert list(got.rates_) == list(expected.rates_)
    assert got.overall_ == expected.overall_


def test_no_deal_ended_gives_no_rates(histories: list[DealHistory]) -> None:
    first = histories[0].deals["created_at"].min()
    assert stage_win_rates(histories[0].known_before(first + pd.Timedelta(days=1))) is None


def test_a_callers_edit_of_a_state_never_reaches_the_next_caller() -> None:
    history = deal_history(300, seed=1)
    t = pd.Timestamp("2022-09-01")
    first = history.as_of(t)
    expected = first.copy(deep=True)
    first["stage"] = "edited"
    first.loc[first.index[0], "amount"] = -1.0
    pd.testing.assert_frame_equal(history.as_of(t), expected)
    pd.testing.assert_frame_equal(
        history.open_at(t), expected[expected["is_open"]].reset_index(drop=True)
    )


def test_a_kept_state_is_the_state_computed_afresh() -> None:
    history = deal_history(300, seed=1)
    dates = [pd.Timestamp(d) for d in ("2022-03-01", "2022-06-01", "2022-09-01", "2022-03-01")]
    for t in dates:
        fresh = deal_history(300, seed=1).as_of(t, for_models=True)
        pd.testing.assert_frame_equal(history.as_of(t, for_models=True), fresh)
        pd.testing.assert_frame_equal(history.as_of(t), deal_history(300, seed=1).as_of(t))
