"""A partial push (`PATCH`): only the fields a CRM changed, merged onto the stored deal.

CRMs' change events carry the changed properties alone (a HubSpot webhook names one property; a
Salesforce outbound message the fields its rule selects). A push is otherwise the deal's whole
state, where a field left out is unknown; a partial push keeps each field it leaves out as
stored, and `null` clears one (JSON Merge Patch, RFC 7396; `attributes` merge by name).

The merged deal is then pushed as a whole one, under the same lock and by the same rules, so
its observations, ties and checks are a whole push's. Two rules keep time honest:

- a partial push older than the stored state is not applied and not recorded (`stale`): the
  fields it leaves out are the stored state's, known only later, and would be recorded as
  observed at its older time;
- what the store estimated is not carried as if the CRM had sent it: an estimated amount (a
  dataset whose amounts are known only at close) is left to the import to estimate again, and
  an estimated creation to the import as a whole push leaves it. A close date is never carried:
  a deal sent won or lost keeps its stored close by the whole push's rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from forecast.data.tables import TRACKED_FIELDS
from forecast.errors import NotFound

#: Stored fields a partial push carries over as they are, where it leaves them out: the stage
#: and the fields with a history, but for those carried their own way (`merged`).
CARRIED = (
    "stage",
    *(f for f in TRACKED_FIELDS if f not in ("amount", "amount_estimated", "rep_probability")),
)
ATTRIBUTES = "attributes"


def merged_deals(
    sent: Sequence[Mapping[str, Any]],
    stored: Sequence[Mapping[str, Any] | None],
    dataset: str,
    features: Sequence[str],
    rep_probability_scale: float,
) -> tuple[list[dict[str, Any]], set[int]]:
    """Each partial push merged onto its stored deal (`stored`, in the same order), and the
    positions of those older than the stored state (checked as pushes, not written)."""
    stale = {
        i for i, (d, s) in enumerate(zip(sent, stored, strict=True)) if older_than_stored(d, s)
    }
    deals = [
        merged(
            d, s, dataset=dataset, features=features, rep_probability_scale=rep_probability_scale
        )
        for d, s in zip(sent, stored, strict=True)
    ]
    return deals, stale


def merged(
    sent: Mapping[str, Any],
    stored: Mapping[str, Any] | None,
    *,
    dataset: str,
    features: Sequence[str],
    rep_probability_scale: float,
) -> dict[str, Any]:
    """The whole deal a partial push makes of the stored one: `sent`'s fields (None clears
    one) over the stored values. A deal the store does not hold is a `NotFound`: a deal is
    created by a whole push, which says what every field is."""
    if stored is None:
        raise NotFound(
            f"no deal {sent.get('id')!r} in dataset {dataset!r} to update: create it with "
            "PUT /v1/opportunities/{id}, sending its whole state (stage and created_at at least)"
        )
    deal: dict[str, Any] = {name: stored.get(name) for name in CARRIED}
    if not stored.get("amount_estimated"):
        deal["amount"] = stored.get("amount")
    probability = stored.get("rep_probability")
    if probability is not None:  # stored as 0–1; a push is read on the dataset's scale
        deal["rep_probability"] = float(probability) * rep_probability_scale
    attributes = {
        k: v for k, v in (stored.get(ATTRIBUTES) or {}).items() if k in features and v is not None
    }
    deal.update({k: v for k, v in sent.items() if k != ATTRIBUTES})
    for name, value in (sent.get(ATTRIBUTES) or {}).items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    deal[ATTRIBUTES] = attributes or None
    return {k: v for k, v in deal.items() if v is not None}


def older_than_stored(deal: Mapping[str, Any], stored: Mapping[str, Any] | None) -> bool:
    """A partial push dated before the stored state: not applied, not recorded."""
    sent_updated = deal.get("updated_at")
    if stored is None or sent_updated is None:
        return False
    try:
        sent = pd.Timestamp(sent_updated)
    except (ValueError, TypeError, OverflowError):
        return False  # the whole push's check says what is wrong with it
    if pd.isna(sent):
        return False
    if sent.tzinfo is not None:
        sent = sent.tz_convert("UTC").tz_localize(None)
    return bool(sent < pd.Timestamp(stored["updated_at"]))
