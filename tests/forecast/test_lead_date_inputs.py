"""Dated leads learn from when they came in (weekday, and hour where the data has times), and a
lead is scored with the same inputs from its `created_at`, or as created now."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from forecast import scoring
from forecast.errors import InvalidInput
from forecast.modeling import lead_dates
from forecast.modeling.lead_fitting import train_leads
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state", lgbm_threads=2, min_converted_leads=50)


def _leads(n: int, *, with_times: bool, seed: int = 3) -> pd.DataFrame:
    """Leads whose conversion depends on a channel and strongly on coming in at a weekend."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    created = start + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    if not with_times:
        created = created.normalize()
    weekend = created.dayofweek >= 5
    channel = rng.choice(["web", "event", "referral"], n)
    logit = -1.0 + 2.5 * weekend + 0.8 * (channel == "referral") + rng.normal(0, 0.3, n)
    converted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": converted,
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Channel": channel,
        }
    )


def test_a_weekday_that_drives_conversion_is_learnt_and_scored_from_created_at(settings) -> None:
    result = train_leads(_leads(3000, with_times=True), settings=settings, cross_validate=False)
    assert lead_dates.WEEKDAY in result.features
    assert lead_dates.HOUR in result.features  # the data has times of day
    assert "created_at" not in result.features  # the calendar date never repeats: no input
    served = scoring.Served(scoring.LEAD, select_scorer(result.model), "1", "registry")
    assert served.date_inputs == (lead_dates.WEEKDAY, lead_dates.HOUR)
    saturday = {"Channel": "web", "created_at": "2025-03-08T10:00:00"}
    monday = {"Channel": "web", "created_at": "2025-03-10T10:00:00"}
    sat, mon = scoring.score(served, [saturday, monday])  # the inputs come from created_at
    assert sat.probability > mon.probability + 0.2
    said = [r["field"] for r in sat.reasons_for]
    assert "Day of the week created" in said


def test_a_lead_without_created_at_is_scored_as_created_now() -> None:
    used = (lead_dates.WEEKDAY, lead_dates.HOUR)
    now = datetime(2025, 3, 8, 17, 30)  # a Saturday
    [row] = lead_dates.with_date_inputs([{"Channel": "web"}], used, now)
    assert row[lead_dates.WEEKDAY] == "Saturday"
    assert row[lead_dates.HOUR] == 17.0
    with pytest.raises(InvalidInput, match="created_at"):  # unreadable: refused, not guessed
        lead_dates.with_date_inputs([{"created_at": "not a date"}], used, now)
    [bad] = lead_dates.with_date_inputs([{"created_at": "not a date"}], used, now, strict=False)
    assert bad[lead_dates.WEEKDAY] is None  # a batch's: scored as unknown, not as now
    [blank] = lead_dates.with_date_inputs([{"created_at": None}], used, now, strict=False)
    assert blank[lead_dates.WEEKDAY] is None  # a batch's blank cell: an unknown date, not now
    assert blank[lead_dates.HOUR] is None


def test_date_only_leads_get_the_weekday_but_no_hour(settings) -> None:
    result = train_leads(_leads(2000, with_times=False), settings=settings, cross_validate=False)
    assert lead_dates.WEEKDAY in result.features
    assert lead_dates.HOUR not in result.features


def test_times_with_an_offset_are_read_as_utc() -> None:
    [row] = lead_dates.with_date_inputs(
        [{"created_at": "2025-03-09T01:30:00+03:00"}], (lead_dates.WEEKDAY, lead_dates.HOUR)
    )
    assert row[lead_dates.WEEKDAY] == "Saturday"  # 22:30 UTC the day before
    assert row[lead_dates.HOUR] == 22.0


def test_in_a_column_mixing_dates_and_date_times_a_date_alone_has_no_hour() -> None:
    created = pd.Series(
        pd.to_datetime(["2024-12-14", "2024-12-14 09:41:07", "2024-12-15"], format="mixed")
    )
    inputs = lead_dates.date_inputs(created)
    assert inputs[lead_dates.HOUR].tolist()[1] == 9.0
    assert inputs[lead_dates.HOUR].isna().tolist() == [True, False, True]
    assert inputs[lead_dates.WEEKDAY].tolist() == ["Saturday", "Saturday", "Sunday"]
    used = (lead_dates.WEEKDAY, lead_dates.HOUR)
    [dated, timed] = lead_dates.with_date_inputs(
        [{"created_at": "2024-12-14"}, {"created_at": "2024-12-14T09:41:07Z"}], used
    )
    assert dated[lead_dates.HOUR] is None and dated[lead_dates.WEEKDAY] == "Saturday"
    assert timed[lead_dates.HOUR] == 9.0


def test_a_creation_time_in_the_datasets_format_reads_as_the_import_reads_it() -> None:
    formats = ["%d.%m.%Y %H:%M"]
    when = lead_dates.created_time("05.03.2024 14:22 UTC", formats=formats)
    assert when == datetime(2024, 3, 5, 14, 22)
    with pytest.raises(InvalidInput, match="05.03.2024"):
        lead_dates.created_time("05.03.2024 14:22")  # not ISO, and no format of the dataset's
