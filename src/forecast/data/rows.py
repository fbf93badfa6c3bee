"""Raw export rows to canonical rows: each field validated, stage history derived from dates.

`CanonicalRows` is the half of an import job that knows what deals look like: it turns a raw
chunk (the export's own columns, joined files applied) into the store's canonical deal and
stage-history rows, reporting each bad value with its line and column (`forecast.data.lead_rows`
adds leads). The job in `forecast.data.importing` supplies the mapping, the report and the
file it reads.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast.data import currencies, store
from forecast.data.csat_scale import NO_SCALE, CsatScale
from forecast.data.date_fixes import DateFixes, before_creation_shown
from forecast.data.date_formats import column_in_formats
from forecast.data.date_misreads import misread_format
from forecast.data.expected_closes import EarlyExpectedCloses
from forecast.data.forecast_categories import (
    FORECAST_CATEGORY_ALIASES,
    NOT_A_CATEGORY,
    canonical_forecast_category,
)
from forecast.data.mapping import CsvOptions, loose_key
from forecast.data.name_text import clean_name, clean_names
from forecast.data.number_columns import NumberColumns
from forecast.data.owner_people import OwnerPeople
from forecast.data.reading import (
    dotted_thousands_note,
    localized_numbers,
    percents,
)
from forecast.data.record_ids import LONG_ID, too_long
from forecast.data.repeated_rows import RepeatedRows
from forecast.data.stage_durations import entries_from_durations
from forecast.data.stages import LOST, OPEN, WON, StageSet
from forecast.data.tables import TRACKED_FIELDS
from forecast.data.validation import NUMBER_BEYOND, beyond_bounds, unparseable

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Connection

    from forecast.data.mapping import Mapping
    from forecast.data.validation import ImportReport

DATE_FIELDS = ("created_at", "closed_at", "updated_at", "expected_close_at")
NUMBER_FIELDS = (
    "amount",
    "list_price",
    "rep_probability",
    "csat",
    "account_employees",
    "account_revenue",
)
HISTORY_COLUMNS = ("opportunity_id", "stage", "entered_at")
#: What the import says of the open deals whose close date it did not keep.
OPEN_CLOSES_DROPPED = (
    "{n} open deal(s) carry a close date (closed_at), not kept: an open deal has no close (a "
    "reopened deal's old one)"
)
#: The problem a stage entry dated before its deal's creation (beyond the clock-skew tolerance)
#: is: that entry is left out, the deal and its other entries kept.
ENTERED_EARLY = "stage entered before create"


class CanonicalRows(NumberColumns):
    """Deal and lead rows from raw chunks (the import job subclasses it and sets the fields)."""

    mapping: Mapping
    report: ImportReport
    columns: dict[str, str]
    features: dict[str, str]
    stages: StageSet | None
    dataset: str
    export_date: Any
    export_date_given: pd.Timestamp | None  # `--export-date`, when the user gave one
    seen_ids: set[str]
    rejected_ids: set[str]  # deals whose row was bad (left out by --on-error skip)
    stage_dates: dict[str, str]
    stage_durations: dict[str, str]
    folder: Path
    main: Path
    csv: CsvOptions
    date_fixes: DateFixes  # dates read otherwise than written, counted over every chunk
    created_parts: list[pd.Series]  # each chunk's deals' given creation dates, by id
    created_by_id: pd.Series  # the same, all chunks together (read by the history file)
    history_value_fields: list[str]  # tracked fields the history file gives with each row
    deal_field_parts: list[pd.DataFrame]  # each chunk's deals' tracked fields, where it does
    deal_fields: pd.DataFrame  # ... all of them, by id (`__rate`: the amount's exchange rate)
    first_of: dict[str, list[str]]  # a field read from several columns → the file's columns
    currency_counts: Counter[str]  # the imported deals per currency, over every chunk
    converted: dict[str, int]  # deals whose amount was converted, per currency (exchange_rates)
    unknown_stages: Counter[str]  # raw stage names the mapping does not know, with their rows
    frame: pd.DataFrame | None  # the rows, where given as a frame rather than a file
    groupings: dict[str, CsvOptions | None]  # a lead column → the grouping its values show
    misread_dates: str | None = None  # a date format wrong for the file: refused whole
    repeats: RepeatedRows | None = None  # each id's first row, over the chunks (made on use)
    owner_people: OwnerPeople | None = None  # owner cells naming several people (made on use)
    early_closes: EarlyExpectedCloses | None = None  # expected closes before creation (on use)
    csat: CsatScale | None = None  # the file's CSAT scale (made on use)

    # -- reporting what is wrong, and reading dates

    def _seen(self, ids: pd.Series) -> pd.Series:
        """Which ids an earlier chunk already had (a set lookup per id: cheap at any size)."""
        seen = self.seen_ids.__contains__
        return pd.Series(np.fromiter(map(seen, ids), bool, len(ids)), index=ids.index)

    def _dates(self, raw: pd.Series) -> pd.Series:
        """Dates in the mapping's formats, read as UTC (`column_in_formats`); a format wrong for
        the column is kept to refuse the file with (`date_misreads`), the first one found."""
        dates = column_in_formats(raw, self.mapping.date_formats)
        if self.misread_dates is None:
            self.misread_dates = misread_format(raw, dates, self.mapping.date_formats)
        return dates

    def _not_after_the_export(
        self, dates: dict[str, pd.Series], raw: pd.DataFrame, bad: pd.Series
    ) -> None:
        """A deal or a lead cannot have been created, closed, converted or updated after the
        export was made (the date given with `--export-date`), nor after today: one such date
        (a typo'd year, a planned close typed into the close date) would otherwise become the
        data's "now" and move every forecast, backtest window and outcome window with it.
        `dates`: each field (as the report names it) and its dates read."""
        given = self.export_date_given
        limit = (given if given is not None else pd.Timestamp(store.utcnow())).normalize()
        limit += pd.Timedelta(days=1)  # the whole export day, and a day of clock skew
        said = f"after the export date ({given.date()})" if given is not None else "in the future"
        for field_, values in dates.items():
            late = values >= limit
            if late.any():  # shown as the file writes it where the field is a column of it
                given, read = raw.get(self.columns.get(field_)), values.astype("str")
                shown = read if given is None else given.where(given.notna(), read)
                self._bad(late, bad, raw, field_, f"date {said}", shown)

    def _numbers_in_bounds(self, values: pd.DataFrame, raw: pd.DataFrame, bad: pd.Series) -> None:
        """A column of the export's own (a lead's, a deal's `features:`; under its name in the
        file) whose values read as numbers holds none that no field may (`beyond_bounds`), as
        a deal's amount: each such value makes its row bad, named by line and column."""
        for column in values.columns:
            present = values[column].notna()
            numbers = pd.to_numeric(values[column], errors="coerce")
            if present.any() and numbers[present].notna().all():
                self._bad(beyond_bounds(numbers), bad, raw, str(column), NUMBER_BEYOND)

    def _bad(
        self,
        mask: pd.Series,
        bad: pd.Series,
        raw: pd.DataFrame,
        field_: str,
        kind: str,
        values: pd.Series | None = None,
    ) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            column = self.columns.get(field_, field_)
            shown = values if values is not None else raw.get(column, pd.Series(index=raw.index))
            self.report.add(str(self.main), raw["__line"][mask], column, kind, shown[mask], shown)
            bad |= mask

    # -- opportunities

    def _opportunities(
        self, raw: pd.DataFrame, stored: Connection | None
    ) -> tuple[pd.DataFrame, ...]:
        cols, stages = self.columns, self.stages
        assert stages is not None
        out = pd.DataFrame(index=raw.index)
        bad = pd.Series(False, index=raw.index)

        ids = raw[cols["id"]].astype("str").str.strip()
        ids = ids.where(raw[cols["id"]].notna() & (ids != ""))
        self.repeats = self.repeats or RepeatedRows(self.report)
        copies, dup, dup_shown = self.repeats.split(ids, raw, self._seen(ids))
        if copies.any():  # identical copies of an earlier row: read once
            raw, ids, out, bad, dup = (x[~copies] for x in (raw, ids, out, bad, dup))
        self._bad(ids.isna(), bad, raw, "id", "missing id")
        self._bad(too_long(ids), bad, raw, "id", LONG_ID)
        self._bad(dup, bad, raw, "id", "duplicate id", dup_shown.reindex(ids.index))
        self.seen_ids.update(ids.dropna())
        out["id"] = ids

        stage_raw = raw[cols["stage"]]
        lookup = {v: canonical_stage(stages, v) for v in stage_raw.dropna().unique()}
        suffixed = stages.pipeline_named(v for v, known in lookup.items() if known is not None)
        if suffixed:
            shown = ", ".join(f"{v!r} as {b!r}" for v, b in list(suffixed.items())[:4])
            more = " …" if len(suffixed) > 4 else ""
            self.report.note(f"stages read without the pipeline named after them: {shown}{more}")
        out["stage"] = stage_raw.map(lookup)
        self._bad(stage_raw.isna(), bad, raw, "stage", "missing stage")
        unknown = out["stage"].isna() & stage_raw.notna()
        self._bad(unknown, bad, raw, "stage", "unknown stage")
        self.unknown_stages.update(stage_raw[unknown].astype("str"))
        out["status"] = (
            out["stage"].map({s: stages.status(s) for s in stages.all_stages}).fillna(OPEN)
        )

        for f in DATE_FIELDS:
            if f in cols:
                out[f] = self._dates(raw[cols[f]])
                self._bad(unparseable(raw[cols[f]], out[f]), bad, raw, f, "unparseable date")
            else:
                out[f] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
        percent = pd.Series(False, index=raw.index)
        for f in NUMBER_FIELDS:
            if f in cols:
                given = raw[cols[f]]
                if f == "rep_probability":  # "25%" is 0.25 whatever the mapping's scale
                    given, percent = percents(given)
                text = localized_numbers(given, self.csv)
                self.report.note(dotted_thousands_note(raw[cols[f]], cols[f], self.csv))
                out[f] = pd.to_numeric(text, errors="coerce").astype("float64")
                if f == "rep_probability":
                    out[f] = self._probability_with_a_point(given, out[f])
                self._bad(unparseable(raw[cols[f]], out[f]), bad, raw, f, "not a number")
                self._bad(beyond_bounds(out[f]), bad, raw, f, NUMBER_BEYOND)
            else:
                out[f] = np.nan
        for f in (
            "account",
            "owner",
            "team",
            "region",
            "product",
            "product_series",
            "sector",
            "account_country",
            "forecast_category",
            "currency",
        ):
            out[f] = _trimmed(raw[cols[f]]) if f in cols else None
        if "owner" in cols:  # a cell naming several people: its first one's deal
            self.owner_people = self.owner_people or OwnerPeople(cols["owner"], self.report)
            out["owner"] = self.owner_people.first_named(out["owner"])
        rates = self._currencies(out, raw, bad)

        self._bad(out["amount"] < 0, bad, raw, "amount", "negative amount")
        closed = out["status"] != OPEN
        one_date = "close_date" in cols and "closed_at" not in cols
        close_field = "close_date" if one_date else "closed_at"
        if "close_date" in cols:
            self._one_close_date(out, raw, bad, closed)
        close_given = raw[cols[close_field]].notna() if close_field in cols else False
        self._bad(
            closed & ~close_given,
            bad,
            raw,
            close_field,
            "closed deal without close date",
            out["stage"],
        )
        self.date_fixes.forgive_clock_skew(out)
        self._bad(
            out["closed_at"] < out["created_at"],
            bad,
            raw,
            close_field,
            "close before create",
            before_creation_shown(raw, cols, out, close_field),
        )
        late = {"created_at": out["created_at"], close_field: out["closed_at"]}
        self._not_after_the_export({**late, "updated_at": out["updated_at"]}, raw, bad)
        open_close = ~closed & out["closed_at"].notna()  # a reopened deal's old close: not kept
        out.loc[open_close, "closed_at"] = pd.NaT
        self.report.tally("open closes", int((open_close & ~bad).sum()), OPEN_CLOSES_DROPPED)
        self.early_closes = self.early_closes or EarlyExpectedCloses(
            self.report, self.date_fixes.skew, cols
        )
        self.early_closes.drop(out, raw["__line"], ~bad)
        out["rep_probability"] = out["rep_probability"] / np.where(
            percent, 100.0, self.mapping.rep_probability_scale
        )
        p = out["rep_probability"]
        # Whole percents read as 0–1 (a mapping without rep_probability_scale: 100) say so.
        percents_read = (p > 1) & (p <= 100) & ~percent & (self.mapping.rep_probability_scale == 1)
        self._bad(percents_read, bad, raw, "rep_probability", PROBABILITY_OUTSIDE)
        outside = (p < 0) | ((p > 1) & ~percents_read)
        scale = self.mapping.rep_probability_scale
        said = f"probability outside 0–{scale:g} (rep_probability_scale: {scale:g})"
        self._bad(
            outside, bad, raw, "rep_probability", "probability outside 0–1" if scale == 1 else said
        )
        if "csat" in cols:  # a score on a satisfaction scale, and on the file's (`csat_scale`)
            self.csat = self.csat or CsatScale(self.report, cols["csat"], self.frame is None)
            out["csat"], no_scale = self.csat.read(out["csat"], raw["__line"], bad)
            self._bad(no_scale, bad, raw, "csat", NO_SCALE)
        out["forecast_category"] = self._forecast_categories(out["forecast_category"], raw, bad)

        self._amounts(out)
        out["created_estimated"] = out["created_at"].isna()
        self.report.estimated_created += int((out["created_estimated"] & ~bad).sum())
        # A closed deal without a creation date existed by its close at the latest: dated there
        # (flagged), not at the export, where it would have been created after it closed.
        out["created_at"] = out["created_at"].fillna(out["closed_at"])
        for col in ("created_at", "updated_at"):
            if out[col].isna().any():  # the export date is found only where a row needs it
                out[col] = out[col].fillna(self.export_date)
        out["dataset"] = self.dataset
        out["attributes"] = self._attributes(raw, bad)

        self.report.bad_rows += int(bad.sum())
        good = out[~bad]
        self.rejected_ids.update(ids[bad & ~dup].dropna())  # their history goes with them
        if stored is not None:
            good = self._keep_first_sighting(good, stored)
        self.currency_counts.update(good["currency"])
        if self.mapping.history_file:  # its rows are judged against the creation dates given
            created = good["created_at"].where(~good["created_estimated"])
            self.created_parts.append(pd.Series(created.to_numpy(), index=good["id"].to_numpy()))
        if self.history_value_fields:  # its rows observe the deals' other fields as these
            kept = good.set_index("id")[[f for f in TRACKED_FIELDS if f in good]]
            self.deal_field_parts.append(kept.assign(__rate=rates.loc[good.index].to_numpy()))
        history = self._derived_history(good, raw.loc[good.index], stored)
        columns = ["dataset", *[c for c in store.OPPORTUNITY_COLUMNS if c != "dataset"]]
        return good[[*columns, "attributes"]], history

    def _attributes(self, raw: pd.DataFrame, bad: pd.Series) -> list[dict[str, Any] | None]:
        """Per row, its features as the JSON the store keeps (None without `features:`); a
        number no field may hold makes its row bad."""
        if not self.features:
            return [None] * len(raw)
        values = self._feature_values(raw)
        self._numbers_in_bounds(values.set_axis(list(self.features.values()), axis=1), raw, bad)
        values = values.astype(object)
        return values.where(values.notna(), None).to_dict("records")

    def _one_close_date(
        self, out: pd.DataFrame, raw: pd.DataFrame, bad: pd.Series, closed: pd.Series
    ) -> None:
        """A CRM's one "Close Date" (HubSpot, Salesforce): the expected close of an open deal and
        the actual close of a won or lost one. Read as such, an open deal's date never counts as
        a close, and never moves where the data ends; a field the mapping names itself wins."""
        column = raw[self.columns["close_date"]]
        when = self._dates(column)
        self._bad(unparseable(column, when), bad, raw, "close_date", "unparseable date")
        nat = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
        if "closed_at" not in self.columns:
            out["closed_at"] = when.where(closed, nat)
            self.date_fixes.close_by_last_update(out, closed)
        if "expected_close_at" not in self.columns:
            out["expected_close_at"] = when.where(~closed, nat)

    def _forecast_categories(
        self, values: pd.Series, raw: pd.DataFrame, bad: pd.Series
    ) -> pd.Series:
        """The canonical category of each value, matched ignoring case, spaces, dashes and
        underscores; other CRMs' names (HubSpot's "Not forecasted", "Closed won") are read as
        theirs and counted in the report; any other value is a bad row naming those accepted."""
        category = values.map(canonical_forecast_category, na_action="ignore")
        keys = values.map(loose_key, na_action="ignore")
        renamed = values.notna() & keys.isin(list(FORECAST_CATEGORY_ALIASES))
        column = self.columns.get("forecast_category", "forecast_category")
        for (old, new), n in Counter(zip(values[renamed], category[renamed], strict=True)).items():
            self.report.fixed_values[f"{column}: {old} → {new}"] += n
        self._bad(values.notna() & category.isna(), bad, raw, "forecast_category", NOT_A_CATEGORY)
        return category

    def _keep_first_sighting(self, opps: pd.DataFrame, conn: Connection) -> pd.DataFrame:
        """An undated deal seen in an earlier export existed since then, not since this one."""
        undated = opps["created_estimated"]
        if not undated.any():
            return opps
        before = store.stored_state(conn, self.dataset, opps.loc[undated, "id"].tolist())
        first = pd.Series(before["created_at"].reindex(opps["id"]).to_numpy(), index=opps.index)
        keep = undated & first.notna() & (first < opps["created_at"])
        opps = opps.copy()
        opps.loc[keep, "created_at"] = first[keep]
        return opps

    def _currencies(self, out: pd.DataFrame, raw: pd.DataFrame, bad: pd.Series) -> pd.Series:
        """Each deal's currency: its currency column's, else the one its amount names ("€2,000"),
        else the mapping's. An amount naming another currency than the column is a bad row:
        which of the two is right, the file does not say. Returns the rate each deal's amount
        was converted at (1 where it was not)."""
        amount = self.columns.get("amount")
        written = (
            currencies.stated(raw[amount])
            if amount is not None
            else pd.Series(None, index=raw.index, dtype=object)
        )
        column = currencies.column_codes(out["currency"])
        self._bad(
            currencies.disagrees(written, column),
            bad,
            raw,
            "amount",
            "amount in another currency than the currency column",
            raw[amount].astype("str") + " vs " + column.astype("str") if amount else None,
        )
        named = currencies.named(written)
        out["currency"] = column.where(column.notna(), named).fillna(self.mapping.currency)
        rates = self.mapping.exchange_rates
        if not rates:
            return pd.Series(1.0, index=out.index)
        mine = self.mapping.currency.upper()
        rate = out["currency"].map(lambda code: 1.0 if code == mine else rates.get(code))
        converted = rate.notna() & (out["currency"] != mine)
        for code, n in out.loc[converted, "currency"].value_counts().items():
            self.converted[str(code)] = self.converted.get(str(code), 0) + int(n)
        for money in ("amount", "list_price"):
            out.loc[converted, money] = out.loc[converted, money] * rate[converted]
        out.loc[converted, "currency"] = mine
        return rate.where(converted, 1.0).astype("float64")

    def _amounts(self, out: pd.DataFrame) -> None:
        rules = self.mapping.amount
        if rules.in_cents:
            out["amount"] = out["amount"] / 100
        if rules.zero_means_missing_for:
            zero = out["stage"].isin(rules.zero_means_missing_for) & (out["amount"] == 0)
            out.loc[zero, "amount"] = np.nan
        estimated = out["amount"].isna() & out["list_price"].notna()
        if not rules.estimate_from_list_price:
            estimated &= False
        out["amount"] = out["amount"].where(~estimated, out["list_price"])
        out["amount_estimated"] = estimated
        self.report.estimated_amounts += int(estimated.sum())

    def _stage_at_close(
        self, opps: pd.DataFrame, raw: pd.DataFrame, closed: pd.Series
    ) -> pd.DataFrame:
        """An entry, at its close, of the open stage a closed deal was won or lost in, where the
        export's stage columns show one beside the outcome (`open_stage_before_close`): the
        funnel knows where each loss fell. When the deal entered that stage the export does not
        say, so it is dated at the close, a stay of no time (no time in stage is read from it),
        and before it the deal stands in the first stage, as a flat export's closed deal does."""
        assert self.stages is not None
        rule = self.mapping.combined_columns.get("stage")
        columns = self.first_of.get("stage", rule.first_of) if rule is not None else []
        stage = open_stage_before_close(self.stages, raw, columns, closed)
        seen = closed & stage.notna()
        if seen.any():
            self.report.note(
                "the stage closed deals were won or lost in is read from the stage column beside "
                "their outcome: the funnel and the models see where each closed deal stood"
            )
        return pd.DataFrame(
            {
                "opportunity_id": opps["id"][seen],
                "stage": stage[seen],
                "entered_at": opps["closed_at"][seen],
                "seen_only": False,
            }
        )

    def _derived_history(
        self, opps: pd.DataFrame, raw: pd.DataFrame, stored: Connection | None
    ) -> pd.DataFrame:
        """Stage observations the export shows: dated stages and the outcome at close (entries),
        and the current open stage when the export does not date it (a sighting at the row's
        `updated_at`; `forecast.data.stage_log` dates a deal's first sighting from its
        creation). Nothing here depends on what the store held before, so exports and pushes
        give the same history in any order. A history file dates the entries and outcomes: the
        row's open stage is a sighting beside them (a re-export whose history lags still moves
        the deal, in every view)."""
        own = self.mapping.history_file is None
        parts = []
        dated = pd.Series(False, index=opps.index)  # open deals whose stage's entry is dated
        rebuilt = entries_from_durations(opps, raw, self.stages, self.stage_durations, self.report)
        created = opps["created_at"].where(~opps["created_estimated"])
        early_rows = pd.Series(False, index=opps.index)
        for stage in dict.fromkeys([*self.stage_dates, *rebuilt]):
            when = None
            if stage in self.stage_dates:
                column = self.stage_dates[stage]
                when, early = self.date_fixes.entered_since_creation(
                    self._dates(raw[column]), created
                )
                shown = before_creation_values(created, when, early)[early]
                self.report.add(str(self.main), raw["__line"][early], column, ENTERED_EARLY, shown)
                early_rows |= early
                when = when.where(~early)
            if stage in rebuilt:  # the entry date the export gives, else the one rebuilt
                when = rebuilt[stage] if when is None else when.fillna(rebuilt[stage])
            assert when is not None
            dated |= (opps["stage"] == stage) & when.notna()
            parts.append(
                pd.DataFrame(
                    {
                        "opportunity_id": opps["id"],
                        "stage": stage,
                        "entered_at": when,
                        "seen_only": False,
                    }
                )
            )
        closed = opps["status"].isin([WON, LOST]) & own
        parts.append(
            pd.DataFrame(
                {
                    "opportunity_id": opps["id"][closed],
                    "stage": opps["stage"][closed],
                    "entered_at": opps["closed_at"][closed],
                    "seen_only": False,
                }
            )
        )
        if own and not (self.stage_dates or rebuilt):
            parts.append(self._stage_at_close(opps, raw, closed))
        self.report.bad_rows += int(early_rows.sum())  # the deal is kept, that entry left out
        undated = (opps["status"] == OPEN) & ~dated
        parts.append(
            pd.DataFrame(
                {
                    "opportunity_id": opps["id"][undated],
                    "stage": opps["stage"][undated],
                    "entered_at": opps["updated_at"][undated],
                    "seen_only": True,
                }
            )
        )
        if stored is not None:  # reported, not used: how many stored deals this row moves
            self.report.stage_changes += self._moved(stored, opps)
        history = pd.concat(parts, ignore_index=True).dropna(subset=["entered_at"])
        history["dataset"] = self.dataset
        return history[["dataset", *HISTORY_COLUMNS, "seen_only"]]

    def _moved(self, stored: Connection, opps: pd.DataFrame) -> int:
        """How many stored deals these rows move to another stage: only rows that will win over
        the stored state (newer, or as new at a later stage: `store.upsert_opportunities`'s
        rule), so an older export read again moves none."""
        before = store.stored_state(stored, self.dataset, opps["id"].tolist()).reindex(opps["id"])
        old_stage = before["stage"].to_numpy()
        new_at = pd.to_datetime(opps["updated_at"]).astype("datetime64[us]").to_numpy()
        old_at = before["updated_at"].to_numpy()
        rank = {s: i for i, s in enumerate(self.stages.all_stages)} if self.stages else {}
        later = (
            opps["stage"].map(rank).fillna(99).to_numpy()
            > pd.Series(old_stage).map(rank).fillna(99).to_numpy()
        )
        wins = (new_at > old_at) | ((new_at == old_at) & later)
        moved = pd.notna(old_stage) & (old_stage != opps["stage"].to_numpy()) & wins
        return int(moved.sum())


#: What a probability above 1 most often is where probabilities are read as 0–1.
PERCENTS_NEED_SCALE = "percents, 0–100, need rep_probability_scale: 100"
#: A probability above 1 where the mapping reads probabilities as 0–1: most often percents.
PROBABILITY_OUTSIDE = f"probability outside 0–1 ({PERCENTS_NEED_SCALE})"


def before_creation_values(created: pd.Series, entered: pd.Series, early: pd.Series) -> pd.Series:
    """How a stage entry before its deal's creation is shown in the report: "created > entered"
    (as a close before creation is)."""
    return (created.astype("str") + " > " + entered.astype("str")).where(early)


def open_stage_before_close(
    stages: StageSet, raw: pd.DataFrame, columns: list[str], closed: pd.Series
) -> pd.Series:
    """Per closed deal, the open stage the export's stage `columns` still show beside its
    outcome (blank where none does): an export whose outcome is a status column keeps the
    stage a deal was won or lost in (Pipedrive's "Stage" beside "Status", Odoo's beside
    "Active")."""
    found = pd.Series(np.nan, index=raw.index, dtype=object)
    for column in columns:
        if column not in raw:
            continue
        values = raw.loc[closed & found.isna(), column].dropna()
        names = {v: canonical_stage(stages, v) for v in values.unique()}
        opened = {v: n for v, n in names.items() if n is not None and stages.status(n) == OPEN}
        found.loc[values.index] = values.map(opened)
    return found


def _trimmed(values: pd.Series) -> pd.Series:
    """Names as a push reads them (`clean_names`): " Team Novak " is Team Novak, an NFD "Zoë"
    the NFC one; spaces alone are blank."""
    text = clean_names(values)
    return text.where(values.notna() & (text != ""))


def canonical_stage(stages: StageSet, value: object) -> str | None:
    name = clean_name(str(value))  # as a push's stage is read
    return stages.canonical(name) if stages.is_known(name) else None
