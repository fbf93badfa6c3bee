"""Which lead attributes a model learns from, decided from facts a slice of leads can give.

`prepare_leads` keeps a lead's attributes as model inputs, but for the leak columns, the
identifiers and the constants, reads text that is all numbers as numbers, and a column of dates
as whether a lead has one ("Trial Started", "Last Activity Date": `DATE_SHARE`). Each of those
decisions is about a column over every labelled lead, so it is made in two steps: `facts_of` says
what one set of leads shows of each column (its kind, how many leads have it, its distinct values
as hashes or numbers), and `decide` reads the facts of one frame or of many slices read apart (on
a cluster's workers) alike. Slices' facts give the decisions of the whole frame they make up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from forecast.data.attributes import (
    IDENTIFIER_MIN,
    IDENTIFIER_SHARE,
    names_a_person,
    written_as_codes,
)
from forecast.data.date_formats import column_in_formats
from forecast.data.validation import beyond_bounds
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.lead_dates import created_utc
from forecast.modeling.reasons import is_blank

LEAD_BOOKKEEPING = ("id", "converted", "created_at", "updated_at", "converted_at", "dataset")


@dataclass
class LeadColumns:
    """What `prepare_leads` kept and dropped, and why (shown in training reports)."""

    features: list[str]
    leaks_excluded: list[str]
    identifiers: list[str]
    constant: list[str]
    #: The columns read as numbers: numbers, and text whose every present value is one (a
    #: slice where no lead has a value holds it as blank text).
    as_numbers: tuple[str, ...] = ()
    #: Of those, the ones whose every value is 0 or 1 (a flag, or booleans): a client may send
    #: them as yes/no (`lead_fields.LeadFields`).
    zero_one: tuple[str, ...] = ()
    #: The kept columns of dates, learnt as whether a lead has one (`is_set`): a date itself
    #: never comes again, so as text every new lead's was a value never learnt, scored as blank.
    set_flags: tuple[str, ...] = ()
    #: Columns of dates given on every lead (set on all says nothing), whose dates do not
    #: differ on nearly every lead either (those are `identifiers`, as before): left out.
    dated_everywhere: list[str] = field(default_factory=list)
    #: Columns of dates that lie on a later day than the lead's creation on most leads having
    #: both (`LATER_SHARE`): what happened after a lead came in ("Last Activity Date", "Trial
    #: Started" a week on), which a lead scored as it comes in cannot have; left out unless
    #: leaks are included. Each with (later, of): how many such dates, of how many dated leads.
    dated_later: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Text columns where under `LEARNT_SHARE` of the leads having a value hold one the model
    #: learns and other leads share (a company name on 5,699 leads, about 3,000 different):
    #: most new leads' value was never learnt, so the column teaches little and says "not
    #: learnt" on nearly every score. Left out, each with that share.
    scattered: dict[str, float] = field(default_factory=dict)


#: The text values a model learns per input: its encoder's (`FeatureEncoder.max_levels`), the
#: rest read as blank.
LEVELS_LEARNT = FeatureEncoder().max_levels
#: A value shared by fewer leads than this teaches the model little ...
SHARED_BY = 5
#: ... and a text column is learnt where, of the leads having a value, at least this share hold
#: one of those values that is shared so (a job title's common few among a long tail: kept):
#: under it, nearly every lead's value is its own, or all but its own (a company name).
LEARNT_SHARE = 0.2

#: Of a column of dates on leads that have a creation date, the share lying on a later day for
#: the column to be a record of what came after (a first visit or a sign-up date lies on or
#: before the day the lead came in), ...
LATER_SHARE = 0.5
#: ... read where at least this many leads have both dates.
LATER_MIN = 20


#: Of a text column's present values, the share that must read as dates (ISO 8601 or the
#: dataset's formats) for it to be a column of dates: a stray "n/a" or "TBD" does not undo it.
DATE_SHARE = 0.95
#: Distinct values of a text column read first: where none is a date, the rest are not read.
DATE_SAMPLE = 100


@dataclass(frozen=True)
class ColumnFacts:
    """Of one attribute over some leads, what its decisions read: whether it holds numbers
    (numbers and booleans) or text, how many leads have it (of `rows`), its distinct present
    values (text as hashes), and read as numbers (None where some present text is no number)
    with whether every one is whole, and how many present values read as dates."""

    numeric: bool
    present: int
    text: np.ndarray
    numbers: np.ndarray | None
    whole: bool
    rows: int = 0
    dates: int = 0
    #: Of the dates of leads that have a creation date: how many lie on a later day, of how many.
    later: int = 0
    paired: int = 0
    #: How many leads have each distinct text value (aligned with `text`).
    text_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def attribute_names(leads: pd.DataFrame) -> list[str]:
    return [str(c) for c in leads.columns if c not in LEAD_BOOKKEEPING]


def facts_of(leads: pd.DataFrame, date_formats: Sequence[str] = ()) -> dict[str, ColumnFacts]:
    """Each attribute's facts over these leads (`decide` reads them). `date_formats`: the
    dataset's own (its mapping's `date_format`), tried after ISO 8601 on text."""
    out = {}
    created = created_utc(leads["created_at"]) if "created_at" in leads.columns else None
    for col in attribute_names(leads):
        series = leads[col]
        numeric = is_bool_dtype(series) or is_numeric_dtype(series)
        nonnull = series.dropna()
        if numeric:
            numbers: pd.Series | None = nonnull.astype(float)
            text, text_counts = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        else:
            read = pd.to_numeric(nonnull, errors="coerce")
            numbers = read if read.notna().all() and not written_as_codes(nonnull) else None
            present = nonnull.astype(str).to_numpy(dtype=object)
            text, text_counts = np.unique(pd.util.hash_array(present), return_counts=True)
        dates, days = _dates_among(nonnull, date_formats) if numbers is None else (0, None)
        values = None if numbers is None else numbers.to_numpy(float)
        out[col] = ColumnFacts(
            numeric,
            len(nonnull),
            text,
            None if values is None else np.unique(values),
            values is not None and bool((values == np.round(values)).all()),
            len(series),
            dates,
            *(_later_days(nonnull, created, days) if days is not None else (0, 0)),
            text_counts,
        )
    return out


def _later_days(values: pd.Series, created: pd.Series | None, days: pd.Series) -> tuple[int, int]:
    """Of these present values that read as dates (`days`: each distinct one's date, as
    `_dates_among` read it), on leads with a creation date: how many lie on a later day than
    the lead's creation in any time zone, and how many there are."""
    if created is None:
        return 0, 0
    when = created.reindex(values.index)
    both = when.notna().to_numpy()
    if not both.any():
        return 0, 0
    dates = pd.to_datetime(values[both].astype(str).str.strip().map(days))
    dated = dates.notna().to_numpy()
    day = dates[dated].dt.normalize().to_numpy()
    # A date written in local time beside a creation read as UTC (an export from Sydney) may
    # fall on the next day the same day: a later day than the creation's as the furthest zone
    # ahead (UTC+14) dates it.
    local_day = (when[both][dated] + pd.Timedelta(hours=14)).dt.normalize().to_numpy()
    later = day > local_day
    return int(later.sum()), int(dated.sum())


def _dates_among(values: pd.Series, formats: Sequence[str]) -> tuple[int, pd.Series | None]:
    """How many of these present text values read as dates, and each distinct one that does
    (stripped) with its date, for `_later_days`; None where none does. Each distinct value is
    read once, and none past the first `DATE_SAMPLE` where none of those does (a column of
    words)."""
    counts = values.astype(str).str.strip().value_counts()
    distinct = pd.Series(counts.index, dtype=object)
    forms = list(dict.fromkeys(["ISO8601", *formats]))
    read = column_in_formats(distinct.head(DATE_SAMPLE), forms)
    if read.isna().all():
        return 0, None
    if len(distinct) > DATE_SAMPLE:
        rest = column_in_formats(distinct.iloc[DATE_SAMPLE:], forms)
        read = pd.concat([read, rest])
    dated = read.notna().to_numpy()
    days = pd.Series(read.to_numpy()[dated], index=counts.index[dated])
    return int(counts.to_numpy()[dated].sum()), days


def decide(
    found: Sequence[dict[str, ColumnFacts]],
    columns: Iterable[str],
    leak_columns: Sequence[str] = (),
    *,
    include_leaks: bool = False,
) -> LeadColumns:
    """The columns kept, of `columns` (in that order), from their facts over one frame or over
    the slices that make it up (`found`, one `facts_of` each): leak columns out (unless asked),
    then constants (no value, or one on every lead) and identifiers (text with a different
    value on nine leads in ten: an email, a name; whole numbers all different: a
    running number), as a deal's custom attribute is, and every column whose header names a person
    (`attributes.names_a_person`: "First Name", "Nachname", "Salutation"). Text that is dates
    (`DATE_SHARE` of its present values) is two values, a date or blank (`set_flags`): an
    identifier no more, and left out where every lead has one (`dated_everywhere`), or where
    its dates lie after the lead's creation (`dated_later`: kept only with `include_leaks`)."""
    attrs = list(columns)
    leaks = [c for c in leak_columns if c in attrs] if not include_leaks else []
    kept, identifiers, constant, as_numbers, zero_one = [], [], [], [], []
    set_flags: list[str] = []
    dated_everywhere: list[str] = []
    dated_later: dict[str, tuple[int, int]] = {}
    scattered: dict[str, float] = {}
    for col in attrs:
        if col in leaks:
            continue
        if names_a_person(col):  # a name says who a lead is, not how likely they are to buy
            identifiers.append(col)
            continue
        seen = [f[col] for f in found if col in f]
        present = sum(f.present for f in seen)
        numeric = any(f.numeric for f in seen) and all(f.numeric or not f.present for f in seen)
        # Text reads as numbers where every present value is one, and some value is present.
        read = numeric or (present > 0 and all(f.numbers is not None for f in seen if f.present))
        if read:
            parts = [f.numbers for f in seen if f.numbers is not None]
            values = np.unique(np.concatenate(parts)) if parts else np.zeros(0)
            distinct = len(values)
            whole = all(f.whole for f in seen if f.present) and (
                _counts_up(values) or _names_an_id(col)
            )
            as_numbers.append(col)
            if distinct and np.isin(values, (0.0, 1.0)).all():
                zero_one.append(col)
        else:
            texts = [f.text for f in seen]
            distinct = len(np.unique(np.concatenate(texts))) if texts else 0
            covered = _covered(seen) if distinct > LEVELS_LEARNT else 1.0
        # One value and blanks is two (a checkbox exported as "x" or "Yes" and blank): only a
        # column with the same value on every lead, or none, says nothing.
        blanks = len(seen) < len(found) or any(f.present < f.rows for f in seen)
        if not read and present and sum(f.dates for f in seen) >= DATE_SHARE * present:
            set_flags.append(col)
            later, paired = sum(f.later for f in seen), sum(f.paired for f in seen)
            if blanks and paired >= LATER_MIN and later >= LATER_SHARE * paired:
                dated_later[col] = (later, paired)  # after the lead came in: hindsight
                if include_leaks:
                    kept.append(col)
            elif blanks:
                kept.append(col)
            elif present > IDENTIFIER_MIN and distinct >= IDENTIFIER_SHARE * present:
                identifiers.append(col)  # date-times on every lead, as before
            else:
                dated_everywhere.append(col)
            continue
        if distinct == 0 or (distinct == 1 and not blanks):
            constant.append(col)
        elif present > IDENTIFIER_MIN and (
            distinct == present and whole if read else distinct >= IDENTIFIER_SHARE * present
        ):
            identifiers.append(col)
        elif not read and covered < LEARNT_SHARE:
            scattered[col] = covered
        else:
            kept.append(col)
    zero_one = [c for c in zero_one if c in kept]
    flags = tuple(c for c in set_flags if c in kept)
    numbers = (tuple(as_numbers), tuple(zero_one))
    return LeadColumns(
        kept,
        leaks,
        identifiers,
        constant,
        *numbers,
        set_flags=flags,
        dated_everywhere=dated_everywhere,
        dated_later=dated_later,
        scattered=scattered,
    )


def _covered(seen: Sequence[ColumnFacts]) -> float:
    """The share of the leads having a value that hold one of its `LEVELS_LEARNT` most common
    values shared by `SHARED_BY` leads or more, over the slices' counts (a value's count summed
    across them)."""
    hashes = np.concatenate([f.text for f in seen])
    counts = np.concatenate([getattr(f, "text_counts", np.zeros(0)) for f in seen])
    if len(counts) != len(hashes) or not counts.sum():
        return 1.0  # facts without counts: nothing to judge by
    _, at = np.unique(hashes, return_inverse=True)
    totals = np.sort(np.bincount(at, weights=counts))[::-1]
    learnt = totals[:LEVELS_LEARNT]
    return float(learnt[learnt >= SHARED_BY].sum() / totals.sum())


#: A running number's values lie close together (a CRM numbers its records as they come, by ones
#: or a small step) or within one order of magnitude; an amount or a count spreads wider.
RUNNING_STEP = 100
RUNNING_SPAN = 10


#: Last words of a header that names a record's number ("Record ID", "LeadId", "Lead No.").
ID_WORDS = frozenset({"id", "ids", "identifier", "number", "no", "nr", "num", "key", "ref"})


def _names_an_id(column: str) -> bool:
    """Whether a header names an id: ids a CRM filters or shards leave gaps that no spacing
    tells from amounts, but their header says what they are."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", column)
    return "#" in column or (bool(words) and words[-1].casefold() in ID_WORDS)


def _counts_up(values: np.ndarray) -> bool:
    """Whether distinct whole numbers (sorted) could be a running number rather than amounts
    that happen to all differ ("Annual Revenue" $1,000 to $2,000,000 in whole dollars): within
    `RUNNING_STEP` of each other on average, or the largest at most `RUNNING_SPAN` times the
    smallest."""
    if len(values) < 2:
        return True
    low, high = float(values[0]), float(values[-1])
    dense = high - low <= RUNNING_STEP * (len(values) - 1)
    return dense or (low > 0 and high <= RUNNING_SPAN * low)


def apply(leads: pd.DataFrame, columns: LeadColumns) -> pd.DataFrame:
    """The kept columns of these leads as model inputs: booleans as 0/1, text read as numbers
    where decided, dates as 1 where given and 0 where blank (`is_set`); a column these leads
    lack (a slice where no lead has it) blank (a column of dates: 0). A number no
    field may hold ("Infinity", 1e300: stored before imports refused them) is blank too, as a
    value not known: no estimator takes it, and one lead's typo must not stop training."""
    frame = leads.reindex(columns=columns.features)
    for col in frame.columns:
        if col in columns.set_flags:
            frame[col] = is_set(frame[col])
        elif is_bool_dtype(frame[col]):
            frame[col] = frame[col].astype(float)
        elif col in columns.as_numbers and not is_numeric_dtype(frame[col]):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        if is_numeric_dtype(frame[col]):
            frame[col] = frame[col].mask(beyond_bounds(frame[col]))
    return frame


def is_set(values: pd.Series) -> pd.Series:
    """1.0 where a value is given, 0.0 where blank (None, NaN, empty text): a column of dates
    as the model learns it, whatever a date's form (`with_set_flags` reads a request so)."""
    given = values.notna() & values.astype(str).str.strip().ne("")
    return given.astype(float)


def with_set_flags(
    rows: Sequence[Mapping[str, Any]], flags: Sequence[str]
) -> Sequence[Mapping[str, Any]]:
    """Scoring rows with each of a model's date columns (`LeadColumns.set_flags`) as `is_set`
    reads it: any value sent is 1 (a date never seen in training, or in another form, alike),
    a blank or a field not sent 0."""
    if not flags:
        return rows
    return [{**row, **{c: 0.0 if is_blank(row.get(c)) else 1.0 for c in flags}} for row in rows]


def prepare_leads(
    leads: pd.DataFrame,
    leak_columns: Sequence[str] = (),
    *,
    include_leaks: bool = False,
    date_formats: Sequence[str] = (),
) -> tuple[pd.DataFrame, LeadColumns]:
    """Lead attributes ready for a model: leak columns out (unless asked), ids and constants
    out (`decide`). Text columns stay text (the model encodes them); text that is all numbers
    becomes numeric; dates (ISO 8601 or `date_formats`) become 1 where given, 0 where blank;
    booleans become 0/1."""
    columns = decide(
        [facts_of(leads, date_formats)],
        attribute_names(leads),
        leak_columns,
        include_leaks=include_leaks,
    )
    return apply(leads, columns), columns
