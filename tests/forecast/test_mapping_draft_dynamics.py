"""A Dynamics 365 opportunity export ("Export to Excel", saved as CSV) drafts a deal mapping that
imports as it is: its hidden record id, "Est. Revenue", "Pipeline Phase" stages with the
outcomes from "Status", "Potential Customer", and a currency column that names its currency
("US Dollar") rather than coding it."""

from __future__ import annotations

import pandas as pd

from forecast.data import currencies, store
from forecast.data.draft_stages import says as _says
from forecast.data.importing import import_frame, read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import LOST_WORDS, WON_WORDS, draft_mapping
from tests.forecast.test_import_options import write

HEADER = (
    "(Do Not Modify) Opportunity,(Do Not Modify) Row Checksum,(Do Not Modify) Modified On,Topic,"
    "Potential Customer,Est. Close Date,Est. Revenue,Probability,Status,Status Reason,"
    "Pipeline Phase,Owner,Created On,Actual Close Date,Actual Revenue,Currency"
)
ROWS = [
    'a1,x1,3/20/2024 9:00 AM,10 units,Contoso,3/20/2024,"$5,000.00",100,Won,Won,4-Close,Ann,'
    '1/5/2024 10:22 AM,3/20/2024,"$5,000.00",US Dollar',
    'a2,x2,2/11/2024 9:00 AM,20 units,Fabrikam,2/11/2024,"$8,000.00",0,Lost,Out-Sold,2-Develop,'
    "Bo,1/9/2024 1:05 PM,2/11/2024,,US Dollar",
    'a3,x3,4/1/2024 9:00 AM,30 units,Litware,5/30/2024,"$2,500.00",40,Open,In Progress,'
    "2-Develop,Ann,2/2/2024 8:00 AM,,,US Dollar",
    'a4,x4,4/1/2024 9:00 AM,40 units,Northwind,6/30/2024,"$9,000.00",80,Open,In Progress,'
    "4-Close,Cy,2/20/2024 3:30 PM,,,US Dollar",
    'a5,x5,4/1/2024 9:00 AM,50 units,Contoso,6/1/2024,"$1,000.00",10,Open,In Progress,'
    "1-Qualify,Bo,3/1/2024 11:00 AM,,,US Dollar",
]


def test_a_dynamics_export_drafts_a_deal_mapping_that_imports_every_row(tmp_path):
    file = write(tmp_path, "Opportunities.csv", HEADER + "\n" + "\n".join(ROWS) + "\n")
    draft = draft_mapping(file)
    assert draft.kind == "opportunities"
    assert draft.columns["id"] == "(Do Not Modify) Opportunity"
    assert draft.columns["amount"] == "Est. Revenue"
    assert draft.columns["account"] == "Potential Customer"
    assert draft.columns["expected_close_at"] == "Est. Close Date"
    assert draft.columns["updated_at"] == "(Do Not Modify) Modified On"
    assert "stage: {first_of: [Status, Pipeline Phase]}" in draft.text
    # "4-Close" is an open phase, not a loss; the probabilities are the open deals' (a closed
    # deal's is its outcome's 0 or 100).
    assert '    - "4-Close"' in draft.text and "lost: Lost" in draft.text
    assert '"2-Develop": 0.4' in draft.text and '"4-Close": 0.8' in draft.text
    export = read_export(file, load_mapping(write(tmp_path, "draft.yaml", draft.text)))
    assert export.report.ok and len(export.opportunities) == len(ROWS)
    deals = export.opportunities.set_index("id")
    assert deals["status"].tolist() == ["won", "lost", "open", "open", "open"]
    assert deals["stage"].tolist() == ["Won", "Lost", "2-Develop", "4-Close", "1-Qualify"]
    assert set(deals["currency"]) == {"USD"} and deals.loc["a2", "amount"] == 8000.0


def test_outcome_words_are_read_as_whole_words():
    assert _says("Closed Won", WON_WORDS) and _says("ClosedLost", LOST_WORDS)
    assert _says("Lost - no budget", LOST_WORDS) and _says("Won", WON_WORDS)
    for open_stage in ("4-Close", "Close", "Closing", "Winning"):
        assert not _says(open_stage, WON_WORDS + LOST_WORDS), open_stage


def test_a_currency_column_may_name_its_currency(sqlite_engine):
    named = pd.Series(["US Dollar", "Euro", "pound sterling", "usd", None, "Dólar"])
    codes = currencies.column_codes(named)
    assert codes.fillna("-").tolist() == ["USD", "EUR", "GBP", "USD", "-", "DÓLAR"]
    frame = pd.DataFrame(
        {
            "id": ["D1", "D2", "D3"],
            "stage": ["Prospecting"] * 3,
            "amount": ["€100", "€200", "$300"],
            "currency": ["Euro"] * 3,
            "created_at": ["2024-03-01"] * 3,
            "updated_at": ["2024-03-01"] * 3,
        }
    )
    canonical = load_mapping("canonical")
    report = import_frame(sqlite_engine, frame, canonical, dataset="crm", on_error="skip")
    # "€" agrees with a column naming the euro; "$" cannot be a euro: that row is bad.
    assert report.bad_rows == 1
    deals = store.load_opportunities(sqlite_engine, "crm")
    assert deals["id"].tolist() == ["D1", "D2"] and set(deals["currency"]) == {"EUR"}
