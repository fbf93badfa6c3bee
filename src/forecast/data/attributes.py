"""A dataset's own columns kept as model inputs (a mapping's `features:`): the names they may take,
how an import finds them in a file, and how the store's JSON per deal reads back as columns.

A feature goes by one name after the import (the mapping's label, else the file's column): the
store keeps it under that name, a CRM pushes and scores it under that name, and the model's
reasons say it, so a user reads "Original Traffic Source = Organic search". Numbers are numbers
where every value given is one (in the mapping's notation); anything else is text, which the
model's encoder takes as categories (its `max_levels` most frequent, the rest read as blank).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from forecast.data.dataset_options import DatasetOptions
from forecast.data.loose import loose_key

#: Names a `features:` entry may not take: the canonical fields, the inputs derived from them and
#: the bookkeeping columns of model rows (compared ignoring case, spaces, dashes, underscores).
RESERVED_NAMES: dict[str, tuple[str, ...]] = {
    "opportunities": (
        "stage_index",
        "age_days",
        "days_in_stage",
        "rep_win_rate",
        "rep_closed_deals",
        "account_win_rate",
        "account_closed_deals",
        "status",
        "stage_entered_at",
        "as_of",
        "is_open",
        "won",
        "weight",
        "dataset",
        "attributes",
        "state_key",
    ),
    "leads": ("dataset", "created_weekday", "created_hour"),
}
#: Most `features:` a mapping may keep. Each is a column of every training snapshot, and reasons
#: name the top three: a wider list is a feature-selection job the mapping should not hide.
MAX_FEATURES = 50
#: A custom text attribute distinct on at least this share of the deals that have it (and on
#: more than `IDENTIFIER_MIN` deals) names deals rather than describing them.
IDENTIFIER_SHARE = 0.9
IDENTIFIER_MIN = 50
#: Headers that name a person (compared as lowercase words, accents ignored): first and last
#: names repeat across people, so the distinct-value rule above keeps them, yet a person's name
#: (or the title that gives their sex) says who they are, not how likely they are to buy, and a
#: model that learns from it scores people by name. Emails and phone numbers are distinct per
#: person and left out by that rule already.
PERSON_HEADERS = frozenset(
    {
        "name",
        "contact name",
        "lead name",
        "person name",
        "your name",
        "nom",
        "nom de famille",
        "nombre",
        "nome",
    }
)
#: A header's last word that names a person's name ("Contact First Name" too).
PERSON_WORDS = frozenset(
    {
        "firstname",
        "lastname",
        "fullname",
        "forename",
        "surname",
        "salutation",
        "vorname",
        "nachname",
        "anrede",
        "prenom",
        "civilite",
        "apellido",
        "apellidos",
        "cognome",
    }
)
#: Its last two words that do ("Full Name", "Lead Last Name").
PERSON_PHRASES = frozenset(
    {("first", "name"), ("last", "name"), ("full", "name"), ("given", "name"), ("family", "name")}
)


def feature_entries(value: object) -> object:
    """`[column, ...]` is `{column: column}` (shown under its own name); `{column: null}` too."""
    if value is None:
        return {}
    if isinstance(value, list):
        if not all(isinstance(c, str) and c.strip() for c in value):
            raise ValueError(f"give column names, got {value!r}")
        return {c: c for c in value}
    if isinstance(value, dict):
        return {c: c if label is None else label for c, label in value.items()}
    raise ValueError(f"give a list of columns or {{column: label}}, got {value!r}")


def checked_features(
    features: Mapping[str, str], kind: str, fields: Sequence[str], mapped: Mapping[str, str]
) -> dict[str, str]:
    """`features` (column → label) with labels trimmed, after checking them: at most
    `MAX_FEATURES`, no name of a canonical field (`fields`) or derived input, each name once,
    and no column that already fills a canonical field (`mapped`: field → column)."""
    if len(features) > MAX_FEATURES:
        raise ValueError(
            f"features: {len(features)} columns; at most {MAX_FEATURES} are kept as model "
            "inputs (pick the ones that matter)"
        )
    labels = [str(label).strip() for label in features.values()]
    if any(not label for label in labels):
        raise ValueError("features: a label is blank")
    reserved = {loose_key(n): n for n in (*fields, *RESERVED_NAMES[kind])}
    clash = {label: reserved[loose_key(label)] for label in labels if loose_key(label) in reserved}
    if clash:
        shown = ", ".join(f"{a!r} (is {b})" for a, b in clash.items())
        raise ValueError(
            f"features: {shown}: the name of a canonical field; map the column under "
            "columns:, or give it another label ({column: label})"
        )
    seen: dict[str, str] = {}
    for label in labels:
        if loose_key(label) in seen:
            raise ValueError(f"features: {seen[loose_key(label)]!r} and {label!r} are one name")
        seen[loose_key(label)] = label
    twice = {c: f for f, c in mapped.items() if c in features}
    if twice:
        raise ValueError(f"features: column(s) already mapped to a canonical field: {twice}")
    return dict(zip(features, labels, strict=True))


def matched_columns(features: Mapping[str, str], available: Iterable[str]) -> dict[str, str]:
    """Each feature's column (name → column) as the file spells it, matched ignoring case and
    spaces as mapped columns are; a column the file lacks is a `ValueError` naming it (a model
    input is never blank by a typo)."""
    present = [c for c in available if c != "__line"]
    loose = {loose_key(c): c for c in present}
    out, unknown = {}, []
    for name, column in features.items():
        found = column if column in present else loose.get(loose_key(column))
        if found is None:
            unknown.append(column)
        else:
            out[name] = found
    if unknown:
        raise ValueError(f"features: no column(s) {unknown}; the file has {sorted(present)}")
    return out


#: Of one attribute in one slice: whether it is numbers, how many deals have it, the hashes of
#: its distinct values (`distinct_values`).
ValueCount = tuple[bool, int, np.ndarray]


def dataset_features(options: Mapping | None) -> list[str]:
    """The names of a dataset's own columns kept as model inputs (its mapping's `features:`)."""
    return list(DatasetOptions.from_dict(options).features)


def with_attributes(
    frame: pd.DataFrame, names: Sequence[str], text: Collection[str] = ()
) -> pd.DataFrame:
    """`frame` with its `attributes` (a dict per row, as the store keeps them) spread into one
    column per name (`infer_types`; those in `text` stay text), blank where a deal has none.
    Attributes not named are dropped (a feature the mapping no longer keeps)."""
    given = frame["attributes"] if "attributes" in frame else pd.Series(None, index=frame.index)
    frame = frame.drop(columns=["attributes"], errors="ignore")
    if not names:
        return frame
    return pd.concat([frame, infer_types(attribute_frame(given, names), text)], axis=1)


def attribute_frame(given: Iterable[object], names: Sequence[str]) -> pd.DataFrame:
    """Stored attributes (a dict per row, or nothing) as one column per name, untyped."""
    index = given.index if isinstance(given, pd.Series) else None
    rows = [a if isinstance(a, dict) else {} for a in given]
    return pd.DataFrame(rows, index=index, columns=list(names))


def infer_types(frame: pd.DataFrame, text: Collection[str] = ()) -> pd.DataFrame:
    """Columns whose present values are all numbers become float; the rest stay text, as do
    the columns named in `text` (a slice of a dataset typed as the whole dataset is:
    `numeric_columns`)."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        numbers = None if col in text else _numbers(values)
        out[col] = numbers if numbers is not None else values.astype("str").where(values.notna())
    return pd.DataFrame(out, index=frame.index)


def numeric_columns(frame: pd.DataFrame) -> dict[str, bool | None]:
    """Per column, whether `infer_types` makes it numbers (None where nothing is present): a
    column is numbers in a whole dataset where it is in every slice that has it."""
    return {
        str(col): (_numbers(frame[col]) is not None) if frame[col].notna().any() else None
        for col in frame.columns
    }


def _numbers(values: pd.Series) -> pd.Series | None:
    """`values` as floats where some are present and every present one is a number, else None:
    the one rule `infer_types` types a stored attribute by. Codes ("02134") are text."""
    numbers = pd.to_numeric(values, errors="coerce")
    present = values.notna()
    if present.any() and numbers[present].notna().all() and not written_as_codes(values):
        return numbers.astype("float64")
    return None


def identifiers(deals: pd.DataFrame, names: Iterable[str]) -> dict[str, str]:
    """Custom text attributes that name deals rather than describe them, with why: a category
    seen on one deal teaches nothing about another."""
    out = {}
    for col in names:
        values = deals[col]
        if is_numeric_dtype(values):
            continue
        present = values.dropna()
        why = identifier_reason(present.nunique(), len(present))
        if why:
            out[col] = why
    return out


def unaccented(value: str) -> str:
    """The value with its accents dropped ("Gagné" → "Gagne"), its words kept apart."""
    text = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def names_a_person(column: object) -> bool:
    """Whether a header names a person's name or title (`PERSON_HEADERS`): left out of a
    model's inputs like an identifier, whatever its values."""
    words = re.findall(r"[^\W_]+", unaccented(str(column)).casefold())
    if not words:
        return False
    return (
        " ".join(words) in PERSON_HEADERS
        or words[-1] in PERSON_WORDS
        or tuple(words[-2:]) in PERSON_PHRASES
    )


def identifier_notes(named: Mapping[str, str]) -> list[str]:
    """The notes a history says of the identifiers it leaves out (`identifiers`)."""
    return [f"{a}: {why}; left out" for a, why in named.items()]


def distinct_values(deals: pd.DataFrame, names: Iterable[str]) -> dict[str, ValueCount]:
    """Of each attribute in `names` that a slice of deals has: whether it is numbers, how many
    deals have it and its distinct values' hashes, what `identifiers_in` reads across slices."""
    out = {}
    for col in names:
        if col not in deals:
            continue
        values = deals[col]
        present = values.dropna().astype(str).to_numpy(dtype=object)
        out[col] = (is_numeric_dtype(values), len(present), np.unique(pd.util.hash_array(present)))
    return out


def identifiers_in(
    slices: Sequence[Mapping[str, ValueCount]], names: Iterable[str]
) -> dict[str, str]:
    """`identifiers` over slices (`distinct_values` of each): the text attributes among `names`
    a whole read would find identifiers, with why."""
    out = {}
    for col in names:
        seen = [s[col] for s in slices if col in s]
        if not seen or all(numeric for numeric, _, _ in seen):
            continue
        present = sum(n for _, n, _ in seen)
        distinct = len(np.unique(np.concatenate([h for _, _, h in seen])))
        why = identifier_reason(distinct, present)
        if why:
            out[col] = why
    return out


def identifier_reason(distinct: int, present: int) -> str | None:
    """Why a text attribute with `distinct` values on `present` deals names them (None where
    it does not): the rule `identifiers` applies, for counts made slice by slice too."""
    if present > IDENTIFIER_MIN and distinct >= IDENTIFIER_SHARE * present:
        return (
            f"{distinct:,} different values on {present:,} deals (an identifier or free "
            "text, not a property a model can learn from)"
        )
    return None


#: What the past win rates among model inputs are taken per (`features.DERIVED_FROM`).
RATE_BASES = ("owner", "account")


def rate_base_counts(deals: pd.DataFrame) -> dict[str, int]:
    """How many deals have an owner and an account (`unrated_bases` reads the sums of slices)."""
    return {f: int(deals[f].notna().sum()) if f in deals else 0 for f in RATE_BASES}


def unrated_bases(present: dict[str, int]) -> dict[str, str]:
    """The rate bases no deal has (an export without accounts), with the note: every deal's
    "account's past win rate" would be the overall rate, a reason about nothing."""
    return {
        f: f"{f}: no deal has one, so its past win rate is only the overall one; left out of "
        "model inputs"
        for f in RATE_BASES
        if present.get(f, 0) == 0
    }


#: A value of digits with a leading zero ("02134", "0612345678"): a code, not a number.
_LEADING_ZERO = re.compile(r"\s*0\d+\s*")


def written_as_codes(values: pd.Series) -> bool:
    """Whether a column of digits is codes (zip codes, phone numbers): a value written with a
    leading zero, which a number drops ("02134" would read 2,134). Such a column stays text."""
    if is_numeric_dtype(values):
        return False
    text = values.dropna().astype("str")
    return bool(text.str.fullmatch(_LEADING_ZERO).any())
