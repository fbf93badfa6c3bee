"""A drafted mapping reads every stage's probability, not only the first rows': an export
sorted by creation date holds its newest deals, those still in the first stages, past the rows
the draft samples, and the draft said of such a stage that "its deals show no probability",
listed it last and left its probability out, though every one of its deals showed one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.data.mapping_draft import SAMPLE_ROWS, draft_mapping


def _export(path: Path) -> Path:
    """Closed deals first, then the newest deals, all in 'Prospecting' at 10%, past the sample."""
    closed = SAMPLE_ROWS + 500
    stage = ["Closed Won", "Closed Lost", "Negotiation"] * (closed // 3 + 1)
    stage = stage[:closed] + ["Prospecting"] * 300
    probability = {"Closed Won": 100, "Closed Lost": 0, "Negotiation": 60, "Prospecting": 10}
    frame = pd.DataFrame(
        {
            "Opportunity ID": [f"006{i:06d}" for i in range(len(stage))],
            "Stage": stage,
            "Amount": 1000,
            "Created Date": "2024-01-02",
            "Close Date": "2024-03-01",
            "Probability (%)": [probability[s] for s in stage],
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_a_stage_only_past_the_sample_keeps_its_probability(tmp_path: Path) -> None:
    draft = draft_mapping(_export(tmp_path / "opps.csv"))
    assert "  Prospecting: 0.1" in draft.text
    assert "    - Prospecting\n    - Negotiation\n" in draft.text
    assert not any("show no probability" in check for check in draft.checks)
