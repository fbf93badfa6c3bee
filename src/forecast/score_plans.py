"""How a fitted model's inputs are read when it scores: the plan, and the inputs it never reads.

A plan gives each model input, in the model's order, its text levels' codes (`plan_of`, made
once per encoder). A boosted model whose trees never split on an input gives every value of it
the same score, so scoring need not encode it, and its notes do not say a value of it "was not
learnt" (a value of an input the model does not read changes nothing): `read_plan` marks such an
input `IGNORED`, encoded as blank and never looked up. Models without trees (a logistic
regression, naive Bayes) read every input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from forecast.data.name_text import clean_name


class Levels(dict[str | None, float]):
    """A text input's code per level (and `BLANK` for None), as a scoring plan reads it.

    `levels[value]` (the API's row reads it so) finds a value sent otherwise than the import
    reads text (" Google ", an NFD "Zoë", a no-break space: `clean_name`) as the level training
    learnt, and NaN where none is; only a value not found as sent is cleaned, so a usual row
    pays nothing. `get` finds values as sent only (a batch cleans its misses itself:
    `text_levels.text_codes`)."""

    def __missing__(self, key: object) -> float:
        if self and key.__class__ is str:  # (`IGNORED` has no level to find)
            return self.get(clean_name(key), math.nan)
        return math.nan


#: A plan's levels for an input the model does not read: no value is a level of it.
IGNORED = Levels()

#: Each model's (model, plan given, plan read) as last made: `id(model)` → that triple.
_READ: dict[int, tuple[Any, Any, list[tuple[str, Any]]]] = {}
_KEPT = 64


def read_plan(model: Any, plan: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """`plan` (one entry per input, in the model's order) with the inputs `model` does not read
    marked `IGNORED`; the plan itself where it reads all, or has no trees. Made once per model
    and plan (a refit makes a new plan)."""
    kept = _READ.get(id(model))
    if kept is not None and kept[0] is model and kept[1] is plan:
        return kept[2]
    used = _split_on(model, len(plan))
    read = (
        plan
        if used is None
        else [(col, levels if used[j] else IGNORED) for j, (col, levels) in enumerate(plan)]
    )
    if len(_READ) >= _KEPT:
        _READ.clear()
    _READ[id(model)] = (model, plan, read)
    return read


def _split_on(model: Any, width: int) -> np.ndarray | None:
    """Per input, whether any tree splits on it; None where that is unknown or all are."""
    booster = getattr(model, "booster_", None)
    if booster is None or not hasattr(booster, "feature_importance"):
        return None
    try:
        splits = np.asarray(booster.feature_importance("split"))
    except Exception:  # noqa: BLE001 - a booster that cannot say: read every input
        return None
    if len(splits) != width or (splits > 0).all():
        return None
    return splits > 0


#: Each encoder's (codes, columns, plan) as last read: `id(encoder)` → ((encoder, codes,
#: columns), plan). Kept for few encoders (a served model's, its teams'); past that, afresh.
_PLANS: dict[int, tuple[tuple[Any, Any, Any], list[tuple[str, Levels | None]]]] = {}
_PLANS_KEPT = 64


#: The code a plan's levels give a blank (None) text value: read as NaN, as no level is; kept
#: apart so a batch finds the values that are not blank and found no level without reading the
#: blanks again. No level's code is negative.
BLANK = -1.0


def plan_of(encoder: Any) -> list[tuple[str, Levels | None]]:
    """(column, {level: code} or None for a number) per model input, in the model's order:
    made once per encoder, not per request (about a microsecond a row for ten inputs). Made
    again if the encoder's codes or columns are replaced (a refit)."""
    codes = encoder._codes  # {column: {level: code}}, built by the encoder from its `levels`
    columns = encoder.columns
    kept = _PLANS.get(id(encoder))
    if kept is not None:
        (same, kept_codes, kept_columns), plan = kept
        if same is encoder and kept_codes is codes and kept_columns is columns:
            return plan
    if len(_PLANS) >= _PLANS_KEPT:
        _PLANS.clear()
    # Codes as floats: numpy takes a float as it is, an int it converts (a tenth of a batch).
    plan = [
        (col, Levels({**{level: float(code) for level, code in codes[col].items()}, None: BLANK}))
        if col in codes
        else (col, None)
        for col in columns
    ]
    _PLANS[id(encoder)] = ((encoder, codes, columns), plan)
    return plan
