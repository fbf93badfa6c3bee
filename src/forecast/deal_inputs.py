"""An open deal sent by a CRM as the deal model's inputs: its stage checked against the
dataset's, its age and time in stage as of the scoring date, its owner's and account's past
win rates, and the dataset's own attributes by name. The rep's own probability, which the
model does not read, is checked against the dataset's scale (0–1, or 0–100 for percents)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from forecast import features as feat
from forecast.data import store
from forecast.data.rows import PERCENTS_NEED_SCALE
from forecast.errors import InvalidInput
from forecast.history import as_timestamp
from forecast.model_set import DealContext


def deal_row(
    context: DealContext,
    deal: Mapping[str, Any],
    as_of: object = None,
    rates: feat.WinRates | None = None,
) -> dict:
    """The deal model's inputs for an open deal sent by a CRM, as of now (or `as_of`, with the
    rep's and account's past win rates as of then: `rates`, else `rates_as_of`)."""
    stage_name = deal.get("stage")
    if stage_name is None or not context.stages.is_known(str(stage_name)):
        raise InvalidInput(
            f"stage: {stage_name!r} is not a stage of dataset '{context.dataset}'; expected one "
            f"of {list(context.stages.open_stages)}"
        )
    stage = context.stages.canonical(str(stage_name))
    if stage in (context.stages.won, context.stages.lost):
        raise InvalidInput(f"stage: {stage!r} is an outcome; only open deals are scored")
    _check_rep_probability(context, deal.get("rep_probability"))
    t = as_timestamp(as_of) if as_of is not None else pd.Timestamp(store.utcnow())
    created = _when(deal.get("created_at"), "created_at")
    entered = _when(deal.get("stage_entered_at"), "stage_entered_at") or created
    dates = (("created_at", created), ("stage_entered_at", entered))
    for name, when in dates if as_of is not None else ():
        if when is not None and when > t:
            raise InvalidInput(
                f"{name}: {when.isoformat()} is after as_of ({t.isoformat()}): a deal scored "
                "as of a date must exist by then"
            )
    row = {k: deal.get(k) for k in feat.DEAL_FEATURES if k in deal}
    row.update(_attributes(context, deal.get("attributes")))
    row["stage"] = stage
    row["stage_index"] = context.stages.order(stage)
    row["age_days"] = (t - created).total_seconds() / 86_400 if created is not None else None
    row["days_in_stage"] = (t - entered).total_seconds() / 86_400 if entered is not None else None
    rates = rates if rates is not None else rates_as_of(context, as_of)
    row.update(rates.lookup(deal.get("owner"), deal.get("account")))
    return row


def rates_as_of(context: DealContext, as_of: object = None) -> feat.WinRates:
    """Reps' and accounts' past win rates as of `as_of` (the deals closed before it), or as of
    now (kept with the context): a deal scored as of a past date must not read later outcomes."""
    if as_of is None:
        return context.win_rates
    return context.win_rates_at(as_of)


def _attributes(context: DealContext, given: object) -> dict[str, Any]:
    """A request's `attributes`: the dataset's own columns kept as model inputs (its mapping's
    `features:`), by name; a name it does not declare is refused, naming it."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidInput(f"attributes: give {{name: value}}, got {given!r}")
    declared = context.history.attributes
    unknown = sorted(str(k) for k in given if k not in declared)
    if unknown:
        kept = ", ".join(repr(a) for a in declared) or "none"
        raise InvalidInput(
            f"attributes: {unknown} not features of dataset '{context.dataset}' (it keeps: {kept})"
        )
    return {str(k): v for k, v in given.items()}


def _check_rep_probability(context: DealContext, value: object) -> None:
    """A CRM sends the rep's probability as its export writes it: on the scale the dataset's
    import read it on (`rep_probability_scale`), so 75 is a call of 75% where that is 100."""
    if value is None:
        return
    scale = context.history.options.rep_probability_scale
    if not isinstance(value, int | float):
        raise InvalidInput(f"rep_probability: {value!r} is not a number")
    if 0 <= value <= scale:
        return
    hint = f"its import's rep_probability_scale: {scale:g}"
    if scale == 1:
        hint = f"{PERCENTS_NEED_SCALE} in its mapping"
    raise InvalidInput(
        f"rep_probability: {value:g} is outside 0–{scale:g}, the scale of dataset "
        f"'{context.dataset}' ({hint})"
    )


def _when(value: object, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return as_timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{name}: {value!r} is not a date") from exc


#: Scored as of now this long (a quarter) after its dataset's last record, a deal is told that
#: its age and days in stage count to today: a demo or an old export's deal scored today
#: otherwise reads hundreds of days in its stage with nothing to say why.
STALE_AFTER_DAYS = 91


def as_of_note(context: DealContext, deal: Mapping[str, Any], as_of: object = None) -> str | None:
    """What a deal sent with its dates, scored as of now (no `as_of`) long after its dataset
    ends, is told; else None (the caller says nothing where no model reads the dates)."""
    dated = deal.get("created_at") is not None or deal.get("stage_entered_at") is not None
    if as_of is not None or context.data_end is None or not dated:
        return None
    now = pd.Timestamp(store.utcnow())
    days = (now - context.data_end) / pd.Timedelta(days=1)
    if days < STALE_AFTER_DAYS:
        return None
    return (
        f"scored as of now ({now.date()}), {days:.0f} days after dataset "
        f"'{context.dataset}' ends ({context.data_end.date()}): the deal's age and days in "
        "stage count to today; ?as_of=YYYY-MM-DD scores it as of another date"
    )
