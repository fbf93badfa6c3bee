"""`forecast score --kind leads --data FILE` does not die on one bad row of the file: the rest is
scored, and the summary says how many rows were left out and why, with an example."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.settings import get_settings
from tests.training.conftest import parsed
from training.cli import app

MAPPING = """kind: leads
dataset: inbound
columns:
  id: Lead Id
  converted: Converted
  created_at: Lead Created Date
"""


@pytest.fixture
def leads_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    dates = [f"2024-03-{1 + i % 28:02d} 10:00:00" for i in range(40)]
    dates[5], dates[9] = "yesterday", "2024-02-30"
    frame = pd.DataFrame(
        {
            "Lead Id": [f"L{i}" for i in range(40)],
            "Converted": [i % 2 for i in range(40)],
            "Lead Created Date": dates,
            "Channel": ["web", "event"] * 20,
        }
    )
    path, mapping = tmp_path / "leads.csv", tmp_path / "inbound.yaml"
    frame.to_csv(path, index=False)
    mapping.write_text(MAPPING)
    yield path, mapping
    get_settings.cache_clear()


def test_a_leads_file_with_unreadable_dates_is_scored_and_the_summary_says_so(leads_file, tmp_path):
    path, mapping = leads_file
    out = tmp_path / "scores.parquet"
    args = ["score", "--kind", "leads", "--data", path, "--mapping", mapping, "--out", out]
    summary = parsed(CliRunner().invoke(app, [*map(str, args), "--json"]))
    assert summary["rows"] == 38  # every readable row
    [note] = [n for n in summary["notes"] if "not scored" in n]
    assert note.startswith("2 row(s) of leads.csv not scored")
    assert "'yesterday'" in note and "Lead Created Date" in note
    assert "L5" not in set(pd.read_parquet(out)["id"])
