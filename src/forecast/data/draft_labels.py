"""How a drafted lead mapping reads a label column of words (a lead status): which values mean
converted, not converted, or not known yet, and how many sampled leads it leaves unlabelled."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from forecast.data.draft_names import CONVERTED_ALONE, YES_NO, name_key
from forecast.data.draft_stages import MAX_STAGES, quoted
from forecast.data.lead_outcomes import lead_outcome


def label_words(sample: pd.DataFrame, column: str) -> tuple[list[str], list[str]]:
    """The `value_fixes:` lines that read the label column's words, and what to check. A
    status not known yet (Pardot's "Open") is blank in this column alone: a file-wide
    missing_values would blank the same word in every other column (Marketo's "MQL" in
    "Revenue Stage")."""
    lines: list[str] = []
    checks: list[str] = []
    values = sample[column].dropna().astype("str").str.strip()
    distinct = values.value_counts().index.tolist()[:MAX_STAGES]
    if {v.casefold() for v in distinct} <= YES_NO:
        return lines, checks + _blank_share(sample[column], column)
    said = {v: lead_outcome(v) for v in distinct}
    if any(o == "1" and not _alone(v) for v, o in said.items()):
        # "Calificado" beside "Ganado" and "Cliente" is a step before the outcome
        said = {v: None if o == "1" and _alone(v) else o for v, o in said.items()}
    read = [(v, o) for v, o in said.items() if o is not None and v.casefold() not in YES_NO]
    pending = [v for v, o in said.items() if o is None]
    if read or pending:  # the values the import reads as they are need no fix
        lines.append(
            "value_fixes:   # which values mean converted (1), not (0), or not known "
            'yet (""): check'
        )
        lines.append(f"  {quoted(column)}:")
        lines += [f'    {quoted(v)}: "{o}"' for v, o in read]
        lines += [f'    {quoted(v)}: ""   # not known yet: scored, not learnt' for v in pending]
    if "1" in said.values() and "0" not in said.values():
        checks.append(
            f"no value of {column!r} says not converted: a model needs leads that did not "
            'convert; name those values ("0") or map a conversion date instead'
        )
    checks.append(
        f"{column!r} holds {', '.join(repr(v) for v in distinct)}: check which mean converted "
        '(1), not converted (0), and not known yet ("")'
    )
    return lines, checks + _blank_share(sample[column], column)


def no_label_check(sample: pd.DataFrame, mapped: Iterable[str]) -> str:
    """What to check where no column is named as the label: the unmapped columns whose few
    values say both outcomes in words ("Won" and "Lost" under "Lead Stage" or "Result"), which
    is likely the label under a name the draft does not know. Yes/no columns ("Do Not Email")
    are attributes, not offered."""
    found = []
    for column in (c for c in sample.columns if c not in set(mapped)):
        distinct = sample[column].dropna().astype("str").str.strip().unique()
        if len(distinct) > MAX_STAGES:
            continue
        said = {v: lead_outcome(v) for v in distinct if v.casefold() not in YES_NO}
        if {"0", "1"} <= set(said.values()):
            found.append(f"{str(column)!r} holds {', '.join(repr(v) for v in said)}")
    if not found:
        return "no column found for converted (the label)"
    return (
        "no column found for converted (the label) by its name; "
        f"{'; '.join(found[:3])}: where one says whether a lead converted, write converted: "
        'and value_fixes for its values (1 converted, 0 not, "" not known yet)'
    )


def _blank_share(values: pd.Series, column: str) -> list[str]:
    """Said where sampled leads have no label: a blank is not known yet (left out of training),
    which is wrong where it means the lead never converted (Pardot leaves "Opportunity Status"
    blank for a prospect with no opportunity), and the model then learns from the rest only."""
    blank = values.isna() | (values.astype("str").str.strip() == "")
    if not blank.any():
        return []
    return [
        f"{int(blank.sum()):,} of {len(values):,} sampled leads have no {column!r}: read as not "
        "known yet and left out of training; where a blank means the lead did not convert, add "
        f'"": "0" under {column!r} in value_fixes'
    ]


def _alone(value: str) -> bool:
    """Whether a status says converted only as the whole status ("Qualified")."""
    return name_key(value) in CONVERTED_ALONE and value.strip().casefold() not in YES_NO
