"""A drafted mapping reads HubSpot's deal company column as the account: "Associated
Company" (and its "(Primary)" form in newer exports) was left unread, so a HubSpot deal
export's draft had no account and its KPIs and model no past win rate per account."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data.mapping_draft import draft_mapping


@pytest.mark.parametrize("header", ["Associated Company", "Associated Company (Primary)"])
def test_a_hubspot_company_column_is_the_account(tmp_path: Path, header: str) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame(
        {
            "Record ID": ["1", "2", "3"],
            "Deal Stage": ["Closed Won", "Closed Lost", "Appointment Scheduled"],
            "Amount": [100, 200, 300],
            "Create Date": ["2024-01-02 10:00", "2024-01-03 11:00", "2024-01-04 12:00"],
            "Close Date": ["2024-02-02 10:00", "2024-02-03 11:00", ""],
            "Deal owner": ["Ann", "Bob", "Ann"],
            header: ["Acme", "Initech", "Acme"],
        }
    ).to_csv(path, index=False)
    assert draft_mapping(path).columns.get("account") == header
