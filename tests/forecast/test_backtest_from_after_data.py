"""A backtest whose --from lies after the data's export date says so, naming both dates: it
said 'no quarter-long window from 2019-01-07 ends by 2017-12-31 (the export date or --to)',
a date the user never gave (the Monday after --from) and no word that --from was the cause."""

from __future__ import annotations

import pytest

from forecast.data.generator import generate_pipeline
from forecast.errors import InvalidInput
from forecast.forecasting.backtest import backtest
from forecast.history import DealHistory


@pytest.mark.parametrize("every", ["period", "week"])
def test_a_from_after_the_export_date_names_both_dates(every: str) -> None:
    gen = generate_pipeline(200, seed=3, start="2023-01-01", end="2023-12-31")
    history = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    with pytest.raises(InvalidInput) as caught:
        backtest(history, start="2030-01-01", every=every, export_date="2023-12-31")
    said = str(caught.value)
    assert said.startswith("--from 2030-01-01 lies after the data's export date 2023-12-31"), said
