"""After a backtest, the note on the kept track record counts past forecasts (not one row per
method) and says whether the record already chooses what users get."""

from __future__ import annotations

import pandas as pd

from training.forecast_cli import record_kept_note


def _table(origins: int, methods: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"origin": f"2024-0{o + 1}-01", "horizon_weeks": 0, "window": "2024-Q3", "method": m}
            for o in range(origins)
            for m in methods
        ]
    )


def test_the_note_counts_past_forecasts_and_says_nothing_is_chosen_yet():
    table = _table(3, ["model", "run_rate", "weighted_pipeline", "chosen"])
    note = record_kept_note("acme", table, {"chosen_now": [{"method": None, "reason": "8 of 9"}]})
    assert "kept: 3 past forecasts (4 methods each)" in note
    assert "no method is chosen by it yet" in note and "now lead" not in note


def test_the_note_says_users_get_the_chosen_method_once_there_is_one():
    table = _table(2, ["model", "run_rate"])
    note = record_kept_note("acme", table, {"chosen_now": [{"method": "run_rate", "reason": ""}]})
    assert "kept: 2 past forecasts (2 methods each)" in note and "now lead" in note
