"""A lead export sorted by creation date (the usual way a CRM writes one) starts with a dozen
days whose day and month could be swapped. The draft must read past those first rows, as the
import does, and pick the day-first format that later dates ("13/01/2024") prove, rather than
drafting month first and then reporting that its own draft does not import."""

from __future__ import annotations

import pandas as pd

from forecast.data.mapping_draft import draft_mapping


def test_a_date_sorted_export_drafts_the_order_its_later_dates_prove(tmp_path):
    days = pd.date_range("2024-01-01", periods=60, freq="D").repeat(15)  # 15 leads a day
    leads = pd.DataFrame(
        {
            "Lead ID": [f"L{i}" for i in range(len(days))],
            "Created Date": days.strftime("%d/%m/%Y"),
            "Converted": [i % 3 == 0 for i in range(len(days))],
            "Visits": [i % 7 for i in range(len(days))],
        }
    )
    file = tmp_path / "leads.csv"
    leads.to_csv(file, index=False)

    draft = draft_mapping(file, "leads")

    assert 'date_format: "%d/%m/%Y"' in draft.text
    assert not any("month first or day first" in check for check in draft.checks)
