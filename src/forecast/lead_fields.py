"""A lead's fields as a CRM sends them, matched to the model's inputs, and what a score could
not use said in its notes.

A CRM sends its own spelling of a field ("origen" for "Origen", "Fecha de creacion" for "Fecha
de creación", "lead_source" for "Lead Source"): a name the model does not know is matched as
the import matches headers (case, accents, spaces, dashes and underscores ignored) where that
finds one input alone, and said. A name that matches none is ignored and said, so a misspelt
field is not silently scored as blank; a lead none of whose fields the model reads is said to
be scored with every input blank. A value the model could not use (text in a number field, a
text value never seen in training) is said for every such input, not only where it is among
the top reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from forecast import crm_field_names
from forecast.data.attributes import unaccented
from forecast.data.loose import loose
from forecast.data.mapping import loose_key
from forecast.data.yes_no import MARKS, YES_NO_LABELS
from forecast.modeling import lead_dates
from forecast.modeling.reasons import is_blank

#: Names listed in a note at most (the rest counted).
LISTED = 8


class LeadFields:
    """One served lead model's inputs by name: `matched` reads a request's rows against them."""

    def __init__(
        self,
        inputs: Sequence[str],
        created_names: Sequence[str],
        levels: Mapping[str, Sequence[str]] | None = None,
        zero_one: Iterable[str] = (),
    ) -> None:
        #: The model's inputs a client sends (the date inputs are made from the creation date).
        self.created_names = tuple(created_names)
        self.inputs = [c for c in inputs if c not in lead_dates.DATE_INPUTS]
        self._inputs = frozenset(self.inputs)
        self.known = self._inputs | frozenset(created_names)
        #: The creation date's names, where the model reads it (its date inputs).
        self._created = (
            frozenset(created_names) if any(c in lead_dates.DATE_INPUTS for c in inputs) else None
        )
        read = [*self.inputs, *(f"the creation date ({n})" for n in created_names[-1:])]
        self._read = _listed(read if self._created else self.inputs)
        loose: dict[str, list[str]] = {}
        for name in self.known:
            loose.setdefault(_loose(name), []).append(name)
        #: Each loose spelling's one name. Names that are all the creation date ("Created At"
        #: beside `created_at`: a Marketo dataset's) mean one field, read under the first of
        #: `created_names`; any other names sharing a spelling are ambiguous, and none is read.
        self._loose = {
            key: names[0] if len(names) == 1 else self.created_names[0]
            for key, names in loose.items()
            if len(names) == 1 or set(names) <= set(self.created_names)
        }
        for api_name, labels in crm_field_names.LABELS.items():  # a CRM API's own name
            own = next((self._loose[k] for k in map(_loose, labels) if k in self._loose), None)
            if own is not None:
                self._loose.setdefault(_loose(api_name), own)
        #: The inputs that are a yes/no, with their learnt spelling of each: text inputs whose
        #: values are a yes and a no (`levels`: each text input's learnt values), and number
        #: inputs learnt as 0/1 (`zero_one`), spelt 1 and 0.
        self._yes_no: dict[str, dict[int, Any]] = {
            col: spelt for col, lv in (levels or {}).items() if (spelt := yes_no_spelling(lv))
        }
        self._yes_no |= {col: {1: 1, 0: 0} for col in zero_one if col in self._inputs}
        #: Each one's learnt spellings and blank: a value already so spelt (the usual request)
        #: costs one lookup.
        self._as_learnt = {
            col: frozenset({None, *spelt.values()}) for col, spelt in self._yes_no.items()
        }

    def matched(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], list[list[str]]]:
        """The rows with each loosely spelt name under the model's own, and per row its notes:
        names read as another, names ignored, no input sent at all."""
        known, inputs = self.known, self._inputs
        out: list[Mapping[str, Any]] = []
        notes: list[list[str]] = []
        for row in rows:
            said: list[str] = []
            if not row.keys() <= known:  # a set comparison in C: most rows are all known
                row, said = self._matched_row(row, [name for name in row if name not in known])
            if (
                inputs
                and inputs.isdisjoint(row)
                and (self._created is None or self._created.isdisjoint(row))
            ):
                said.append(
                    "no field the model reads was sent: every input was scored as blank (it "
                    f"reads {self._read})"
                )
            out.append(row)
            notes.append(said)
        return out, notes

    def _matched_row(
        self, row: Mapping[str, Any], unknown: list[str]
    ) -> tuple[Mapping[str, Any], list[str]]:
        renamed: dict[str, str] = {}
        ignored, twice = [], []
        for name in unknown:
            own = self._loose.get(_loose(name))
            if own is None:
                ignored.append(name)
            elif own in row or own in renamed.values():  # the field sent under two spellings
                twice.append(f"{name!r} is another spelling of {own!r}, sent already: ignored")
            else:
                renamed[name] = own
        said = [f"{name!r} was read as {own!r}" for name, own in renamed.items()] + twice
        if ignored:
            said.append(f"not fields the model reads, ignored: {_listed(ignored, quoted=True)}")
        if renamed:
            row = {renamed.get(name, name): value for name, value in row.items()}
        return row, said

    def columns_as_learnt(self, columns: Sequence[str]) -> dict[str, str]:
        """A file's columns that are a model input spelt otherwise ('original source',
        'email_opens'), each with the input's own name, as `matched` reads a request's fields:
        a column whose own name the file holds too is left as it is."""
        present = set(columns)
        renamed: dict[str, str] = {}
        for name in columns:
            own = None if name in self.known else self._loose.get(_loose(str(name)))
            if own is not None and own not in present and own not in renamed.values():
                renamed[name] = own
        return renamed

    def spelt_as_learnt(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """The row with each yes/no input's value in the spelling training learnt: a JSON
        `true` where the export wrote "TRUE", "Yes" or "x", "no" where it wrote "No", 1 and 0
        where it wrote 1 and 0 (a CRM's API sends a checkbox as a boolean or a word, its export
        as another word or a number; either was scored as blank). Text that says neither ("N/A",
        "maybe") is left as sent: scored as blank, as any number input's, and the notes say so."""
        spelt: dict[str, Any] | None = None
        for col, words in self._as_learnt.items():
            value = row.get(col)
            try:
                if value in words:
                    continue
            except TypeError:  # a value that is no key (a list): no yes/no
                continue
            meaning = _yes_no_meaning(value)
            if meaning is None:  # "N/A", "maybe": scored as blank, which the notes say
                continue
            learnt = self._yes_no[col].get(meaning)
            if learnt != value:
                spelt = spelt if spelt is not None else dict(row)
                spelt[col] = learnt
        return row if spelt is None else spelt


def yes_no_spelling(levels: Sequence[str]) -> dict[int, str | None]:
    """A text input's learnt spelling of yes (1) and no (0) where its values are those and
    nothing else ("TRUE"/"FALSE", "Sí"/"No"; a lone mark such as "x", ticked, beside blanks has
    no for blank); empty for any other input."""
    spelling: dict[int, str | None] = {}
    for level in levels:
        said = loose(level)
        meaning = YES_NO_LABELS.get(said)
        if meaning is None and len(levels) == 1 and said in MARKS:
            meaning = 1
        if meaning is None or meaning in spelling:
            return {}
        spelling[meaning] = level
    if 1 not in spelling:  # yes never learnt: a yes is said as not learnt, not blanked
        return {}
    spelling.setdefault(0, None)  # a mark and blanks: no is blank
    return spelling


def _yes_no_meaning(value: object) -> int | None:
    """1 or 0 for a value that says yes or no (a boolean, 1 or 0, or a word as in a label)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        text = loose(value)
        return YES_NO_LABELS.get(text, 1 if text in MARKS else None)
    return None


def _loose(name: str) -> str:
    return loose_key(unaccented(name))


def _listed(names: Sequence[str], quoted: bool = False) -> str:
    shown = [repr(n) if quoted else n for n in names[:LISTED]]
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(shown) + more


def unread_value(label: str, value: object, levels: Mapping[Any, Any] | None) -> str:
    """A sent value the model could not use, said: text in a number field, or a text value
    training never had (or had too rarely to learn from), with the value training has that
    differs only in case where there is one."""
    if levels is None:
        return f"{label} = {value!r} is not a number: scored as blank"
    text = str(value)
    alike = _folded(levels).get(text.casefold(), [])
    hint = f" (training has {alike[0]!r})" if len(alike) == 1 else ""
    return f"{label} = {text!r} was not learnt in training{hint}: scored as blank"


def _folded(levels: Mapping[Any, Any]) -> dict[str, list[str]]:
    """A text input's levels by their casefold, made once per levels (a plan's live as long as
    its model is served), not once per value said."""
    kept = _FOLDED.get(id(levels))
    if kept is None or kept[0] is not levels:
        if len(_FOLDED) >= FOLDED_KEPT:
            _FOLDED.clear()
        folded: dict[str, list[str]] = {}
        for level in levels:
            if isinstance(level, str):
                folded.setdefault(level.casefold(), []).append(level)
        kept = _FOLDED[id(levels)] = (levels, folded)
    return kept[1]


_FOLDED: dict[int, tuple[Mapping[Any, Any], dict[str, list[str]]]] = {}
FOLDED_KEPT = 256


def say_unread_values(
    plan: Sequence[tuple[str, Mapping[Any, Any] | None]],
    rows: Sequence[Mapping[str, Any]],
    matrix: np.ndarray,
    check: Iterable[int],
    labels: Mapping[str, str],
    notes: list[list[str]],
) -> None:
    """Each value of the rows `check` that reached the model as a blank though sent (`plan`:
    each input's column and text levels, as `matrix` encodes the rows), said in its notes."""
    for i in check:
        row = rows[i]
        for (col, levels), x in zip(plan, matrix[i].tolist(), strict=True):
            # NaN: a blank reached the model; said where the row sent a value there
            if x != x and not is_blank(value := row.get(col)):
                notes[i].append(unread_value(labels.get(col, col), value, levels))


def say_no_time_of_day(
    date_inputs: Sequence[str],
    created_column: str | None,
    rows: Sequence[Mapping[str, Any]],
    notes: list[list[str]],
) -> None:
    """A creation date sent without a time of day, where the model reads the hour: the hour is
    scored as blank, and said (the training leads may all have had one)."""
    hour, created = lead_dates.HOUR, lead_dates.CREATED
    if hour not in date_inputs:
        return
    for i, row in enumerate(rows):
        if row.get(hour) is None and row.get(created) not in (None, ""):
            sent = (
                created if created_column is None or created_column not in row else created_column
            )
            notes[i].append(_no_time_of_day(sent))  # under the name it came by


def _no_time_of_day(name: str) -> str:
    """The note on a creation date (sent as `name`) without a time of day: its hour is blank."""
    return (
        f"{name!r} has no time of day: {lead_dates.LABELS[lead_dates.HOUR]!r} was scored as blank"
    )


def say_undated(
    date_inputs: Sequence[str],
    created_column: str | None,
    rows: Sequence[Mapping[str, Any]],
    notes: dict[int, list[str]],
) -> None:
    """A batch's lead with a blank creation date, where the model reads it: it was scored as
    undated (`lead_dates.with_date_inputs`, not strict), which its notes say, so a reason from
    its day or hour is not taken for the lead's own. And, where the model reads the hour, one
    whose date has no time of day (midnight to the second): its hour was scored as blank, as
    the API says of such a date sent (`say_no_time_of_day`)."""
    if not date_inputs:
        return
    name = created_column or lead_dates.CREATED  # the column the batch's file had it in
    labels = " and ".join(repr(lead_dates.LABELS[c]) for c in date_inputs)
    said = f"{name!r} is blank: the lead was scored as undated ({labels} blank)"
    # A date read (its weekday known) without its hour: a date with no time of day.
    day, hour = lead_dates.WEEKDAY, lead_dates.HOUR
    timed = day in date_inputs and hour in date_inputs
    no_time = _no_time_of_day(name)
    for i, row in enumerate(rows):
        if is_blank(row.get(lead_dates.CREATED)):
            notes.setdefault(i, []).append(said)
        elif timed and row.get(hour) is None and row.get(day) is not None:
            notes.setdefault(i, []).append(no_time)
