"""Raw lead rows to canonical lead rows: id, the 0/1 label (with the mapping lines that would
read a label it cannot), when the lead came in, and the export's other columns as inputs.

`LeadRows` adds the leads to `CanonicalRows`, whose reporting and date reading it shares; the
import job in `forecast.data.importing` is one.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from forecast.data.draft_names import STATUS_NAMES, matched
from forecast.data.lead_outcomes import lead_outcome
from forecast.data.mapping import loose_key
from forecast.data.record_ids import LONG_ID, too_long
from forecast.data.rows import CanonicalRows
from forecast.data.validation import unparseable
from forecast.data.yes_no import YES_NO_LABELS

#: How pandas names a column whose header cell is empty ("Unnamed: 5"): a name in no file.
HEADERLESS = re.compile(r"Unnamed: \d+")
#: What a lead label's common words usually mean, offered in the import's hint (never applied).
LABEL_WORDS = {
    **dict.fromkeys(
        ["won", "closedwon", "customer", "converted", "success", "sale", "signed", "paid"], "1"
    ),
    **dict.fromkeys(
        [
            "lost",
            "closedlost",
            "disqualified",
            "unqualified",
            "junk",
            "rejected",
            "churned",
            "notconverted",
            "dead",
            "spam",
        ],
        "0",
    ),
    **dict.fromkeys(["open", "pending", "new", "working", "inprogress", "nurturing"], "pending"),
}


def status_note(rows: LeadRows, date_column: str | None) -> str | None:
    """What the lead status column did beside the conversion date (`_converted_by_status`)."""
    status = rows.label_status
    if status is None:
        return None
    if not rows.status_converted:  # it agrees with every date: only what it is, said
        return f"{status!r} says the outcome, so it is not a model input"
    return (
        f"converted: 1 also for {rows.status_converted:,} lead(s) whose {status!r} says converted "
        f"though their {date_column!r} is blank; {status!r} says the outcome, so it is not a "
        "model input"
    )


def unlabelled_note(n: int, column: str | None) -> str | None:
    """Leads kept without a label: scored, never learnt from (said once per import)."""
    if not n or column is None:
        return None
    return (
        f"{n:,} lead(s) have no {column} value (blank, or listed in missing_values as not known "
        "yet): they are scored, never learnt from"
    )


class LeadRows(CanonicalRows):
    """Canonical lead rows from raw chunks, besides the deal rows of `CanonicalRows`."""

    unlabelled_leads: int  # leads kept without a 0/1 label, over every chunk
    #: Where a conversion date labels the leads: the file's lead status column (by its name),
    #: which labels converted a lead it says converted whose date is blank, and how many.
    label_status: str | None = None
    status_converted: int = 0
    copies: frozenset[str]  # a column's copies the header names again (`ExportColumns`)

    def _label_hint(self, values: pd.Series, column: str) -> None:
        """Once per column: the label's values that are not 0/1, and the mapping lines that
        would read them, with what common words usually mean (the user decides)."""
        if column in self.report.hinted:
            return
        self.report.hinted.add(column)
        seen = sorted(values.astype("str").str.strip().unique())
        shown = ", ".join(json.dumps(v) for v in seen[:8]) + (" …" if len(seen) > 8 else "")
        fixes = {v: LABEL_WORDS.get(loose_key(v), "1 or 0") for v in seen[:8]}
        # Not known yet is blank in this column alone (missing_values would blank the word in
        # every column of the file).
        lines = ", ".join(
            f"{json.dumps(v)}: {json.dumps('' if x == 'pending' else x)}" for v, x in fixes.items()
        )
        self.report.note(
            f"{column}: {shown} not read as 0/1, yes/no (y/n) or true/false (t/f); tell the "
            f"mapping what they mean, e.g. value_fixes: {{{json.dumps(column)}: {{{lines}}}}} "
            '(1 converted, 0 not, "" not known yet)'
        )

    def _leads(self, raw: pd.DataFrame) -> pd.DataFrame:
        cols = self.columns
        bad = pd.Series(False, index=raw.index)
        ids = raw[cols["id"]].astype("str").str.strip().where(raw[cols["id"]].notna())
        self._bad(ids.isna() | (ids == ""), bad, raw, "id", "missing id")
        self._bad(too_long(ids), bad, raw, "id", LONG_ID)
        if "converted" in cols:
            column = raw[cols["converted"]]  # its blanks read as value_fixes says (`_fix_values`)
            text = column.astype("str").str.strip().str.casefold()
            label = text.map(YES_NO_LABELS)
            odd = column.notna() & label.isna()
            self._bad(odd, bad, raw, "converted", "label is not 0/1")
            if odd.any():
                self._label_hint(raw.loc[odd, cols["converted"]], cols["converted"])
            self._one_outcome_hint(label, cols["converted"])
        else:
            label = pd.Series(np.nan, index=raw.index)
        created = (
            self._dates(raw[cols["created_at"]])
            if "created_at" in cols
            else pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
        )
        if "created_at" in cols:
            self._bad(
                unparseable(raw[cols["created_at"]], created),
                bad,
                raw,
                "created_at",
                "unparseable date",
            )
        converted_at, label = self._converted_at(raw, label, bad)
        when = {"created_at": created, "converted_at": converted_at}
        self._not_after_the_export(when, raw, bad)
        used = set(cols.values()) | set(self.mapping.drop_columns) | {"__line"}
        used |= self.copies  # a column the header names twice: its first is read (said)
        used |= {self.label_status} if self.label_status else set()  # it says the outcome
        # A field read from several columns (`first_of`): none of them is an input (a label's
        # columns would give the label away).
        used |= {c for names in self.first_of.values() for c in names}
        attr_cols = [c for c in raw.columns if c not in used]
        empty = [c for c in attr_cols if HEADERLESS.fullmatch(str(c)) and raw[c].isna().all()]
        if empty:  # a spreadsheet's trailing cells under no header: no attribute of a lead
            attr_cols = [c for c in attr_cols if c not in empty]
            self.report.note("columns with no header and no value (empty cells) left out")
        if self.features:  # only the columns the mapping keeps, under their names
            attr_cols = list(self.features.values())
        attrs = raw[attr_cols].apply(self._numbers_if_all_are)
        self._numbers_in_bounds(attrs, raw, bad)
        # Last: a lead twice is a duplicate where both copies could be read (a file scored
        # skipping its bad rows keeps the one readable copy of a lead).
        dup = ~bad & (ids.where(~bad).duplicated() | self._seen(ids)) & ids.notna()
        self._bad(dup, bad, raw, "id", "duplicate id")
        self.seen_ids.update(ids[~bad].dropna())
        if self.features:
            attrs.columns = list(self.features)
        attrs = attrs.astype(object).where(attrs.notna(), None)
        self.report.bad_rows += int(bad.sum())
        good = ~bad
        if "converted" in cols:
            self.unlabelled_leads += int((good & label.isna()).sum())
        return pd.DataFrame(
            {
                "dataset": self.dataset,
                "id": ids[good],
                "converted": label[good].astype("Int64"),
                "created_at": created[good],
                "updated_at": created[good].fillna(self.export_date)
                if created[good].isna().any()
                else created[good],
                "attributes": attrs[good].to_dict("records"),
                "converted_at": converted_at[good],
            }
        )

    def _blank_label_read(self, values: pd.Series, column: str) -> pd.Series:
        """The label column with its blanks read as the mapping's `value_fixes` says a blank
        ("") is: a converted box exported as "x" (or 1, "Yes") and blank where not ticked has
        its blanks mean not converted, not "not known yet" as a blank label otherwise does.
        Read before the other fixes, so a value fixed to "" (Pardot's "Open") stays not known."""
        blank = self.mapping.value_fixes.get(column, {}).get("")
        if blank is None or not blank.strip() or not values.isna().any():
            return values
        also = " (and so is a value missing_values lists)" if self.mapping.missing_values else ""
        self.report.note(f"{column}: a blank is read as {blank!r} (value_fixes){also}")
        return values.where(values.notna(), blank)

    def _one_outcome_hint(self, label: pd.Series, column: str) -> None:
        """Once: a label that says one outcome only, beside blanks (read as not known yet), is
        likely a box ticked for that outcome and left blank for the other: say how to read so
        (no model learns from one outcome)."""
        said = label.dropna().unique()
        blanks = int(label.isna().sum())
        if len(said) != 1 or not blanks or self.mapping.missing_values:
            return  # with missing_values, the blanks may be leads not known yet, as listed
        if column in self.report.hinted:
            return
        self.report.hinted.add(column)
        other = "0" if said[0] == 1 else "1"
        self.report.note(
            f"{column}: every value read says {'converted' if said[0] == 1 else 'not converted'}"
            f" and {blanks:,} are blank (not known yet); where a blank means the other outcome (a "
            f'box left unticked), say so: value_fixes: {{{json.dumps(column)}: {{"": '
            f"{json.dumps(other)}}}}}"
        )

    def _converted_at(
        self, raw: pd.DataFrame, label: pd.Series, bad: pd.Series
    ) -> tuple[pd.Series, pd.Series]:
        """When each converted lead converted (`converted_at`), and the label. A date on a lead
        not converted is no outcome (an export that fills it otherwise says nothing of when), so
        it is blank; where the mapping gives no label, a lead with a date converted and one
        without did not (yet: the outcome window tells)."""
        cols = self.columns
        if "converted_at" not in cols:
            return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]"), label
        column = cols["converted_at"]
        when = self._dates(raw[column])
        self._bad(unparseable(raw[column], when), bad, raw, "converted_at", "unparseable date")
        if "converted" not in cols and self.mapping.derived_label is None:
            label = when.notna().astype(float)
            self.report.note(
                f"converted: 1 for leads with a {column!r} date, 0 for the others (the mapping "
                "maps converted_at and no label)"
            )
            label = self._converted_by_status(raw, when, label)
        return when.where(label == 1), label

    def _converted_by_status(
        self, raw: pd.DataFrame, when: pd.Series, label: pd.Series
    ) -> pd.Series:
        """The date's label, and converted where the file's lead status says so though the date
        is blank (HubSpot's "Lifecycle Stage" of "customer" with no "Became a Customer Date"):
        such a lead converted, when is not known."""
        mapped = set(self.columns.values())
        names = [str(c) for c in raw.columns if c not in mapped and c != "__line"]
        status = matched(names, {"status": STATUS_NAMES}).get("status")
        if status is None:
            return label
        self.label_status = status
        text = raw[status].astype("str").str.strip().where(raw[status].notna())
        said = {v: lead_outcome(v) for v in text.dropna().unique()}
        yes = text.map(said).eq("1") & when.isna()
        self.status_converted += int(yes.sum())
        return label.mask(yes, 1.0)
