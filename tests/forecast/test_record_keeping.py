"""The track record users' forecasts are chosen by is that dataset's, and never narrowed by a
partial run."""

from __future__ import annotations

import pandas as pd

from forecast.forecasting.record_keeping import keeping


def table(horizons: tuple[int, ...], origins: int) -> pd.DataFrame:
    rows = []
    for i in range(origins):
        origin = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=i)
        for h in horizons:
            for method in ("model", "run_rate"):
                rows.append(
                    {"origin": origin, "horizon_weeks": h, "window": f"w{i}", "method": method}
                )
    return pd.DataFrame(rows)


EMPTY = table((), 0)


def test_a_file_backtest_keeps_no_record_and_says_how_to_make_one():
    got = keeping(table((0, 4), 30), EMPTY, dataset="pipeline", stored=False)
    assert not got.keep and "forecast import" in got.reason


def test_a_stored_dataset_keeps_its_first_record_and_a_run_as_broad():
    assert keeping(table((0,), 3), EMPTY, dataset="acme", stored=True).keep
    old = table((0, 4, 8, 13), 40)
    assert keeping(table((0, 4, 8, 13), 42), old, dataset="acme", stored=True).keep


def test_a_narrower_run_leaves_the_record_unless_asked():
    old = table((0, 4, 8, 13), 40)
    fewer_horizons = keeping(table((2, 6), 40), old, dataset="acme", stored=True)
    assert not fewer_horizons.keep and "0, 4, 8, 13" in fewer_horizons.reason
    assert "--replace-record" in fewer_horizons.reason
    short = keeping(table((0, 4, 8, 13), 10), old, dataset="acme", stored=True)
    assert not short.keep and "40" in short.reason
    assert keeping(table((2, 6), 40), old, dataset="acme", stored=True, replace=True).keep
