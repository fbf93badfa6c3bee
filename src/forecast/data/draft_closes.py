"""Where a drafted deal mapping reads a deal's close from: a column named as the close, a won
time and a lost time (Pipedrive), a "Closed" column of dates (Nutshell), or the one close date
a CRM calls expected (SugarCRM, Bitrix24); and which sampled deals the export says are closed."""

from __future__ import annotations

import pandas as pd

from forecast.data.date_formats import SAMPLE, UTC_SUFFIX, covering_formats
from forecast.data.draft_names import LOST_TIMES, LOST_WORDS, WON_TIMES, matched
from forecast.data.draft_stages import is_outcome, says
from forecast.data.yes_no import YES_NO_LABELS


def close_times(names: list[str], deals: dict[str, str]) -> list[str]:
    """A won time and a lost time (Pipedrive's "Won time", "Lost time"), where the export gives
    a deal's close in one or the other and no column is named as the close."""
    if "closed_at" in deals or "close_date" in deals:
        return []
    found = matched(names, {"won": WON_TIMES, "lost": LOST_TIMES})
    return [c for c in found.values() if c not in deals.values()]


def won_time_of_every_deal(
    sample: pd.DataFrame, deals: dict[str, str], times: list[str], said: list[str]
) -> tuple[dict[str, str], list[str]]:
    """A "won" date given on every sampled deal, or on one a stage or status of `said` calls
    lost, is no won time but the deal's one close date, expected while open (Close's
    `date_won`): read as `close_date`. Pipedrive's "Won time" is blank but on won deals."""
    if len(times) != 1:
        return deals, times
    given = sample[times[0]].notna()
    lost = pd.Series(False, index=sample.index)
    for column in said:
        lost |= sample[column].astype("str").map(lambda v: says(v, LOST_WORDS)).astype(bool)
    if not bool(given.all()) and not bool((given & lost).any()):
        return deals, times
    return {**deals, "close_date": times[0]}, []


def closed_dates(sample: pd.DataFrame, deals: dict[str, str]) -> dict[str, str]:
    """A column named "Closed" as the deals' close, where no column is named as one and its
    values read as dates (Nutshell's): a Salesforce report's "Closed" is a true/false flag."""
    if "closed_at" in deals or "close_date" in deals:
        return {}
    found = matched([str(c) for c in sample.columns], {"closed_at": ["closed"]})
    column = found.get("closed_at")
    if column is None or column in deals.values():
        return {}
    values = sample[column].dropna().astype("str").str.strip()
    values = values[values != ""].str.replace(UTC_SUFFIX, "", regex=True).head(SAMPLE)
    if values.empty:
        return {}
    iso = pd.to_datetime(values, format="ISO8601", errors="coerce")
    return {"closed_at": column} if iso.notna().all() or covering_formats(values) else {}


def one_close_date(deals: dict[str, str], times: list[str]) -> dict[str, str]:
    """The deal columns with an expected close date read as the one close date (expected while
    open, actual once won or lost, as Salesforce's CloseDate) where nothing else says when a
    deal closed: SugarCRM and Bitrix24 call their one close date "expected", and without it
    every won or lost deal would be refused as undated."""
    if times or "close_date" in deals or "closed_at" in deals or "expected_close_at" not in deals:
        return deals
    return {("close_date" if f == "expected_close_at" else f): c for f, c in deals.items()}


def closed_rows(
    sample: pd.DataFrame, columns: dict[str, str], close_times: list[str]
) -> pd.Series | None:
    """Per sampled deal, whether the export says it is closed: a close date given (not the one
    close date that is expected while open), else a yes/no column named "Closed" or "Is Closed"
    (Bitrix24, Salesforce); None where the export does not say."""
    dates = [columns["closed_at"]] if "closed_at" in columns else close_times
    if dates:
        given = sample[dates].astype("str").apply(lambda c: c.str.strip() != "")
        return (given & sample[dates].notna()).any(axis=1)
    flag = matched([str(c) for c in sample.columns], {"closed": ["isclosed", "closed"]})
    if "closed" not in flag or flag["closed"] in columns.values():
        return None
    said = sample[flag["closed"]].astype("str").str.strip().str.casefold().map(YES_NO_LABELS)
    return said == 1 if said.notna().all() else None


def closed_only(sample: pd.DataFrame, stage: str, status: str, whole: bool) -> list[str]:
    """The stage values only closed deals hold where a status says the outcomes (Close's
    `status_label` "Signed" beside `status_type` "won"): never read (a closed deal's stage is its
    outcome), so not open stages. Only where the sample is the `whole` file, which then shows
    every deal in the stage."""
    if not whole:
        return []
    closed = sample[status].astype("str").map(is_outcome).to_numpy(dtype=bool)
    values = sample[stage].astype("str").str.strip()
    return sorted(set(values[closed]) - set(values[~closed]))
