"""A batch file's rows reach the scoring as the API's rows would: field → plain value, blanks
as None, each value of the type `DataFrame.to_dict("records")` gives (`batch_scoring.records`,
which builds them column by column)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.batch_scoring import records


def typed(rows: list[dict]) -> list[list[tuple[str, type, object]]]:
    """Each row's fields in order, with each value's type: `1.0 == np.float64(1.0)` and
    `True == 1`, so equal rows alone would not show a value of another type."""
    return [[(k, type(v), v) for k, v in row.items()] for row in rows]


def as_to_dict_gives(frame: pd.DataFrame) -> list[dict]:
    sub = frame.astype(object)
    return sub.where(sub.notna(), None).to_dict("records")


def test_rows_hold_the_values_and_types_to_dict_gives_blanks_as_none():
    frame = pd.DataFrame(
        {
            "Lead Source": ["Google", None, "Olark Chat", np.nan],
            "TotalVisits": [3.0, np.nan, 0.0, 12.5],
            "Page Views": np.array([1, 2, 3, 4], dtype=np.int64),
            "Do Not Email": [True, False, True, False],
            "City": pd.Series(["Mumbai", None, "Thane", "Pune"], dtype="string"),
            "Country": pd.Categorical(["India", None, "India", "Qatar"]),
            "Visits (nullable)": pd.array([1, None, 3, 4], dtype="Int64"),
            "created_at": pd.to_datetime(
                ["2024-01-02 10:00", None, "2024-02-03 00:00", "2024-03-04 09:30"]
            ),
            "mixed": [np.float64(1.5), np.int64(2), "text", None],
        }
    )
    got = records(frame)
    assert typed(got) == typed(as_to_dict_gives(frame))
    assert got[1] == {
        "Lead Source": None,
        "TotalVisits": None,
        "Page Views": 2,
        "Do Not Email": False,
        "City": None,
        "Country": None,
        "Visits (nullable)": None,
        "created_at": None,
        "mixed": 2,
    }
    assert type(got[0]["mixed"]) is float and type(got[1]["Page Views"]) is int


def test_rows_are_their_own_dicts_in_the_frames_order():
    frame = pd.DataFrame({"a": ["x", "y", "z"], "b": [1.0, 2.0, 3.0]}, index=[7, 7, 3])
    got = records(frame)
    assert got == [{"a": "x", "b": 1.0}, {"a": "y", "b": 2.0}, {"a": "z", "b": 3.0}]
    got[0]["a"] = "changed"
    assert got[1]["a"] == "y"


def test_no_rows_no_columns_and_repeated_names_as_to_dict_gives():
    assert records(pd.DataFrame({"a": pd.Series([], dtype=object)})) == []
    assert records(pd.DataFrame(index=range(2))) == [{}, {}]
    repeated = pd.DataFrame([[1.0, "x"]], columns=["a", "a"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert typed(records(repeated)) == typed(as_to_dict_gives(repeated))
