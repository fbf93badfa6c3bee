"""A batch file's rows reach the scoring as the API's rows would: field → plain value, blanks
as None, each value of the type `DataFrame.to_dict("records")` gives (`batch_scoring.records`,
which builds them column by column)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.batch_scoring import records
from forecast.column_rows import ColumnRows
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from tests.forecast.test_scoring import hand_made_leads


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


def test_a_batch_files_rows_keep_their_columns_value_for_value():
    frame = pd.DataFrame({"a": ["x", None, "z"], "b": [1.0, np.nan, 3.0]})
    got = records(frame)
    assert isinstance(got, ColumnRows)
    assert got.columns == {name: [row[name] for row in got] for name in ("a", "b")}
    assert got[1] is got[1] and got[-1] is got[2] and got[1:] == [got[1], got[2]]
    with pytest.raises(IndexError):
        got[3]


def test_scores_from_a_files_columns_equal_those_of_the_same_rows_sent_one_by_one():
    """Encoding reads a batch file's columns where it has them; every score, reason and note is
    the one the same rows as plain mappings get: unseen text, blanks, text in a number field,
    a team's own model, an input the file lacks."""
    X, y = hand_made_leads(600, seed=5, team_effect=True)
    model = BoostedClassifier(n_estimators=30, n_jobs=1, random_state=0).fit(X, y)
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    batch = hand_made_leads(scoring.BY_COLUMN_FROM * 4, seed=6, team_effect=True)[0]
    batch = batch.astype(object)
    batch.loc[0, "Lead Source"] = "Never Seen"
    batch.loc[1, "Country"] = None
    batch.loc[2, "TotalVisits"] = "many"
    for frame in (batch, batch.drop(columns=["Country"]), batch.drop(columns=["team"])):
        rows = records(frame)
        plain = list(map(dict, rows))
        assert type(plain) is list and plain == rows
        for top in (0, 3):
            assert scoring.score(served, rows, top, strict_dates=False) == scoring.score(
                served, plain, top, strict_dates=False
            )
