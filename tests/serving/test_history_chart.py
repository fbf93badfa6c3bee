"""The forecast-over-time chart: the reps' call shows as lines only on dates it was known."""

from __future__ import annotations

from serving.dashboard.figures import history_figure


def _point(day: str, call: float | None) -> dict:
    return {
        "as_of": day,
        "expected": 100.0,
        "p10": 80.0,
        "p90": 120.0,
        "won_so_far": 10.0,
        "rep_call": call,
        "rep_commit": None if call is None else call - 5,
    }


def test_the_reps_call_is_drawn_where_known_and_left_blank_before():
    figure = history_figure([_point("2024-01-01", None), _point("2024-01-08", 90.0)], 150.0)
    lines = {t["name"]: t for t in figure["data"]}
    assert lines["Reps' call"]["y"] == [None, 90.0] and not lines["Reps' call"]["connectgaps"]
    assert lines["Commit"]["y"] == [None, 85.0]
    assert lines["Target"]["y"] == [150.0, 150.0]


def test_without_any_known_call_there_is_no_reps_line():
    figure = history_figure([_point("2024-01-01", None)], None)
    names = {t["name"] for t in figure["data"]}
    assert "Reps' call" not in names and "Commit" not in names and "Target" not in names
