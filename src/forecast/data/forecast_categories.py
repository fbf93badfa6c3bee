"""Forecast categories: the four canonical ones, and other CRMs' names for them.

A deal's forecast category (the rep's call: Pipeline, Best Case, Commit, Omitted) is read from
an export's main file or its history file by the same rule: matched ignoring case, spaces,
dashes and underscores, other CRMs' names read as theirs, anything else a problem naming what
is accepted (`NOT_A_CATEGORY`).
"""

from __future__ import annotations

from forecast.data.mapping import loose_key

FORECAST_CATEGORIES = ("Pipeline", "Best Case", "Commit", "Omitted")
#: Other CRMs' names for the canonical categories, compared ignoring case, spaces, dashes and
#: underscores: HubSpot's stock labels and internal values, and Salesforce's "Closed". A won
#: deal's "Closed" counts as "Commit" (Salesforce rolls Closed into the Commit forecast); a lost
#: deal's category is "Omitted", as Salesforce sets it.
FORECAST_CATEGORY_ALIASES = {
    "notforecasted": "Omitted",
    "omit": "Omitted",
    "closed": "Commit",
    "closedwon": "Commit",
    "closedlost": "Omitted",
    "forecast": "Commit",  # Salesforce's API name of Commit (ForecastCategory)
}
#: The problem a value that is no category is, naming those accepted.
NOT_A_CATEGORY = "forecast category not one of " + ", ".join(
    [*FORECAST_CATEGORIES, "Not forecasted", "Closed won", "Closed lost"]
)


def canonical_forecast_category(value: object) -> str | None:
    """The canonical forecast category a CRM's label stands for (None: not one of them)."""
    known = {loose_key(c): c for c in FORECAST_CATEGORIES}
    return {**FORECAST_CATEGORY_ALIASES, **known}.get(loose_key(value))
