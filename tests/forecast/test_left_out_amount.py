"""An amount the export-state leak check leaves out of model inputs (an export that fills it
only at close) still values every deal in the reps' calls a backtest scores beside ours (the
revenue forecast's: tests/forecast/test_revenue.py)."""

from __future__ import annotations

import pytest

from forecast.forecasting.backtest import backtest
from tests.forecast.test_backtest import SETTINGS as BACKTEST_SETTINGS
from tests.forecast.test_backtest import called, gen  # noqa: F401 - the fixtures


def test_reps_calls_value_deals_at_their_amount_when_the_leak_check_blanks_it(called):  # noqa: F811
    """An amount left out of model inputs still values each deal in the reps' calls, as in
    ours: their comparison would otherwise set reps' calls at 0 beside ours."""
    first = backtest(called, freq="quarter", settings=BACKTEST_SETTINGS)
    left = backtest(called.leaving_out(["amount"]), freq="quarter", settings=BACKTEST_SETTINGS)
    assert first.scored
    for a, b in zip(first.scored, left.scored, strict=True):
        calls = [sum(r.get("rep_call") or 0 for r in p.reps) for p in (a, b)]
        assert calls[0] > 0 and calls[1] == pytest.approx(calls[0])
