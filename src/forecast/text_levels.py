"""How a text value sent for scoring finds the level training learnt: as sent, else as the
import reads text (`clean_name`: trimmed, composed, no-break spaces as spaces, no zero-width
characters).

The import cleans every text value before the model learns it, so " Google " in an export is
the level Google. A CRM pushing or scoring the same value with its stray space, an NFD "Zoë"
or a no-break space copied from a web page was read as a value never learnt: scored as blank
(and said so in its notes) though training learnt it. Only the values that find no level as
sent are cleaned, so a usual batch pays nothing for this: the cleaning is
`score_plans.Levels`'s subscript, which a row (the API's) and a batch's misses both go through.
"""

from __future__ import annotations

import math
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

from forecast.modeling.reasons import is_blank
from forecast.score_plans import BLANK, Levels

#: No positions.
NONE = np.empty(0, dtype=np.intp)


def text_codes(values: list[Any], levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """A text column's codes, each value's as `level` gives it, and the positions of the
    values that are not blank and found no level (new, or too rare in training). Most values
    are text or blank and are looked up at once; only where a value not found is neither (a
    number sent for a text input) are the values made `str` first, or, where "None" is a level
    (which a blank must not find), read one by one."""
    nan = math.nan
    try:
        # The plan's levels read a blank (None) as `BLANK`: only values that found no level
        # are NaN here, and a column of many blanks is not read twice to find the few.
        codes = np.fromiter(map(levels.get, values, repeat(nan)), float, len(values))
        missed = np.flatnonzero(np.isnan(codes))
        codes[codes == BLANK] = nan
        if len(missed) == 0:
            return codes, NONE
        lost = picked(values, missed)
        if sum(map(isinstance, lost, repeat(str))) == len(lost):
            found = np.fromiter(map(levels.__getitem__, lost), float, len(lost))  # cleaned
            codes[missed] = found
            return codes, unseen(values, missed[np.isnan(found)])  # never seen, or blank
        if "None" not in levels:  # a blank made "None" finds no level
            codes = np.fromiter(map(levels.__getitem__, map(str, values)), float, len(values))
            return codes, unseen(values, np.flatnonzero(np.isnan(codes)))
    except TypeError:  # a value that is no key (a list), or that will not say if it is None
        pass
    codes = np.array([level(v, levels) for v in values], dtype=float)
    return codes, unseen(values, np.flatnonzero(np.isnan(codes)))


def picked(values: list[Any], positions: np.ndarray) -> tuple[Any, ...]:
    """The values at `positions` (not empty), picked in C."""
    if len(positions) == 1:
        return (values[positions[0]],)
    return itemgetter(*positions.tolist())(values)


def unseen(values: list[Any], missed: np.ndarray) -> np.ndarray:
    """Of the positions `missed` (no level found), those whose value is not blank."""
    return np.array([i for i in missed.tolist() if not is_blank(values[i])], dtype=np.intp)


def level(value: Any, levels: Levels | None) -> Any:
    """A text input's code (NaN when blank or never seen); any other input as it is."""
    if levels is None:
        return value
    if value is None:
        return math.nan
    return levels[value if value.__class__ is str else str(value)]  # cleaned where not found
