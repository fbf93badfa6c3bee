"""An export's history file: each deal's stage entries and, where it gives them, its fields as
they stood at each entry.

A mapping's `history_file` (the canonical `stage_history.csv`, Salesforce's
OpportunityHistory.csv) holds one row per stage a deal entered (`opportunity_id`, `stage`,
`entered_at`, under the file's own names in `history_columns`). Salesforce writes a row
whenever a deal's stage, amount, close date, probability or forecast category changes, each row
holding all five as they stood then. Read only as stage entries, those rows would leave every
past snapshot with the export's final amount, close date and probability: hindsight a forecast
made then could not have had. Mapped (`history_columns: {amount: Amount, expected_close_at:
CloseDate, ...}`), each row is also an observation of the deal at its date: the fields the row
gives as it gives them, the deal's other fields as the export has them (as an export seen once
gives them at every date). The field history then holds what was known at each date
(`forecast.history.DealHistory.fields_at`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecast.data.forecast_categories import NOT_A_CATEGORY, canonical_forecast_category
from forecast.data.mapping import HISTORY_VALUE_FIELDS, CsvOptions
from forecast.data.reading import header, localized_numbers, percents
from forecast.data.rows import (
    ENTERED_EARLY,
    HISTORY_COLUMNS,
    CanonicalRows,
    before_creation_values,
    canonical_stage,
)
from forecast.data.stages import StageSet
from forecast.data.tables import TRACKED_FIELDS
from forecast.data.validation import NUMBER_BEYOND, beyond_bounds, unparseable
from forecast.errors import InvalidInput


class HistoryFileRows(CanonicalRows):
    """The import job's reading of its history file (`forecast.data.importing`)."""

    frame: pd.DataFrame | None  # rows given in memory: they carry no history file
    skipped_ids: set[str]  # deals the mapping's `skip_rows` left out of the main file
    history_of_skipped: int  # ... and their history file's rows, left out with them
    rejected_ids: set[str]  # deals whose row was bad (`CanonicalRows`)
    history_of_rejected: int  # ... and their history file's rows, left out with them

    def _history_file(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A history file's chunk: its stage entries and, where it gives field values with each
        row, the deals' observations at those dates (`observations`)."""
        missing = [c for c in HISTORY_COLUMNS if c not in raw.columns]
        if missing:
            raise InvalidInput(f"{self.mapping.history_file}: missing required column(s) {missing}")
        assert self.stages is not None
        if self.mapping.history_file is None:  # only called when the mapping names one
            raise TypeError("the mapping names no history file")
        file = str(self.folder / self.mapping.history_file)
        out = pd.DataFrame({"opportunity_id": raw["opportunity_id"].astype("str")})
        ids = out["opportunity_id"].str.strip()
        if self.skipped_ids:  # a deal left out (a deleted record) takes its history with it
            gone = ids.isin(self.skipped_ids)
            self.history_of_skipped += int(gone.sum())
            raw, out, ids = raw[~gone], out[~gone], ids[~gone]
        if self.rejected_ids:  # ... as does one whose row was bad (nothing of it is stored)
            gone = ids.isin(self.rejected_ids)
            self.history_of_rejected += int(gone.sum())
            raw, out = raw[~gone], out[~gone]
        lookup = {v: canonical_stage(self.stages, v) for v in raw["stage"].dropna().unique()}
        out["stage"] = raw["stage"].map(lookup)
        out["entered_at"] = self._dates(raw["entered_at"])
        checks = [
            (out["stage"].isna(), "stage", "unknown stage", raw["stage"]),
            (out["entered_at"].isna(), "entered_at", "unparseable date", raw["entered_at"]),
            (
                ~self._seen(out["opportunity_id"]),
                "opportunity_id",
                "history for a deal not in the export",
                raw["opportunity_id"],
            ),
        ]
        if self.created_parts:
            self.created_by_id = pd.concat(self.created_parts)
            self.created_parts = []
        created = pd.Series(
            self.created_by_id.reindex(out["opportunity_id"]).to_numpy(), index=out.index
        ).astype("datetime64[us]")
        out["entered_at"], early = self.date_fixes.entered_since_creation(
            out["entered_at"], created
        )
        shown = before_creation_values(created, out["entered_at"], early)
        checks.append((early, "entered_at", ENTERED_EARLY, shown))
        fields = self.history_value_fields
        field_values, value_checks = read_values(
            raw, fields, self._dates, self.csv, self.mapping.rep_probability_scale
        )
        checks += value_checks
        bad = pd.Series(False, index=raw.index)
        named = self.mapping.history_columns  # the file's own column names, where it has them
        for mask, column, kind, values in checks:
            if mask.any():
                shown = named.get(column, column)
                self.report.add(file, raw["__line"][mask], shown, kind, values[mask])
                bad |= mask
        self.report.bad_rows += int(bad.sum())
        out["dataset"] = self.dataset
        entries = out.loc[~bad, ["dataset", *HISTORY_COLUMNS]]
        if not fields:
            return entries.assign(seen_only=False), pd.DataFrame()
        if self.deal_field_parts:
            self.deal_fields = pd.concat([self.deal_fields, *self.deal_field_parts])
            self.deal_field_parts = []
        observed = observations(entries, field_values.loc[~bad], self.deal_fields, self.stages)
        return entries.assign(seen_only=False), observed  # entries, beside the rows' sightings

    def _named(self, raw: pd.DataFrame) -> pd.DataFrame:
        """A history file's chunk with its columns under the history fields' names (the
        mapping's `history_columns`); a column it names that the file lacks is an error."""
        named = self.mapping.history_columns
        if not named:
            return raw
        # A field value the file does not give is not read (an export without the category).
        named = {f: c for f, c in named.items() if c in raw or f not in VALUE_FIELDS}
        lacking = [f"{field_}: {column}" for field_, column in named.items() if column not in raw]
        if lacking:
            raise InvalidInput(
                f"{self.mapping.history_file}: history_columns name column(s) the file does not "
                f"have ({', '.join(lacking)}); it has {[c for c in raw.columns if c != '__line']}"
            )
        kept = raw.drop(columns=[f for f in named if f in raw.columns and f != named[f]])
        return kept.rename(columns={column: field_ for field_, column in named.items()})

    def _history_value_fields(self) -> list[str]:
        """The tracked fields the history file gives with each row, from its header."""
        name = self.mapping.history_file
        if not name or self.mapping.kind != "opportunities" or self.frame is not None:
            return []
        named = {column: f for f, column in self.mapping.history_columns.items()}
        columns = {named.get(c, c) for c in header(self.folder / name, self.csv)}
        return [f for f in VALUE_FIELDS if f in columns]

    def _absent_optional_history(self) -> str | None:
        """A preset's history file (Salesforce's OpportunityHistory.csv) is read where it is
        beside the export; where it is not, the import goes on without it, and says so."""
        name = self.mapping.history_file
        if not name or not self.mapping.history_file_optional or (self.folder / name).is_file():
            return None
        self.mapping = self.mapping.model_copy(update={"history_file": None})
        return (
            f"no {name} beside the export: stage history from the export alone (put the "
            "history file in the same folder to read each deal's past stages)"
        )


#: Tracked fields a history file may give with each row.
VALUE_FIELDS = HISTORY_VALUE_FIELDS

#: (rows, history field, problem, values shown): a history row the caller reports as bad.
Check = tuple[pd.Series, str, str, pd.Series]


def read_values(
    raw: pd.DataFrame,
    fields: list[str],
    dates: Callable[[pd.Series], pd.Series],
    csv: CsvOptions,
    probability_scale: float,
) -> tuple[pd.DataFrame, list[Check]]:
    """The value fields of a history chunk as canonical values, read as the main file's are,
    and the rows whose values cannot be read."""
    out = pd.DataFrame(index=raw.index)
    checks: list[Check] = []
    for f in fields:
        given_ = raw[f]
        if f == "expected_close_at":
            out[f] = dates(given_)
            checks.append((unparseable(given_, out[f]), f, "unparseable date", given_))
        elif f == "forecast_category":
            out[f] = given_.map(canonical_forecast_category, na_action="ignore")
            checks.append((given_.notna() & out[f].isna(), f, NOT_A_CATEGORY, given_))
        else:
            percent = None
            if f == "rep_probability":  # "25%" is 0.25 whatever the mapping's scale
                given_, percent = percents(given_)
            number = pd.to_numeric(localized_numbers(given_, csv), errors="coerce")
            checks.append((unparseable(given_, number), f, "not a number", raw[f]))
            if percent is not None:
                number = number / np.where(percent, 100.0, probability_scale)
                outside = (number < 0) | (number > 1)
                checks.append((outside, f, "probability outside 0–1", raw[f]))
            else:
                checks.append((beyond_bounds(number), f, NUMBER_BEYOND, raw[f]))
                checks.append((number < 0, f, "negative amount", raw[f]))
            out[f] = number.astype("float64")
    return out, checks


def observations(
    entries: pd.DataFrame, values: pd.DataFrame, deals: pd.DataFrame, stages: StageSet
) -> pd.DataFrame:
    """One observation per history row (`entries`: opportunity_id, stage, entered_at), as the
    field history records a deal's fields: `id`, `updated_at` (the row's date) and every
    tracked field, the row's `values` where it gives them, else the deal's `deals` row (indexed
    by id; `__rate`: the exchange rate its amount was converted at, which converts the row's
    amount too). A closed deal has no expected close (as the export reads its one close date)."""
    ids = entries["opportunity_id"].to_numpy()
    base = deals.reindex(ids)
    out = pd.DataFrame({"id": ids, "updated_at": entries["entered_at"].to_numpy()})
    for f in TRACKED_FIELDS:
        column = values[f] if f in values else base[f] if f in base else None
        out[f] = column.to_numpy() if column is not None else None
    if "amount" in values:
        out["amount_estimated"] = False  # the amount as the CRM had it then
        if "__rate" in base:
            out["amount"] = out["amount"] * base["__rate"].fillna(1.0).to_numpy()
    if "expected_close_at" in values:
        closed = entries["stage"].isin([stages.won, stages.lost]).to_numpy()
        out.loc[closed, "expected_close_at"] = pd.NaT
    return out
