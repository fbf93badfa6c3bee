"""Why the forecast moved: the bars between last week's forecast and this week's add up to the
difference, each deal's change in one bar, a won deal shows in `won`, and a deal closed before
the period it was forecast in is not `slipped` (read as moved to a later period)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.generator import generate_pipeline
from forecast.errors import InvalidInput
from forecast.forecasting.forecast_waterfall import BARS, forecast_waterfall
from forecast.history import DealHistory


@pytest.fixture(scope="module")
def history() -> DealHistory:
    gen = generate_pipeline(1500, seed=7, start="2023-01-01", end="2023-12-31")
    return DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)


@pytest.fixture(scope="module")
def moved(history):
    return forecast_waterfall(history, "2023-Q3", "2023-07-10", "2023-07-24")


def test_the_bars_add_up_to_the_change_of_the_forecast(moved):
    assert set(moved.bars) == set(BARS)
    total = sum(moved.bars.values())
    assert moved.expected_start + total == pytest.approx(moved.expected_end, rel=1e-9, abs=0.01)
    assert moved.deals["id"].is_unique or moved.deals.groupby("id")["bar"].nunique().max() <= 2


def test_deals_won_between_the_dates_are_in_won_and_new_ones_in_new_deals(history, moved):
    before, after = history.as_of("2023-07-10"), history.as_of("2023-07-24")
    won_now = set(after.loc[after["status"] == "won", "id"]) - set(
        before.loc[before["status"] == "won", "id"]
    )
    won_bar = set(moved.deals.loc[moved.deals["bar"] == "won", "id"])
    created = set(after["id"]) - set(before["id"])
    assert won_bar and won_bar <= won_now
    assert set(moved.deals.loc[moved.deals["bar"] == "new_deals", "id"]) <= created
    assert moved.bars["won"] > 0 > moved.bars["lost"]


def test_it_serialises_with_the_largest_changes_per_bar(moved):
    out = moved.to_dict()
    assert out["from"] == "2023-07-10" and out["period"]["label"] == "2023-Q3"
    won = out["deals"]["won"]
    assert won and abs(won[0]["change"]) >= abs(won[-1]["change"])


def test_bad_dates_are_refused_naming_the_field(history):
    with pytest.raises(InvalidInput, match="to: must be after from"):
        forecast_waterfall(history, "2023-Q3", "2023-07-24", "2023-07-10")
    with pytest.raises(InvalidInput, match="from: the period 2023-Q3 had ended"):
        forecast_waterfall(history, "2023-Q3", pd.Timestamp("2023-10-02"), "2023-10-09")


def _closed_between(history: DealHistory, start: str, end: str, status: str) -> pd.DataFrame:
    """Deals open at `start` and `status` at `end`, with their close dates."""
    before, after = history.as_of(start), history.as_of(end)
    open_then = set(before.loc[before["status"] == "open", "id"])
    closed = after[(after["status"] == status) & after["id"].isin(open_then)]
    return closed.set_index("id")["closed_at"]


def _ids(moved, bar: str) -> set[str]:
    return set(moved.deals.loc[moved.deals["bar"] == bar, "id"])


def test_a_deal_closed_before_the_period_has_its_own_bar_not_slipped(history):
    """The 2023-Q4 forecast of July 10 counted some chance of deals since closed in July: they
    left the quarter's forecast earlier, not later."""
    moved = forecast_waterfall(history, "2023-Q4", "2023-07-10", "2023-07-24")
    won = set(_closed_between(history, "2023-07-10", "2023-07-24", "won").index)
    lost = set(_closed_between(history, "2023-07-10", "2023-07-24", "lost").index)
    assert won and lost
    assert _ids(moved, "won_before_period") == won
    assert _ids(moved, "lost_before_period") == lost
    assert not _ids(moved, "slipped") & (won | lost)
    assert moved.bars["won"] == moved.bars["lost"] == 0
    assert moved.bars["won_before_period"] < 0 and moved.bars["lost_before_period"] < 0
    total = sum(moved.bars.values())
    assert moved.expected_start + total == pytest.approx(moved.expected_end, rel=1e-9, abs=0.01)
    assert set(moved.to_dict()["deals"]) == set(BARS) - {"not_yet_created"}


def test_a_deal_won_after_its_period_slipped_and_one_won_inside_is_won(history):
    moved = forecast_waterfall(history, "2023-Q3", "2023-09-20", "2023-10-05")
    won = _closed_between(history, "2023-09-20", "2023-10-05", "won")
    inside, after = won[won < "2023-10-01"], won[won >= "2023-10-01"]
    assert len(inside) and len(after)
    assert set(inside.index) <= _ids(moved, "won")
    assert set(after.index) <= _ids(moved, "slipped")
    assert not _ids(moved, "won_before_period") | _ids(moved, "lost_before_period")
