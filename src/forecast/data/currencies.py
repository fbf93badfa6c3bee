"""The currency an amount states ("€2,000", "USD 3,500", "2 748 £"), checked against the deal's
own currency column, or taken as the deal's currency where the export has no such column.

A symbol some currencies share ("$": US, Canadian, Australian dollars, pesos; "¥": yen and yuan)
names no one currency: it agrees with any of them and never sets a deal's currency; a prefixed
one ("US$", "C$", "R$") or an ISO code does both. Revenue adds amounts as they are, so deals in
several currencies are said once per import (see `several_note`).
"""

from __future__ import annotations

import pandas as pd

from forecast.data.reading import AMOUNT, CURRENCY_CODES

#: What each symbol can stand for; one code: the symbol names it.
SYMBOLS: dict[str, frozenset[str]] = {
    "$": frozenset(
        "USD CAD AUD NZD HKD SGD TWD MXN ARS CLP COP BRL".split()  # dollars, pesos, the real
    ),
    "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}),
    "¥": frozenset({"JPY", "CNY", "RMB"}),
    "₹": frozenset({"INR"}),
    "₩": frozenset({"KRW"}),
    "₽": frozenset({"RUB"}),
    "₺": frozenset({"TRY"}),
    "₪": frozenset({"ILS"}),
    "₫": frozenset({"VND"}),
    "₴": frozenset({"UAH"}),
    "₦": frozenset({"NGN"}),
    "₱": frozenset({"PHP"}),
}
#: Prefixed symbols that name one currency.
PREFIXED = {
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "SG$": "SGD",
    "NT$": "TWD",
    "MX$": "MXN",
    "R$": "BRL",
    "E£": "EGP",
    "CN¥": "CNY",
    "JP¥": "JPY",
    "Rs.": "INR",
    "Rs": "INR",
}
#: Codes that are the same currency.
SAME = {"RMB": "CNY"}
#: A currency column may name the currency rather than code it (Dynamics 365 exports write
#: "US Dollar"): names compared ignoring case, spaces and punctuation.
NAMES = {
    "usdollar": "USD",
    "unitedstatesdollar": "USD",
    "dollarus": "USD",
    "euro": "EUR",
    "britishpound": "GBP",
    "poundsterling": "GBP",
    "britishpoundsterling": "GBP",
    "japaneseyen": "JPY",
    "swissfranc": "CHF",
    "canadiandollar": "CAD",
    "australiandollar": "AUD",
    "newzealanddollar": "NZD",
    "swedishkrona": "SEK",
    "norwegiankrone": "NOK",
    "danishkrone": "DKK",
    "polishzloty": "PLN",
    "indianrupee": "INR",
    "chineseyuan": "CNY",
    "yuanrenminbi": "CNY",
    "hongkongdollar": "HKD",
    "singaporedollar": "SGD",
    "southafricanrand": "ZAR",
    "mexicanpeso": "MXN",
    "brazilianreal": "BRL",
}
#: The plural of each currency's noun: "US Dollars" (SugarCRM's default currency's name),
#: "Euros", "Pounds Sterling" name the currency as the singular does.
_PLURALS = {
    "dollar": "dollars", "euro": "euros", "pound": "pounds", "franc": "francs",
    "krona": "kronor", "krone": "kroner", "zloty": "zlotys", "rupee": "rupees", "peso": "pesos",
    "real": "reais",
}  # fmt: skip
NAMES |= {
    name.replace(noun, plural, 1): code
    for name, code in list(NAMES.items())
    for noun, plural in _PLURALS.items()
    if noun in name
}


def column_codes(column: pd.Series) -> pd.Series:
    """A currency column's values as ISO codes: a code as it is (upper case), a currency's name
    as its code ("US Dollar" → USD); anything else upper-cased, as given."""
    text = column.astype("str").str.strip()
    upper = text.str.upper().where(column.notna())
    loose = text.str.casefold().str.replace(r"[^a-z]", "", regex=True)
    return loose.map(NAMES).where(~upper.isin(CURRENCY_CODES)).fillna(upper).replace("", None)


def stated(values: pd.Series) -> pd.Series:
    """Each amount's currency as written: an ISO code where it names one ("€" → EUR, "US$" →
    USD, "usd" → USD), the bare symbol where several share it ("$"), else missing. Amounts are
    parsed by the reader's own grammar (`reading.AMOUNT`), so what reads as a number with a
    currency is what states one."""
    text = values.dropna().astype("str")
    text = text[text.str.contains(r"[^\d.,+\-\s]")]  # a currency needs more than digits
    parts = text.str.extract(AMOUNT)
    written = parts["before"].where(parts["before"].fillna("") != "", parts["after"])
    written = written[written.fillna("") != ""]
    out = pd.Series(None, index=values.index, dtype=object)
    out[written.index] = written.map(_code)
    return out


def _code(written: str) -> str | None:
    upper = written.upper()
    if upper in CURRENCY_CODES:
        return SAME.get(upper, upper)
    return _mark_code(written)


def _mark_code(mark: str) -> str | None:
    if mark in PREFIXED:
        return PREFIXED[mark]
    symbol = mark[-1]
    names = SYMBOLS.get(symbol)
    if names is None:
        return None
    return next(iter(names)) if len(names) == 1 else symbol


def disagrees(amount_currency: pd.Series, currency: pd.Series) -> pd.Series:
    """Rows whose amount states a currency their currency column does not hold ("€2,000" on a
    USD deal); a shared symbol disagrees only with a currency it cannot stand for."""
    own = currency.astype("str").str.upper().replace(SAME)
    # A column value that is no code (nor a known name: `column_codes`) cannot be checked.
    given = amount_currency.notna() & currency.notna() & own.isin(CURRENCY_CODES)
    out = pd.Series(False, index=currency.index)
    for value in amount_currency[given].unique():
        names = SYMBOLS.get(value, frozenset({value}))
        rows = given & (amount_currency == value)
        out |= rows & ~own.isin(names)
    return out


def named(amount_currency: pd.Series) -> pd.Series:
    """The ISO code each amount names (a shared symbol names none)."""
    return amount_currency.where(~amount_currency.isin(SYMBOLS.keys()))


def several_note(counts: dict[str, int]) -> str | None:
    """A note when an import's deals are in more than one currency: revenue, forecasts and
    targets add amounts as they are, so a converted amount column is what they need."""
    if len(counts) < 2:
        return None
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{code} {n:,}" for code, n in ranked[:6]) + (" …" if len(ranked) > 6 else "")
    return (
        f"deals in {len(counts)} currencies ({shown}): revenue, forecasts and targets add their "
        "amounts as they are, unconverted; map `amount` to the export's converted amount "
        "(Salesforce 'Amount (converted)', HubSpot 'Amount in company currency'), give the "
        "mapping's exchange_rates ({EUR: 1.08}: one EUR in its currency), or import one "
        "currency's deals per dataset"
    )


def converted_note(converted: dict[str, int], rates: dict[str, float], to: str) -> str | None:
    """What the mapping's exchange rates converted, said once per import."""
    if not converted:
        return None
    said = ", ".join(
        f"{n:,} from {code} at {rates[code]:g}" for code, n in sorted(converted.items())
    )
    return f"amounts converted to {to.upper()} by the mapping's exchange_rates: {said}"


def currency_of(deals: pd.DataFrame, notes: list[str]) -> str | None:
    """The one currency of the deals' amounts; with several, None and a note in `notes`: the
    figures that add amounts (revenue, forecasts, KPIs, backtests) add them unconverted (the
    import's exchange_rates convert them)."""
    counts = deals["currency"].dropna().astype(str).value_counts() if "currency" in deals else None
    if counts is None or counts.empty:
        return None
    if len(counts) == 1:
        return str(counts.index[0])
    shown = ", ".join(f"{code} {n:,}" for code, n in counts.head(6).items())
    notes.append(
        f"the deals are in {len(counts)} currencies ({shown} deals): amounts are added "
        "unconverted; re-import with the mapping's exchange_rates to convert them"
    )
    return None
