"""Where a drafted deal mapping reads the amount from when its column is not simply named so:
Odoo's "Expected Revenue" (the deal's amount, where Salesforce's is amount x probability) and
Close's `value`, written in cents beside its `value_formatted` ("$1,234.56")."""

from __future__ import annotations

import re

import pandas as pd

from forecast.data.draft_names import matched, name_key
from forecast.data.draft_stages import probabilities

#: Odoo's "Expected Revenue" as its translations name it.
EXPECTED_REVENUE = [
    "expectedrevenue", "revenuespere", "revenuattendu", "erwarteterumsatz", "ingresoesperado",
]  # fmt: skip
#: A formatted amount's decimal part ("$1,234.56"), left out to compare its whole units.
DECIMALS = re.compile(r"[.,]\d{1,2}\s*\D*$")


def expected_revenue(sample: pd.DataFrame, deals: dict[str, str]) -> dict[str, str]:
    """An "Expected Revenue" column as the amount, where no column is named as one and the
    export shows it is not amount x probability: a deal at probability 0 has one above 0 (Odoo
    keeps a lost deal's expected revenue). Salesforce's is 0 there, and is left unread."""
    if "amount" in deals or "rep_probability" not in deals:
        return {}
    found = matched([str(c) for c in sample.columns], {"amount": EXPECTED_REVENUE})
    column = found.get("amount")
    if column is None or column in deals.values():
        return {}
    revenue = pd.to_numeric(sample[column], errors="coerce")
    at_zero = (probabilities(sample[deals["rep_probability"]]) == 0).to_numpy()
    return {"amount": column} if bool((revenue[at_zero] > 0).any()) else {}


def in_cents(sample: pd.DataFrame, amount: str) -> str | None:
    """The formatted column beside `amount` ("value_formatted", "Value (formatted)") showing the
    amounts are written in cents: each formatted amount's whole units are its amount / 100
    (Close's `value` 123456 beside "$1,234.56"); None where they are not."""
    key = name_key(amount)
    formatted = next(
        (str(c) for c in sample.columns if name_key(c) in (key + "formatted", "formatted" + key)),
        None,
    )
    if formatted is None:
        return None
    both = sample[[amount, formatted]].dropna()
    cents = pd.to_numeric(both[amount], errors="coerce")
    shown = both[formatted].astype("str").str.replace(DECIMALS, "", regex=True)
    units = pd.to_numeric(shown.str.replace(r"\D", "", regex=True), errors="coerce")
    if both.empty or cents.isna().any() or units.isna().any() or not bool((cents >= 100).any()):
        return None
    return formatted if bool((cents // 100 == units).all()) else None


#: What a recurring deal's billing period is called, and the values that say it recurs.
PERIOD_NAMES = ("valueperiod", "billingperiod", "billingfrequency", "recurrence", "period")
RECURRING = ("monthly", "month", "annual", "annually", "annualy", "yearly", "year", "quarterly")


def recurring_check(sample: pd.DataFrame, amount: str) -> str | None:
    """A check where a column beside the amount says some deals recur (Close's `value_period`:
    one_time, monthly, annual): their amounts are read as written, one period's value, which
    a forecast adds to one-time deals' whole value; None where none does."""
    for column in sample.columns:
        key = name_key(column)
        if key not in PERIOD_NAMES and not key.startswith(name_key(amount) + "period"):
            continue
        values = sample[column].dropna().astype("str").str.strip().str.casefold()
        recurring = values[values.isin(RECURRING)]
        if len(recurring):
            kinds = ", ".join(sorted(recurring.unique()))
            return (
                f"{column!r}: {len(recurring):,} sampled deal(s) recur ({kinds}): {amount!r} is "
                "read as written, one period's value, and counted beside one-time deals' whole "
                "value; export the contract value instead if that is what a deal is worth to you"
            )
    return None
