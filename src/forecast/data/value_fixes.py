"""A mapping's `value_fixes` matched as stage names are: ignoring case and surrounding spaces.

A draft writes the values it saw ("Open"); the next export of the same CRM, or another user's
settings, writes them "open" or "OPEN ", which an exact match left unfixed (a blank status read
as the stage was "unknown stage 'open'" on every open deal). A cell whose text differs from a
fix's value only in case or surrounding spaces is respelled as that value before the fixes run;
where two values of one column differ only so ("Open" and "open" fixed apart), each is kept to
its own exact spelling, as written.
"""

from __future__ import annotations

import pandas as pd

from forecast.data.loose import loose


def respelled(frame: pd.DataFrame, fixes: dict[str, dict[str, str]]) -> pd.DataFrame:
    """`frame` with each fixed column's cells spelled as the fix's value they match loosely
    (" OPEN" → "Open"): the exact match the fixes then make finds them. Other cells, blanks and
    columns without fixes are left as they are."""
    out = frame
    for column, values in fixes.items():
        if column not in frame.columns or not values:
            continue
        spelled: dict[str, str] = {}
        twice: set[str] = set()
        for value in values:
            key = loose(value)
            if key in spelled:
                twice.add(key)
            spelled[key] = value
        spelled = {k: v for k, v in spelled.items() if k not in twice and k}
        cells = frame[column]
        found = {v: spelled.get(loose(v)) for v in cells.dropna().unique()}
        as_text = cells.map(found)
        hit = as_text.notna() & ~cells.isin(list(values))
        if hit.any():
            if out is frame:
                out = frame.copy()
            out[column] = cells.astype("object").where(~hit, as_text)
    return out
