"""What a lead status says of the outcome: converted, not converted, or not known yet.

The draft reads a status column's values with it to choose the label; the import reads it for
leads labelled by a conversion date, whose status says converted where the date is blank
(HubSpot's "Lifecycle Stage" of "customer" with no "Became a Customer Date").
"""

from __future__ import annotations

from forecast.data.attributes import unaccented
from forecast.data.draft_names import (
    CONVERTED_ALONE,
    CONVERTED_WORDS,
    NEGATIONS,
    NOT_CONVERTED_WORDS,
    name_key,
)
from forecast.data.draft_stages import WORDS, says
from forecast.data.yes_no import YES_NO_LABELS


def lead_outcome(value: str) -> str | None:
    """A lead status read as converted ("1"), not ("0"), or not known yet (None)."""
    if value.strip().casefold() in YES_NO_LABELS:  # yes/no, true/false, 1/0: read as they are
        return str(YES_NO_LABELS[value.strip().casefold()])
    if says(value, NOT_CONVERTED_WORDS):
        return "0"
    words = WORDS.findall(unaccented(value))
    if words and words[0].casefold() in NEGATIONS:
        rest = " ".join(words[1:])
        said = says(rest, CONVERTED_WORDS) or name_key(rest) in CONVERTED_ALONE
        return "0" if said else None  # "Not Contacted": not known yet
    if says(value, CONVERTED_WORDS) or name_key(value) in CONVERTED_ALONE:
        return "1"
    return None
