"""A drafted mapping puts a CRM's stock stages in that CRM's funnel order where the export
holds no probability to order them by: a HubSpot deal export's "Decision Maker Bought-In" was
listed before "Appointment Scheduled" (it held more deals), with no word of how the list was
ordered, and an import with that draft read the funnel backwards. Where the stages are no
CRM's stock ones, the check says how they were listed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.data.mapping_draft import draft_mapping


def _export(path: Path, stages: list[str]) -> Path:
    rows = ["Closed Won", "Closed Lost"] * 5 + [stages[1]] * 6 + [stages[0]] * 2
    pd.DataFrame(
        {
            "Record ID": [str(i) for i in range(len(rows))],
            "Deal Stage": rows,
            "Amount": 100,
            "Create Date": "2024-01-02 10:22",
            "Close Date": "2024-02-02 10:22",
            "Deal owner": "Ann",
        }
    ).to_csv(path, index=False)
    return path


def test_hubspot_stock_stages_are_drafted_in_hubspots_order(tmp_path: Path) -> None:
    stages = ["Appointment Scheduled", "Decision Maker Bought-In"]
    draft = draft_mapping(_export(tmp_path / "deals.csv", stages))
    assert "    - Appointment Scheduled\n    - Decision Maker Bought-In\n" in draft.text
    assert any("hubspot" in c and "stock" in c for c in draft.checks), draft.checks


def test_other_stages_say_how_they_were_listed(tmp_path: Path) -> None:
    draft = draft_mapping(_export(tmp_path / "deals.csv", ["Intro call", "Pilot"]))
    assert "    - Pilot\n    - Intro call\n" in draft.text
    [said] = [c for c in draft.checks if c.startswith("stages.open")]
    assert "how many deals" in said and "funnel order" in said
