"""A deal scored as of a past date reads each rep's and account's win rate as it stood then:
the index gives the same rates as counting the history's closes again, at any date, for a
cost that does not grow with the history."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast import features as feat
from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory
from forecast.win_rate_index import WinRateIndex


@pytest.fixture(scope="module")
def history() -> DealHistory:
    gen = generate_pipeline(1200, seed=5, start="2023-01-01", end="2024-06-30")
    return DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)


def test_the_rates_at_any_date_are_those_counted_from_the_closes_before_it(history):
    closes = history.closed_outcomes()
    index = WinRateIndex(history)
    first, last = closes["closed_at"].min(), closes["closed_at"].max()
    dates = [
        first - pd.Timedelta(days=1),  # before any close: the prior alone
        first,  # strictly before: the first close not yet counted
        first + pd.Timedelta(seconds=1),
        *pd.date_range(first, last, periods=7)[1:-1],
        closes["closed_at"].iloc[len(closes) // 2],  # on a close's own time
        last + pd.Timedelta(days=30),
    ]
    reps = [*closes["owner"].dropna().unique(), "nobody"]
    accounts = [*closes["account"].dropna().unique()[:40], "no such account"]
    for when in dates:
        want, got = feat.win_rates_as_of(history, when), index.at(when)
        assert got.as_of == want.as_of and got.overall == want.overall
        assert dict(got.rep) == want.rep and dict(got.account) == want.account
        for rep, account in zip(reps, accounts * len(reps), strict=False):
            assert got.lookup(rep, account) == want.lookup(rep, account)


def test_before_any_close_every_rep_and_account_has_the_prior_rate(history):
    rates = WinRateIndex(history).at("1990-01-01")
    assert rates.overall == 0.5 and dict(rates.rep) == {} and dict(rates.account) == {}
    assert rates.lookup("anyone", None)["account_win_rate"] == 0.5
