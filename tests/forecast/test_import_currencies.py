"""The currency of each imported deal: its currency column's, else the one its amount names
("€2,000"), else the mapping's; an amount naming another currency than its column is a bad row,
and deals in several currencies are said once (revenue adds amounts as they are)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.currencies import column_codes, disagrees, stated
from forecast.data.importing import read_export
from forecast.errors import ImportRejected
from tests.forecast import test_import_options as import_options
from tests.forecast.test_import_options import write

WITH_CURRENCY = import_options.DEALS.replace(
    "  amount: Amount\n", "  amount: Amount\n  currency: Currency\n"
)


def deals(folder, rows: list[tuple[str, str]], header: str = "Deal ID,Stage,Amount,Currency"):
    lines = [
        f'D{i},New,"{amount}",{currency},2024-02-01,' for i, (amount, currency) in enumerate(rows)
    ]
    return write(folder, "deals.csv", "\n".join([f"{header},Created,Closed", *lines]))


def test_an_export_without_a_currency_column_takes_the_currency_its_amounts_name(tmp_path):
    file = write(
        tmp_path,
        "deals.csv",
        'Deal ID,Stage,Amount,Created,Closed\nD1,New,"€2,000.50",2024-02-01,\n'
        "D2,New,1500 GBP,2024-02-01,\nD3,New,$700,2024-02-01,\nD4,New,900,2024-02-01,\n",
    )
    m = import_options.mapping(tmp_path, "currency: CHF\n")
    export = read_export(file, m)
    got = export.opportunities.set_index("id")["currency"].to_dict()
    # "$" is shared by many dollars and pesos: it names none, so the mapping's currency stays
    assert got == {"D1": "EUR", "D2": "GBP", "D3": "CHF", "D4": "CHF"}


def test_an_amount_in_another_currency_than_its_column_is_a_bad_row_naming_both(tmp_path):
    file = deals(tmp_path, [("€2,000", "USD"), ("$500", "CAD"), ("700", "EUR"), ("£9", "gbp")])
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, import_options.mapping(tmp_path, base=WITH_CURRENCY))
    report = rejected.value.report
    assert report.counts["amount in another currency than the currency column"] == 1
    assert report.bad_rows == 1
    assert any("€2,000 vs USD" in str(example) for example in report.examples)


def test_deals_in_several_currencies_are_said_once_with_their_counts(tmp_path):
    rows = [("100", "USD")] * 3 + [("200", "EUR")] * 2
    export = read_export(
        deals(tmp_path, rows), import_options.mapping(tmp_path, base=WITH_CURRENCY)
    )
    assert export.opportunities["currency"].tolist() == ["USD"] * 3 + ["EUR"] * 2
    [said] = [n for n in export.report.notes if "currencies" in n]
    assert "deals in 2 currencies (USD 3, EUR 2)" in said and "converted" in said


def test_one_currency_says_nothing(tmp_path):
    export = read_export(
        deals(tmp_path, [("100", "usd"), ("$5", "USD")]),
        import_options.mapping(tmp_path, base=WITH_CURRENCY),
    )
    assert set(export.opportunities["currency"]) == {"USD"}
    assert not [n for n in export.report.notes if "currencies" in n]


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("€12", "EUR"),
        ("USD 3,500", "USD"),
        ("7 gbp", "GBP"),
        ("US$5", "USD"),
        ("C$ 10", "CAD"),
        ("R$ 5", "BRL"),
        ("12 RMB", "CNY"),
        ("$5", "$"),
        ("¥300", "¥"),
    ],
)
def test_the_currency_an_amount_names(written, code):
    assert stated(pd.Series([written])).tolist() == [code]


def test_a_shared_symbol_agrees_with_every_currency_it_stands_for():
    written = pd.Series(["$5", "$5", "¥3", "¥3"])
    column = pd.Series(["CAD", "EUR", "JPY", "CNY"])
    assert disagrees(stated(written), column).tolist() == [False, True, False, False]


def test_the_mappings_exchange_rates_convert_amounts_and_say_so(tmp_path):
    rows = [("100", "USD"), ("200", "EUR"), ("€50", ""), ("300", "GBP"), ("10", "JPY")]
    m = import_options.mapping(tmp_path, "exchange_rates: {eur: 1.5, GBP: 2}\n", base=WITH_CURRENCY)
    export = read_export(deals(tmp_path, rows), m)
    got = export.opportunities.set_index("id")[["amount", "currency"]]
    assert got["amount"].tolist() == [100.0, 300.0, 75.0, 600.0, 10.0]
    assert got["currency"].tolist() == ["USD", "USD", "USD", "USD", "JPY"]
    notes = export.report.notes
    assert (
        "amounts converted to USD by the mapping's exchange_rates: 2 from EUR at 1.5, "
        "1 from GBP at 2" in notes
    )
    [several] = [n for n in notes if "currencies" in n]  # JPY has no rate: still said
    assert "deals in 2 currencies (USD 4, JPY 1)" in several


@pytest.mark.parametrize("rates", ["{EURO: 1.1}", "{EUR: 0}", "{EUR: -2}", "{EUR: .inf}"])
def test_an_exchange_rate_that_cannot_convert_is_refused_naming_it(tmp_path, rates):
    from forecast.data.mapping import load_mapping
    from forecast.errors import InvalidInput

    with pytest.raises(InvalidInput, match="exchange_rates"):
        load_mapping(import_options.mapping(tmp_path, f"exchange_rates: {rates}\n"))


def test_a_currency_named_in_the_plural_reads_as_its_code(tmp_path):
    named = pd.Series(["US Dollars", "Euros", "Pounds Sterling", "Swiss Francs", "US Dollar"])
    assert column_codes(named).tolist() == ["USD", "EUR", "GBP", "CHF", "USD"]
    file = deals(tmp_path, [("100", "US Dollars"), ("200", "Euros")])
    export = read_export(file, write(tmp_path, "mapping.yaml", WITH_CURRENCY))
    assert export.opportunities.set_index("id")["currency"].to_dict() == {"D0": "USD", "D1": "EUR"}
