"""A lead export sorted by creation date-time ("01/01/2024 16:03"): every value is its own, so
the draft's first hundred distinct values are still its first week, whose days and months read
either way. The draft must read dates from across its sample and pick the day-first format the
later ones ("13/01/2024 14:16") prove, not draft month first and then report that its own draft
does not import."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.mapping_draft import draft_mapping


def test_a_date_time_sorted_export_drafts_the_order_its_later_dates_prove(tmp_path):
    rng = np.random.default_rng(5)
    start = pd.Timestamp("2024-01-01")
    minutes = np.sort(rng.integers(0, 60 * 24 * 90, 1500))  # 90 days, ~17 leads a day
    created = start + pd.to_timedelta(minutes, unit="min")
    leads = pd.DataFrame(
        {
            "Lead ID": [f"L{i}" for i in range(len(created))],
            "Created Date": created.strftime("%d/%m/%Y %H:%M"),
            "Converted": [i % 3 == 0 for i in range(len(created))],
        }
    )
    file = tmp_path / "leads.csv"
    leads.to_csv(file, index=False)

    draft = draft_mapping(file, "leads")

    assert 'date_format: "%d/%m/%Y %H:%M"' in draft.text
    assert not any("month first or day first" in check for check in draft.checks)
