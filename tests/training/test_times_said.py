"""Times and as-of dates as people read them: a moment to the minute in UTC (not a raw timestamp
with microseconds), and the KPIs' and the forecast's "as of" worded alike, so the data's last
day and the start of the day after read as the same records, which they are."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd

from forecast.formatting import as_of_said, moment
from tests.training.conftest import Cli, parsed


def test_a_moment_is_said_to_the_minute_in_utc():
    assert moment("2026-12-07 05:34:15.874232") == "2026-12-07 05:34 UTC"
    assert moment(pd.Timestamp("2026-12-07 05:34:15.874232")) == "2026-12-07 05:34 UTC"
    paris = timezone(timedelta(hours=2))
    assert moment(datetime(2024, 5, 1, 9, 30, tzinfo=paris)) == "2024-05-01 07:30 UTC"
    assert moment("2024-05-01T09:30:00+00:00", zone=False) == "2024-05-01 09:30"
    assert [moment(v) for v in (None, "", pd.NaT)] == ["", "", ""]


def test_an_as_of_says_whether_the_day_itself_counts():
    assert as_of_said("2025-12-06") == "the start of 2025-12-06"
    assert as_of_said(pd.Timestamp("2025-12-05 16:20"), through=True) == "the end of 2025-12-05"
    assert as_of_said(datetime(2025, 12, 5, 16, 20, tzinfo=UTC)) == "2025-12-05 16:20 UTC"


def test_a_tracked_forecast_says_when_it_was_run_for_people(imported: Cli):
    assert imported("track").exit_code == 0
    data_end = pd.Timestamp(parsed(imported("kpis", "--json"))["data_end"])
    now = data_end.normalize() + pd.Timedelta(days=1)
    shown = imported("revenue", "--period", f"{now.year}-Q{now.quarter}")
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.stderr.split())
    assert re.search(r"\(run at \d{4}-\d\d-\d\d \d\d:\d\d UTC\)", said), said
    assert not re.search(r"\d\d:\d\d:\d\d", said)  # no seconds, no microseconds


def test_the_kpis_and_the_forecast_say_the_same_moment_alike(imported: Cli):
    """On the same data, the KPIs (every record, through the data's last day) and the forecast
    (made at the start of the day after) say so; the KPIs asked as of that start are the same."""
    default = parsed(imported("kpis", "--json"))
    last_day = pd.Timestamp(default["data_end"]).normalize()
    next_day = last_day + pd.Timedelta(days=1)
    kpis = " ".join(imported("kpis").stdout.split())
    assert f"Pipeline KPIs as of the end of {last_day.date()} (the data's last day)" in kpis
    revenue = imported("revenue", "--period", f"{next_day.year}-Q{next_day.quarter}")
    assert revenue.exit_code == 0, revenue.output
    assert f"as of the start of {next_day.date()}" in " ".join(revenue.stdout.split())

    at_start = parsed(imported("kpis", "--as-of", str(next_day.date()), "--json"))
    assert at_start["overall"] == default["overall"]
    asked = " ".join(imported("kpis", "--as-of", str(last_day.date())).stdout.split())
    assert f"Pipeline KPIs as of the start of {last_day.date()}" in asked
