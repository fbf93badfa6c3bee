"""Periods: the three forms a user types, half-open so periods tile time, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.errors import InvalidInput, UnknownPeriod
from forecast.periods import parse_period, period_of, periods_between

T = pd.Timestamp


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2017", "2017-01-01", "2018-01-01", "2017"),
        ("2017-Q3", "2017-07-01", "2017-10-01", "2017-Q3"),
        ("2017q4", "2017-10-01", "2018-01-01", "2017-Q4"),
        (" 2017-07 ", "2017-07-01", "2017-08-01", "2017-07"),
        ("2017-12", "2017-12-01", "2018-01-01", "2017-12"),
    ],
)
def test_the_accepted_forms_give_half_open_intervals(text, start, end, label):
    per = parse_period(text)
    assert (per.start, per.end, per.label) == (T(start), T(end), label)


def test_a_close_at_midnight_on_the_first_day_belongs_to_the_new_period():
    q2, q3 = parse_period("2017-Q2"), parse_period("2017-Q3")
    when = pd.Series([T("2017-07-01")])
    assert not q2.contains(when).iloc[0] and q3.contains(when).iloc[0]


@pytest.mark.parametrize("text", ["2017-13", "2017-Q5", "Q3 2017", "17-07", "", "2017/07"])
def test_anything_else_is_an_unknown_period_naming_the_forms(text):
    with pytest.raises(UnknownPeriod) as err:
        parse_period(text)
    assert "2017-Q3" in str(err.value) and "2017-07" in str(err.value)
    assert isinstance(err.value, InvalidInput)  # → exit 2 / HTTP 422


def test_periods_between_covers_the_range_in_order():
    months = periods_between("2017-01-15", "2017-04-02", "month")
    assert [p.label for p in months] == ["2017-01", "2017-02", "2017-03", "2017-04"]
    assert period_of("2017-11-30", "quarter").label == "2017-Q4"
    with pytest.raises(InvalidInput):
        periods_between("2017-05-01", "2017-01-01", "month")


@pytest.mark.parametrize("text", ["0000", "9999", "0000-Q1", "9999-07"])
def test_a_year_out_of_range_is_an_unknown_period_not_a_crash(text):
    with pytest.raises(UnknownPeriod, match="the year is out of range"):
        parse_period(text)


@pytest.mark.parametrize(
    ("text", "freq"), [("0001-Q1", "quarter"), ("0001", "year"), ("0999-07", "month")]
)
def test_early_years_keep_four_digits_and_round_trip(text, freq):
    per = parse_period(text)
    assert per.label == text and per.freq == freq
    assert parse_period(per.label) == per
    assert period_of(per.start, freq) == per
